// The devices' settings: devices, groups and tags from a TOML tree, the
// [[devices]] tables of the config file, and the REST API's JSON bodies once
// turned into the same tree, so both go through one set of checks. Every problem
// is reported with the path of the key and, from a file, its line; a device with
// any problem is not returned. A tag's address is checked by its driver, through
// the AddressCheck the app hands in (this module knows no driver).
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/table_fields.hpp"
#include "config/table_list.hpp"
#include "drivers/device_config.hpp"

#include <toml++/toml.h>

namespace ib::drivers {

// The driver's check of a tag's address (its syntax, and that it fits the tag's
// type and access): "" when valid, otherwise why not. Each driver module has
// one (modbus::check_tag_address, sim::check_tag_address); the app picks by
// DeviceConfig::driver, as it does when it makes the driver.
using AddressCheck = std::string (*)(const DeviceConfig& device, const TagConfig& tag);

// `display` is what error paths start with: "devices[0]" in a file, "" for a
// REST body. Returns nullopt after reporting when anything is wrong.
std::optional<DeviceConfig> parse_device(const toml::table& table, const std::string& display,
                                         const config::ReportProblem& report, AddressCheck check);
std::optional<GroupConfig> parse_group(const toml::table& table, const DeviceConfig& device,
                                       const std::string& display, const config::ReportProblem& report,
                                       AddressCheck check);
std::optional<TagConfig> parse_tag(const toml::table& table, const DeviceConfig& device, const std::string& display,
                                   const config::ReportProblem& report, AddressCheck check);

// Cross-object rules over a whole device: unique group names, unique tag names in
// the device (a write names a tag by name alone). Used after edits through the API.
std::vector<std::string> check_device(const DeviceConfig& device);
// What check_device says of a tag named like one before it.
std::string tag_name_taken(std::string_view name);

// The same checks from a JSON text (a REST body): problems joined by "\n".
std::expected<DeviceConfig, std::string> device_from_json(std::string_view json, AddressCheck check);
std::expected<GroupConfig, std::string> group_from_json(std::string_view json, const DeviceConfig& device,
                                                        AddressCheck check);
std::expected<TagConfig, std::string> tag_from_json(std::string_view json, const DeviceConfig& device,
                                                    AddressCheck check);

// The device as JSON in the shape device_from_json reads (every key, defaults too).
// Secrets::Masked for API answers and the audit log: a credential that is set
// (an OPC UA password) shows as config::fields::kSecretMask. The device store
// keeps them (Secrets::Included).
using config::fields::Secrets;
std::string device_to_json(const DeviceConfig& device, Secrets secrets = Secrets::Included);
// A device sent back as the API showed it: a secret still masked keeps the
// value in force.
void keep_masked_secrets(DeviceConfig& edited, const DeviceConfig& in_force);
std::string group_to_json(const GroupConfig& group);
std::string tag_to_json(const TagConfig& tag);

// Markdown for docs/configuration.md: the keys of devices, groups and tags.
std::string render_devices_markdown();

// [[devices]] for the config loader: names unique, what passes appended to `out`.
config::TableList device_tables(std::vector<DeviceConfig>& out, AddressCheck check);

}  // namespace ib::drivers
