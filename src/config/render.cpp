#include "config/render.hpp"

#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "config/auth_loader.hpp"
#include "config/settings.hpp"
#include "core/json_writer.hpp"

namespace ib::config {
namespace {

// Sections in the order their first setting appears in the table.
std::vector<std::string_view> sections() {
    std::vector<std::string_view> out;
    for (const Setting& s : settings()) {
        if (out.empty() || out.back() != s.section()) out.push_back(s.section());
    }
    return out;
}

std::string range_text(const Setting& s) {
    switch (s.type) {
        case SettingType::Integer:
            // int64 max is TOML's own limit, not a meaningful bound to print.
            if (s.max == std::numeric_limits<int64_t>::max()) return std::to_string(s.min) + " or more";
            return std::to_string(s.min) + " to " + std::to_string(s.max);
        case SettingType::Boolean:
            return "true or false";
        case SettingType::StringArray:
            return "";
        case SettingType::String: {
            if (s.choices.empty()) return "";
            std::string out = "one of ";
            for (size_t i = 0; i < s.choices.size(); ++i) {
                out.append(i == 0 ? "" : ", ").append("`").append(s.choices[i]).append("`");
            }
            return out;
        }
    }
    return "";
}

std::string section_heading(std::string_view section) {
    if (section.empty()) return "Top level";
    if (section == kListenersKey) return "[[" + std::string(section) + "]]";
    return "[" + std::string(section) + "]";
}

}  // namespace

std::string render_reference_markdown(std::span<const TableList> lists) {
    std::string out;
    out += "# Configuration reference\n\n";
    out += "<!-- Generated from the settings table in src/config/settings.cpp by\n"
           "     render_reference_markdown(). Do not edit by hand; regenerate with\n"
           "     IB_UPDATE_GOLDEN=1 build-cfg/tests/config_test --gtest_filter='ConfigDocs.*' -->\n\n";
    out += "Ironbridge reads one TOML file (`ironbridge run --config FILE`); with no file it\n"
           "uses an embedded default: a broker on 0.0.0.0:1883, the API on port 8080, data\n"
           "in `./data`. Every key below is optional and takes its default when absent.\n"
           "Unknown keys, values of the wrong type and values out of range are errors:\n"
           "the node refuses to start and prints one line per problem, naming the file,\n"
           "the line and the key:\n\n"
           "```\n"
           "ironbridge.toml:42: broker.max_inflight: 0 is below the minimum 1\n"
           "ironbridge.toml:3: unknown key 'brokr' (did you mean 'broker'?)\n"
           "```\n\n"
           "*Reloadable* settings can be changed without a restart; the others take\n"
           "effect when the node starts.\n";
    for (std::string_view section : sections()) {
        out += "\n## " + section_heading(section) + "\n\n";
        if (section == kListenersKey) {
            out += "Each `[[broker.listeners]]` table adds one MQTT listener. Listeners given in\n"
                   "the file replace the default one; names must be unique and two listeners\n"
                   "cannot share a port on overlapping addresses (nor with the API).\n\n";
        }
        out += "| Key | Type | Default | Range | Reloadable | Description |\n";
        out += "|---|---|---|---|---|---|\n";
        for (const Setting& s : settings()) {
            if (s.section() != section) continue;
            std::string def = s.inherits.empty() ? "`" + to_toml_literal(s.default_value) + "`"
                                                 : "as `" + std::string(s.inherits) + "`";
            out += "| `" + std::string(s.name()) + "` | " + std::string(type_name(s.type)) + " | " + def +
                   " | " + range_text(s) + " | " +
                   (s.reloadable ? "yes" : "no") + " | " + std::string(s.help) + " |\n";
        }
    }
    for (const TableList& l : lists) {
        if (l.markdown != nullptr) out += l.markdown();
    }
    out += render_auth_markdown();
    return out;
}

std::string render_example_toml() {
    std::string out;
    out += "# Ironbridge example configuration: every setting, at its default value.\n"
           "# Generated from src/config/settings.cpp by render_example_toml(); do not edit.\n"
           "# Reference: docs/configuration.md\n";
    for (std::string_view section : sections()) {
        if (!section.empty()) out += "\n" + section_heading(section) + "\n";
        bool first = true;
        for (const Setting& s : settings()) {
            if (s.section() != section) continue;
            out += first && section.empty() ? "\n" : "";
            if (!first) out += "\n";
            first = false;
            out += "# " + std::string(s.help);
            if (std::string range = range_text(s); !range.empty() && s.type != SettingType::Boolean) {
                // Markdown backticks mean nothing in a TOML comment.
                std::erase(range, '`');
                out += " (" + range + ")";
            }
            // An inheriting setting stays commented out, so the file still loads to the defaults.
            out += "\n" + std::string(s.inherits.empty() ? "" : "# ") + std::string(s.name()) + " = " +
                   to_toml_literal(s.default_value) + "\n";
        }
    }
    return out;
}

namespace {

// Settings whose values are credentials: the console shows that they are set, not what they are.
bool is_secret(const Setting& s) { return s.key == "api.tokens"; }

void write_value(JsonWriter& w, const Setting& s, const SettingValue& v) {
    if (is_secret(s)) {
        const auto* list = std::get_if<std::vector<std::string>>(&v);
        w.string("(" + std::to_string(list ? list->size() : 1) + " hidden)");
        return;
    }
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                w.begin_array();
                for (const auto& item : x) w.string(item);
                w.end_array();
            } else if constexpr (std::is_same_v<T, std::string>) {
                w.string(x);
            } else if constexpr (std::is_same_v<T, bool>) {
                w.boolean(x);
            } else {
                w.number(x);
            }
        },
        v);
}

}  // namespace

std::string settings_in_force_json(const NodeConfig& config) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("settings").begin_array();
    for (const Setting& s : settings()) {
        if (s.scope != SettingScope::Node || s.get_node == nullptr) continue;
        w.begin_object().field("key", s.key).key("value");
        write_value(w, s, s.get_node(config));
        w.key("default");
        write_value(w, s, s.default_value);
        w.field("reloadable", s.reloadable).end_object();
    }
    w.end_array().key("listeners").begin_array();
    for (const auto& listener : config.broker.listeners) {
        w.begin_object();
        for (const Setting& s : settings()) {
            if (s.scope != SettingScope::Listener || s.get_listener == nullptr) continue;
            w.key(s.name());
            write_value(w, s, s.get_listener(listener));
        }
        w.end_object();
    }
    w.end_array().end_object();
    return out;
}

}  // namespace ib::config
