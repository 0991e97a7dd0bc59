// The audit log between the API and the store: every state-changing request
// the API answers goes into store::AuditLog, and GET /api/v1/audit (admin)
// reads it back, newest first. Wiring only, so neither module knows the other.
#pragma once

namespace boost::asio {
class io_context;
}

namespace ib::api {
class HttpServer;
}
namespace ib::store {
class AuditLog;
}

namespace ib::app {

// `api_loop` is the server's loop: queries run on the log's writer thread and
// their answers are written from there.
void add_audit_routes(api::HttpServer& server, store::AuditLog& log, boost::asio::io_context& api_loop);

}  // namespace ib::app
