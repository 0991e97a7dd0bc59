// The bridge's settings: its key table, read from the [[bridges]] tables of the
// config file with their [[bridges.forwards]] and [[bridges.subscriptions]].
// Every problem is reported with the key path and line; a bridge with any
// problem is not returned. The config loader reaches it only through
// bridge_tables, which the app hands it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bridge/bridge_config.hpp"
#include "config/table_fields.hpp"
#include "config/table_list.hpp"

namespace ib::bridge {

// `display` starts the error paths: "bridges[0]".
std::optional<BridgeConfig> parse_bridge(const toml::table& table, const std::string& display,
                                         const config::ReportProblem& report);

// Markdown for docs/configuration.md: the keys of bridges, forwards and subscriptions.
std::string render_bridges_markdown();

// [[bridges]] for the config loader: names unique, what passes appended to `out`.
config::TableList bridge_tables(std::vector<BridgeConfig>& out);

}  // namespace ib::bridge
