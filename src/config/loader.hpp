// Turns a TOML document (a file, a string, or the embedded default) into a
// NodeConfig, checking every key against the settings table. It refuses rather
// than guesses: unknown keys, wrong types, out-of-range values and conflicting
// listeners are all errors. Never throws; never touches anything but the file.
#pragma once

#include <expected>
#include <span>
#include <string>
#include <string_view>

#include "config/node_config.hpp"
#include "config/table_list.hpp"

namespace ib::config {

// Errors are text for the operator, one problem per line, each starting with
// "<source>:<line>: " when the line is known, e.g.
//   ironbridge.toml:42: broker.max_inflight: 0 is below the minimum 1
// Every semantic problem in the document is reported; a TOML syntax error stops
// at the first one (the parser cannot continue past it).
// `lists` are the arrays of tables that modules read ([[devices]], [[bridges]],
// [[rules]]: device_tables, bridge_tables, rule_tables), as the app assembles
// them; a top-level key that is neither a setting nor one of them is unknown.
std::expected<NodeConfig, std::string> load_config_file(const std::string& path,
                                                        std::span<const TableList> lists = {});

// `source_name` is what error lines start with (usually the file name).
std::expected<NodeConfig, std::string> load_config_string(std::string_view toml,
                                                          std::string_view source_name,
                                                          std::span<const TableList> lists = {});

// The configuration used when `ironbridge run` is given no file: a broker on
// 0.0.0.0:1883, the API on 8080, data in ./data. Loading it yields NodeConfig{}.
std::string_view embedded_default_toml();

}  // namespace ib::config
