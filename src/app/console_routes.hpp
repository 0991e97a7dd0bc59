// REST routes the console's Logs and Settings pages read: the recent log lines
// (GET /api/v1/logs) and the node's settings in force (GET /api/v1/config),
// secrets masked. Wiring between the API, the log and the loaded config.
#pragma once

namespace ib::api {
class HttpServer;
}
namespace ib::config {
struct NodeConfig;
}

namespace ib::app {

// `config` is the configuration the node started with and must outlive the
// server. Both routes read data that is safe from any thread (the log's ring
// has its own lock; the config is not changed after start-up), so they run on
// the server's loop.
void add_console_routes(api::HttpServer& server, const config::NodeConfig& config);

}  // namespace ib::app
