// The REST routes under /api/v1/bridges: each bridge's link state, backlog and
// counters. Wiring between the API and the bridges, so neither knows the other.
#pragma once

#include <memory>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace ib::api {
class HttpServer;
}
namespace ib::bridge {
class Bridge;
}

namespace ib::app {

// Handlers run on the server's loop, which must be the bridges' loop.
void add_bridge_routes(api::HttpServer& server, const std::vector<std::unique_ptr<bridge::Bridge>>& bridges,
                       boost::asio::io_context& bridges_loop);

}  // namespace ib::app
