#include "rules/json_row.hpp"

namespace ib::rules {

std::string JsonRow::parse(std::string_view json) {
    names_.clear();
    values_.clear();
    arena_.reset();
    json_.assign(json);
    simdjson::dom::element root;
    if (auto err = parser_.parse(json_).get(root)) return std::string("the answer is not JSON: ") + simdjson::error_message(err);
    simdjson::dom::object object;
    if (root.get(object)) return "the answer is not a JSON object";
    for (auto [key, value] : object) {
        names_.emplace_back(key);
        switch (value.type()) {
            case simdjson::dom::element_type::STRING: values_.push_back(Value::string(arena_.copy(value.get_string().value()))); break;
            case simdjson::dom::element_type::INT64: values_.push_back(Value::integer(value.get_int64().value())); break;
            case simdjson::dom::element_type::UINT64:
                values_.push_back(Value::real(static_cast<double>(value.get_uint64().value())));
                break;
            case simdjson::dom::element_type::DOUBLE: values_.push_back(Value::real(value.get_double().value())); break;
            case simdjson::dom::element_type::BOOL: values_.push_back(Value::boolean(value.get_bool().value())); break;
            case simdjson::dom::element_type::NULL_VALUE: values_.push_back(Value::null()); break;
            case simdjson::dom::element_type::ARRAY:
            case simdjson::dom::element_type::OBJECT: values_.push_back(Value::json(arena_.copy(simdjson::minify(value)))); break;
        }
    }
    return {};
}

}  // namespace ib::rules
