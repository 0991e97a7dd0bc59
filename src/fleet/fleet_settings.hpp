// The [fleet] table's keys (fleet_config.hpp), declared once as config Fields:
// the loader checks them with the file's messages and docs/configuration.md
// renders from them. The config loader reaches it only through fleet_table,
// which the app hands it, like the modules' arrays of tables.
#pragma once

#include "config/table_list.hpp"
#include "fleet/fleet_config.hpp"

namespace ib::fleet {

// Markdown for docs/configuration.md.
std::string render_fleet_markdown();

// [fleet] for the config loader: a single table, read into `out`.
config::TableList fleet_table(FleetConfig& out);

// Whether `s` is a valid site or edge id: 1–64 of [A-Za-z0-9_.-].
bool valid_fleet_id(std::string_view s);

}  // namespace ib::fleet
