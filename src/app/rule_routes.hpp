// The REST routes under /api/v1/rules: list, create, change, delete, start and
// stop rules, and try one against sample messages before deploying it. Wiring
// between the API and the rule engine, so neither module knows the other.
#pragma once

namespace boost::asio {
class io_context;
}

namespace ib::api {
class HttpServer;
}
namespace ib::rules {
class RuleEngine;
}

namespace ib::app {

// Handlers run on the server's loop, which must be the rule engine's loop.
void add_rule_routes(api::HttpServer& server, rules::RuleEngine& engine, boost::asio::io_context& rules_loop);

}  // namespace ib::app
