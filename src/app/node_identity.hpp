// Who this node is to the upstream brokers: the `<node>` of a bridge's default
// client id (bridge::default_client_id). Nodes started from one configuration
// file must not present the same client id, or the cloud broker takes the
// connection of one to give it to the next, in a loop.
#pragma once

#include <expected>
#include <string>

#include "fleet/fleet_config.hpp"

namespace ib::app {

// With [fleet]: "<site>-<edge>", unique in a fleet by the protocol's names.
// Otherwise an id made once and kept in data_dir/node_id (read back at every
// start, so a bridge's upstream session survives restarts); an operator may
// write their own there. The error names the file.
std::expected<std::string, std::string> node_identity(const fleet::FleetConfig& fleet, const std::string& data_dir);

}  // namespace ib::app
