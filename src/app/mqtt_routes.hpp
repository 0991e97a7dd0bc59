// The REST routes under /api/v1/mqtt: a test publish into the broker (the
// console's MQTT page). Wiring between the API and the broker's Router.
#pragma once

namespace ib::api {
class HttpServer;
}
namespace ib::mqtt::broker {
class Router;
}

namespace ib::app {

// Router::publish is thread-safe, so the route runs on the server's loop.
void add_mqtt_routes(api::HttpServer& server, mqtt::broker::Router& router);

}  // namespace ib::app
