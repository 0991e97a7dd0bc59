// The HTTP server behind the REST API, the dashboard and /metrics, running on an
// io_context the app owns. It parses requests, enforces limits (body size, read
// timeout, concurrent connections) and hands each request to the Router; it
// knows no route's business. No Asio or Beast in this header: they stay in the .cpp.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "api/access.hpp"
#include "api/api_config.hpp"
#include "api/router.hpp"
#include "core/metrics.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::api {

class HttpSession;
template <typename Stream>
class HttpSessionOn;

class HttpServer {
public:
    // Idle keep-alive connections and slow requests are closed after this.
    static constexpr int kReadTimeoutSeconds = 30;
    // Beyond this, new connections are closed at once: each costs buffers, and a
    // client must not be able to exhaust memory by opening sockets.
    static constexpr size_t kMaxConnections = 256;

    // Threading: `io` must be run by one thread and outlive the server; start(),
    // stop() and the destructor run on that thread or while it is not running.
    // Routes and collectors are added before start().
    HttpServer(boost::asio::io_context& io, const ApiConfig& config);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds and starts accepting; returns the port actually bound (useful with
    // port 0). Errors name the address and port:
    //   "api: cannot listen on 0.0.0.0:8080: Address already in use"
    // `ApiConfig::enabled` is the caller's business; start() ignores it.
    std::expected<uint16_t, std::string> start();
    // Closes the listener and every connection. Idempotent.
    void stop();

    // See Router::add: exact path, or a prefix when `path` ends in "/*".
    // With `run_on` (the loop of the module the route serves, when it is not
    // the server's), the handler runs there on a copy of the request, and its
    // answer, deferred or not, is written from the server's loop.
    // `access`: the role the route needs and whether it changes state (then it
    // is audited); by default Access::default_for(method): GET reads (viewer),
    // anything else changes state (admin). A caller below it gets 403 before
    // the handler runs.
    void route(std::string method, std::string path, Handler handler, boost::asio::io_context* run_on = nullptr,
               std::optional<Access> access = std::nullopt);
    // Called on every GET /metrics scrape, on `run_on` (default: the server's loop).
    void add_metrics(MetricCollector collector, boost::asio::io_context* run_on = nullptr);
    // Every collector's samples, as a /metrics scrape gathers them; `done` runs
    // on the server's loop once all modules have answered. Call it there.
    void gather_metrics(std::function<void(MetricSink)> done);
    // Reported by GET /api/v1/health.
    void set_version(std::string version);
    // Asked before every request: who it acts as (HttpRequest::caller), or the
    // answer that refuses it (AccessControl::authenticate). None: every request
    // acts as an anonymous admin.
    using Authenticator = std::function<std::expected<Caller, HttpResponse>(const HttpRequest&)>;
    void set_authenticator(Authenticator authenticate);
    // Where state-changing routes' requests are recorded once answered (on the
    // server's loop). None: not recorded.
    void set_audit(AuditSink sink);
    // 0 until start() succeeds.
    uint16_t port() const;

private:
    struct Impl;
    friend class HttpSession;  // one connection; defined in the .cpp
    template <typename Stream>
    friend class HttpSessionOn;
    // Shared with the connections, whose pending handlers may outlive this object.
    std::shared_ptr<Impl> impl_;
};

}  // namespace ib::api
