// The OPC UA driver: a device's groups and tags on one ClientLink, on the
// device's event loop. Subscribe groups get one subscription each (the group
// interval as sampling and publishing interval) whose notifications are pushed
// to the device layer as they arrive; poll groups are read in batches no larger
// than the server's MaxNodesPerRead. Writes convert to the node's DataType (read
// once and cached). A lost link is reconnected with back-off, the session and
// its subscriptions made anew, `nsu=` addresses resolved again.
#pragma once

#include <memory>
#include <string>

#include "drivers/driver.hpp"

namespace ib::drivers::opcua {

// `pki_dir` is where the client keeps its certificates (data_dir/pki).
std::unique_ptr<Driver> make_opcua_driver(boost::asio::io_context& io, const DeviceConfig& config,
                                          DriverEvents& events, std::string pki_dir);

// A tag's address is a NodeId in the standard string form (node_id.hpp).
std::string check_tag_address(const DeviceConfig& device, const TagConfig& tag);

}  // namespace ib::drivers::opcua
