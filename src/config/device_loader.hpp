// Devices, groups and tags from a TOML tree: the [[devices]] tables of the config
// file, and the REST API's JSON bodies once turned into the same tree, so both go
// through one set of checks. Every problem is reported with the path of the key
// and, from a file, its line; a device with any problem is not returned.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/table_fields.hpp"
#include "drivers/device_config.hpp"

#include <toml++/toml.h>

namespace ib::config {

// `display` is what error paths start with: "devices[0]" in a file, "" for a
// REST body. Returns nullopt after reporting when anything is wrong.
std::optional<drivers::DeviceConfig> parse_device(const toml::table& table, const std::string& display,
                                                  const ReportProblem& report);
std::optional<drivers::GroupConfig> parse_group(const toml::table& table, const drivers::DeviceConfig& device,
                                                const std::string& display, const ReportProblem& report);
std::optional<drivers::TagConfig> parse_tag(const toml::table& table, const drivers::DeviceConfig& device,
                                            const std::string& display, const ReportProblem& report);

// Cross-object rules over a whole device: unique group names, unique tag names in
// the device (a write names a tag by name alone). Used after edits through the API.
std::vector<std::string> check_device(const drivers::DeviceConfig& device);

// The same checks from a JSON text (a REST body): problems joined by "\n".
std::expected<drivers::DeviceConfig, std::string> device_from_json(std::string_view json);
std::expected<drivers::GroupConfig, std::string> group_from_json(std::string_view json,
                                                                 const drivers::DeviceConfig& device);
std::expected<drivers::TagConfig, std::string> tag_from_json(std::string_view json,
                                                             const drivers::DeviceConfig& device);

// The device as JSON in the shape device_from_json reads (every key, defaults too).
std::string device_to_json(const drivers::DeviceConfig& device);
std::string group_to_json(const drivers::GroupConfig& group);
std::string tag_to_json(const drivers::TagConfig& tag);

// Markdown for docs/configuration.md: the keys of devices, groups and tags.
std::string render_devices_markdown();

}  // namespace ib::config
