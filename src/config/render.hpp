// Documents derived from the settings table: the configuration reference
// (docs/configuration.md) and the example file (config/ironbridge.example.toml).
// A unit test keeps the checked-in copies equal to what these functions render.
#pragma once

#include <span>
#include <string>

#include "config/node_config.hpp"
#include "config/table_list.hpp"

namespace ib::config {

// `lists`: the modules' arrays of tables, documented after the node's settings in their order.
std::string render_reference_markdown(std::span<const TableList> lists = {});
// Every setting with its default, so loading it gives NodeConfig{}.
std::string render_example_toml();
// The node's settings in force, for the console's Settings page:
// {"settings":[{"key","value","default","reloadable"}],"listeners":[{"name":...,"port":...}]}.
// Secrets (API tokens) are never written: their value is "(N hidden)".
std::string settings_in_force_json(const NodeConfig& config);

}  // namespace ib::config
