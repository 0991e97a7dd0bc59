// The building blocks of the TOML checks that tables of many kinds share (devices,
// groups, tags, bridges, ...): a key declared once as a Field with its type, range,
// default and help; applying a table's keys to a struct with errors that name the
// key path and line; and the documentation table derived from the same fields.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "core/suggest.hpp"
#include "core/quote.hpp"

namespace ib::config {

// (line or 0, "devices[0].groups[1].tags[3].address: ...")
using ReportProblem = std::function<void(uint32_t line, std::string text)>;

namespace fields {

enum class Kind : uint8_t { String, Integer, Float, Boolean, StringArray };

// One key of a device, group or tag table: its type, range, default, help, and
// where it lands. Declared once; the parser, the JSON writer and the docs follow.
template <typename T>
struct Field {
    std::string_view name;
    Kind kind;
    std::string_view default_text;
    std::string_view help;
    int64_t min = 0;
    int64_t max = 0;
    // Stores an already type- and range-checked value; returns "" or what is wrong.
    std::string (*store)(T&, const toml::node&) = nullptr;
    // The current value as JSON, for device_to_json.
    std::string (*json)(const T&) = nullptr;
    bool required = false;
    // A credential: the API shows kSecretMask in its place, never the value.
    bool secret = false;
};

// What an API answer shows for a secret that is set; sent back unchanged (an
// edit form's round trip), it means "keep the value in force".
inline constexpr std::string_view kSecretMask = "********";

// How configuration is written out: Included for the stores that keep it,
// Masked (kSecretMask for each credential that is set) for API answers and the
// audit log.
enum class Secrets : uint8_t { Included, Masked };

inline std::string_view kind_name(Kind k) {
    switch (k) {
        case Kind::String: return "string";
        case Kind::Integer: return "integer";
        case Kind::Float: return "float";
        case Kind::Boolean: return "boolean";
        case Kind::StringArray: return "array of strings";
    }
    return "?";
}

inline std::string_view describe(toml::node_type t) {
    switch (t) {
        case toml::node_type::none: return "nothing";
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a float";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
    }
    return "an unknown value";
}

inline std::string describe(const toml::node& n) { return std::string(describe(n.type())); }

inline std::string str(const toml::node& n) { return n.as_string()->get(); }
inline int64_t integer(const toml::node& n) { return n.as_integer()->get(); }
inline double number(const toml::node& n) {
    if (const auto* i = n.as_integer()) return static_cast<double>(i->get());
    return n.as_floating_point()->get();
}

inline std::string json_number(double v) {
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
        return std::to_string(static_cast<int64_t>(v)) + ".0";
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

inline bool valid_name(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

inline std::string store_name(std::string& field, const toml::node& n) {
    std::string s = str(n);
    if (!valid_name(s)) {
        return ib::quoted(s) + " is not a valid name: use 1 to 64 letters, digits, '_' or '-' (it becomes a topic level)";
    }
    field = std::move(s);
    return {};
}

// A certificate, key or other file that cannot be read is a config error now,
// not a failure at every connection later. Empty is allowed (not set).
inline std::string store_readable_file(std::string& field, const toml::node& n) {
    field = str(n);
    if (field.empty()) return {};
    std::ifstream f(field);
    if (!f) return "cannot read " + ib::quoted(field) + ": " + std::strerror(errno);
    return {};
}

inline std::string join(const std::string& display, std::string_view key) {
    return display.empty() ? std::string(key) : display + "." + std::string(key);
}

inline uint32_t line_of(const toml::node& n) { return n.source().begin.line; }

inline bool is_string_array(const toml::node& n) {
    const toml::array* a = n.as_array();
    return a != nullptr && std::all_of(a->begin(), a->end(), [](const toml::node& e) { return e.is_string(); });
}

// Applies the fields of `table` to `target`; `nested` names the keys holding
// child tables (groups, tags), handled by the caller. Returns false on a problem.
template <typename T>
bool apply_fields(const toml::table& table, const std::vector<Field<T>>& fields, std::initializer_list<std::string_view> nested,
                  T& target, const std::string& display, uint32_t table_line, const ReportProblem& report) {
    bool ok = true;
    for (auto&& [k, v] : table) {
        std::string_view name = k.str();
        std::string path = join(display, name);
        uint32_t line = k.source().begin.line ? k.source().begin.line : line_of(v);
        if (std::find(nested.begin(), nested.end(), name) != nested.end()) continue;
        auto it = std::find_if(fields.begin(), fields.end(), [&](const Field<T>& f) { return f.name == name; });
        if (it == fields.end()) {
            std::string text = "unknown key '" + path + "'";
            std::vector<std::string_view> names;
            for (const auto& f : fields) names.push_back(f.name);
            names.insert(names.end(), nested.begin(), nested.end());
            std::string_view best = suggest(name, names);
            if (!best.empty()) text += " (did you mean '" + join(display, best) + "'?)";
            report(line, std::move(text));
            ok = false;
            continue;
        }
        const Field<T>& f = *it;
        bool type_ok = (f.kind == Kind::String && v.is_string()) || (f.kind == Kind::Integer && v.is_integer()) ||
                       (f.kind == Kind::Boolean && v.is_boolean()) ||
                       (f.kind == Kind::Float && (v.is_floating_point() || v.is_integer())) ||
                       (f.kind == Kind::StringArray && is_string_array(v));
        if (!type_ok) {
            report(line, path + ": expected " + (f.kind == Kind::Integer || f.kind == Kind::StringArray ? "an " : "a ") +
                             std::string(kind_name(f.kind)) + ", got " + describe(v));
            ok = false;
            continue;
        }
        if (f.kind == Kind::Integer) {
            int64_t x = integer(v);
            if (x < f.min || x > f.max) {
                report(line, path + ": " + std::to_string(x) + " is " +
                                 (x < f.min ? "below the minimum " + std::to_string(f.min)
                                            : "above the maximum " + std::to_string(f.max)));
                ok = false;
                continue;
            }
        }
        if (std::string why = f.store(target, v); !why.empty()) {
            report(line, path + ": " + why);
            ok = false;
        }
    }
    for (const auto& f : fields) {
        if (f.required && !table.contains(f.name)) {
            report(table_line, join(display, f.name) + ": is required");
            ok = false;
        }
    }
    return ok;
}

inline const toml::table* as_table(const toml::node& n, const std::string& path, const ReportProblem& report) {
    const toml::table* t = n.as_table();
    if (t == nullptr) report(line_of(n), path + ": expected a table, got " + describe(n));
    return t;
}

inline const toml::array* child_array(const toml::table& t, std::string_view key, const std::string& display,
                               const ReportProblem& report) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return nullptr;
    const toml::array* a = n->as_array();
    if (a == nullptr) report(line_of(*n), join(display, key) + ": expected an array of tables, got " + describe(*n));
    return a;
}


// Markdown rows for docs/configuration.md: one per field.
template <typename T>
std::string render_markdown(const std::vector<Field<T>>& fields) {
    std::string out = "| Key | Type | Default | Description |\n|---|---|---|---|\n";
    for (const auto& f : fields) {
        out += "| `" + std::string(f.name) + "` | " + std::string(kind_name(f.kind)) + " | " +
               (f.required ? std::string("required") : "`" + std::string(f.default_text) + "`") + " | " +
               std::string(f.help) + " |\n";
    }
    return out;
}

}  // namespace fields
}  // namespace ib::config
