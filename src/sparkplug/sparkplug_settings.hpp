// The [sparkplug] table of the node's file: its keys declared once (checks,
// errors naming file, line and key, docs/configuration.md). The app hands the
// loader `sparkplug_tables`; the module reads no file itself.
#pragma once

#include <string>

#include "config/table_list.hpp"
#include "sparkplug/sparkplug_config.hpp"

namespace ib::sparkplug {

// Markdown for docs/configuration.md.
std::string render_sparkplug_markdown();

// [sparkplug] for the config loader: what passes lands in `out`.
config::TableList sparkplug_tables(SparkplugConfig& out);

}  // namespace ib::sparkplug
