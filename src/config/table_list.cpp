#include "config/table_list.hpp"

namespace ib::config {

void for_each_table(const toml::node& value, const std::string& display_key, const ReportProblem& report,
                    const std::function<void(const toml::table&, const std::string&, const toml::node&)>& each) {
    const toml::array* arr = value.as_array();
    if (arr == nullptr) {
        report(fields::line_of(value), display_key + ": expected an array of tables ([[" + display_key + "]]), got " +
                                           std::string(fields::describe(value.type())));
        return;
    }
    for (size_t i = 0; i < arr->size(); ++i) {
        const toml::node& element = *arr->get(i);
        std::string element_key = display_key + "[" + std::to_string(i) + "]";
        const toml::table* t = element.as_table();
        if (t == nullptr) {
            report(fields::line_of(element),
                   element_key + ": expected a table, got " + std::string(fields::describe(element.type())));
            continue;
        }
        each(*t, element_key, element);
    }
}

}  // namespace ib::config
