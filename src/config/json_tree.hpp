// A REST body's JSON turned into the TOML tree the config checks read, so an
// object made through the API passes the same checks, with the same messages, as
// one from the file (devices, rules).
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include <toml++/toml.h>

namespace ib::config {

// The body must be a JSON object; null values are refused (leave the key out).
// Numbers keep their kind: 5 is an integer, 5.0 a float, as in TOML.
std::expected<toml::table, std::string> json_object(std::string_view json);

}  // namespace ib::config
