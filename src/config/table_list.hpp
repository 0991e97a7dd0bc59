// An array of tables that a module reads from the node's file ([[bridges]],
// [[rules]], ...): the module declares its keys and keeps what passes; the
// loader, which knows no such module, hands it the array where the file has it.
// The app assembles the lists, so config depends on none of the modules that
// read one (they link config instead).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/table_fields.hpp"

namespace ib::config {

struct TableList {
    // The top-level key: "bridges" for [[bridges]].
    std::string_view key;
    // Reads the whole array found at `display_key`, reporting every problem.
    std::function<void(const toml::node& value, const std::string& display_key, const ReportProblem& report)> read;
    // Its part of docs/configuration.md, after the node's settings.
    std::string (*markdown)() = nullptr;
};

// Calls `each(table, element_key, element)` for every table of an array of
// tables ([[devices]], [[acl]], ...); what is not one is reported.
void for_each_table(const toml::node& value, const std::string& display_key, const ReportProblem& report,
                    const std::function<void(const toml::table&, const std::string&, const toml::node&)>& each);

template <typename T>
using ParseTable = std::function<std::optional<T>(const toml::table& table, const std::string& display,
                                                  const ReportProblem& report)>;

// An array of tables each naming one object: each is checked by `parse`, and
// names (`name_key`: "name", or "id" for rules) must be unique. What passes is
// appended to `out`, which must outlive the load.
template <typename T>
TableList named_tables(std::string_view key, std::string_view what, std::string_view name_key, ParseTable<T> parse,
                       const std::string& (*name_of)(const T&), std::string (*markdown)(), std::vector<T>& out) {
    auto read = [what, name_key, parse, name_of, &out](const toml::node& value, const std::string& display_key,
                                                       const ReportProblem& report) {
        for_each_table(value, display_key, report,
                       [&](const toml::table& t, const std::string& element_key, const toml::node& element) {
                           auto parsed = parse(t, element_key, report);
                           if (!parsed) return;
                           for (const T& other : out) {
                               if (name_of(other) != name_of(*parsed)) continue;
                               const toml::node* n = t.get(name_key);
                               report(n ? fields::line_of(*n) : fields::line_of(element),
                                      element_key + "." + std::string(name_key) + ": \"" + name_of(*parsed) +
                                          "\" is already the " + std::string(name_key) + " of another " +
                                          std::string(what));
                           }
                           out.push_back(std::move(*parsed));
                       });
    };
    return {key, std::move(read), markdown};
}

}  // namespace ib::config
