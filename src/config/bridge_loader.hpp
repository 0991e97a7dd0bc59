// Bridges to upstream brokers from the [[bridges]] tables of the config file, with
// their [[bridges.forwards]] and [[bridges.subscriptions]]. Every problem is
// reported with the key path and line; a bridge with any problem is not returned.
#pragma once

#include <optional>
#include <string>

#include "bridge/bridge_config.hpp"
#include "config/table_fields.hpp"

namespace ib::config {

// `display` starts the error paths: "bridges[0]".
std::optional<bridge::BridgeConfig> parse_bridge(const toml::table& table, const std::string& display,
                                                 const ReportProblem& report);

// Markdown for docs/configuration.md: the keys of bridges, forwards and subscriptions.
std::string render_bridges_markdown();

}  // namespace ib::config
