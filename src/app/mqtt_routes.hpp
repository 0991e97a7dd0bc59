// The REST routes under /api/v1/mqtt: the network clients' sessions with their
// queues and subscriptions, and a test publish into the broker (the console's
// MQTT page). Wiring between the API and the broker.
#pragma once

namespace ib::api {
class HttpServer;
}
namespace ib::mqtt::broker {
class Broker;
}
namespace boost::asio {
class io_context;
}

namespace ib::app {

// `api_loop` is the server's loop. Router::publish is thread-safe, so the
// publish runs there; the client list is gathered on the broker's loops.
void add_mqtt_routes(api::HttpServer& server, mqtt::broker::Broker& broker, boost::asio::io_context& api_loop);

}  // namespace ib::app
