// The REST route GET /api/v1/history: the query string checked (a bad parameter
// gets 400 naming it), handed to the local history, and the points written as
// JSON. Wiring between the API and the store, so neither module knows the other.
#pragma once

namespace boost::asio {
class io_context;
}

namespace ib::api {
class HttpServer;
}
namespace ib::store {
class History;
}

namespace ib::app {

// Handlers run on the server's loop, which must be the history's loop.
void add_history_routes(api::HttpServer& server, store::History& history, boost::asio::io_context& history_loop);

}  // namespace ib::app
