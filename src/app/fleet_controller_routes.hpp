// The controller's REST API ([fleet_controller], docs/fleet-controller.md):
// /api/v1/fleet/edges, push, dry-run, rollback and pushes/{id}, served from a
// fleet_ctl::FleetService. The routes run on the API's loop and only read or
// queue (orders are filled, and the broker talked to, on the service's threads); reads need a viewer,
// the orders an admin and are audited. main calls these two functions.
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "fleet_ctl/controller_settings.hpp"
#include "fleet_ctl/fleet_service.hpp"

namespace boost::asio {
class io_context;
}
namespace ib::api {
class HttpServer;
}

namespace ib::app {

// Null without an active [fleet_controller]; else started (it connects in the
// background), its orders kept in data_dir/fleet-pushes.db.
std::expected<std::unique_ptr<fleet_ctl::FleetService>, std::string> start_fleet_controller(
    const fleet_ctl::ControllerConfig& config, const std::string& data_dir);
// The orders are filled on a thread of the service's; their answers are
// written from `api_loop`, the server's.
void add_fleet_controller_routes(api::HttpServer& server, fleet_ctl::FleetService& service,
                                 boost::asio::io_context& api_loop);

}  // namespace ib::app
