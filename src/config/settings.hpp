// The settings table: every configuration key of a node is declared once here,
// with its type, default, range, reloadability, help and where it lands in
// NodeConfig. The loader, the reference docs and the example config are derived
// from this table. Only the loader's cross-field rules name keys elsewhere.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/node_config.hpp"

namespace ib::config {

enum class SettingType : uint8_t { Integer, Boolean, String, StringArray };

// Node: one key of the file. Listener: a key of each [[broker.listeners]] table.
enum class SettingScope : uint8_t { Node, Listener };

using SettingValue = std::variant<int64_t, bool, std::string, std::vector<std::string>>;

// The array of tables holding per-listener settings.
inline constexpr std::string_view kListenersKey = "broker.listeners";

struct Setting {
    // Full dotted TOML path. Listener settings are spelled "broker.listeners.port".
    std::string_view key;
    SettingType type = SettingType::Integer;
    SettingScope scope = SettingScope::Node;
    SettingValue default_value;
    // Inclusive range; Integer only.
    int64_t min = 0;
    int64_t max = 0;
    // String only: the accepted values; empty means any string passing `check`.
    std::vector<std::string_view> choices;
    // Whether a changed value can be applied without a restart.
    bool reloadable = false;
    std::string_view help;
    // A setting that, when absent, takes another one's value ("broker.allow_anonymous"):
    // documented as such, and left out of the example file.
    std::string_view inherits;
    // Extra validation of a value that has the right type and range: returns an
    // empty string when valid, otherwise what is wrong (e.g. not an IP address).
    std::string (*check)(const SettingValue&) = nullptr;
    // Where the value lives; the pair matching `scope` is set, the other is null.
    void (*set_node)(NodeConfig&, const SettingValue&) = nullptr;
    SettingValue (*get_node)(const NodeConfig&) = nullptr;
    void (*set_listener)(mqtt::broker::ListenerConfig&, const SettingValue&) = nullptr;
    SettingValue (*get_listener)(const mqtt::broker::ListenerConfig&) = nullptr;

    // Last path segment: "port" for "broker.listeners.port".
    std::string_view name() const;
    // Everything before the last segment: "" for top-level keys.
    std::string_view section() const;
};

// The table, in the order documents present it.
std::span<const Setting> settings();

// The setting with this full key, or null.
const Setting* find_setting(std::string_view key);

// "integer", "boolean", "string", "array of strings".
std::string_view type_name(SettingType type);

// A value written as TOML: 64, true, "info" (quoted and escaped).
std::string to_toml_literal(const SettingValue& value);

}  // namespace ib::config
