#include "config/json_tree.hpp"

#include <simdjson.h>

namespace ib::config {
namespace {


// JSON (a REST body) into the TOML tree the checks above read. Numbers keep their
// kind: 5 is an integer, 5.0 a float, as in TOML. Two fixed overloads recurse (a
// template recursing on its own lambdas would instantiate without end).
bool add(toml::table& t, std::string_view key, simdjson::dom::element e);
bool add(toml::array& a, simdjson::dom::element e);

template <typename Put>
bool put_value(simdjson::dom::element e, Put&& put) {
    using simdjson::dom::element_type;
    switch (e.type()) {
        case element_type::OBJECT: {
            toml::table t;
            for (auto [k, v] : e.get_object()) {
                if (!add(t, k, v)) return false;
            }
            put(std::move(t));
            return true;
        }
        case element_type::ARRAY: {
            toml::array a;
            for (auto v : e.get_array()) {
                if (!add(a, v)) return false;
            }
            put(std::move(a));
            return true;
        }
        case element_type::STRING: put(std::string(e.get_string().value())); return true;
        case element_type::INT64: put(e.get_int64().value()); return true;
        case element_type::UINT64: put(static_cast<double>(e.get_uint64().value())); return true;
        case element_type::DOUBLE: put(e.get_double().value()); return true;
        case element_type::BOOL: put(e.get_bool().value()); return true;
        case element_type::NULL_VALUE: return false;
    }
    return false;
}

bool add(toml::table& t, std::string_view key, simdjson::dom::element e) {
    return put_value(e, [&](auto&& node) { t.insert_or_assign(std::string(key), std::forward<decltype(node)>(node)); });
}

bool add(toml::array& a, simdjson::dom::element e) {
    return put_value(e, [&](auto&& node) { a.push_back(std::forward<decltype(node)>(node)); });
}

}  // namespace

std::expected<toml::table, std::string> json_object(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element root;
    if (auto err = parser.parse(padded).get(root); err) {
        return std::unexpected(std::string("the body is not valid JSON: ") + simdjson::error_message(err));
    }
    if (!root.is_object()) return std::unexpected(std::string("the body must be a JSON object"));
    toml::table out;
    bool ok = true;
    for (auto [k, v] : root.get_object()) ok = ok && add(out, k, v);
    if (!ok) return std::unexpected(std::string("null is not a valid value; leave the key out for its default"));
    return out;
}


}  // namespace ib::config
