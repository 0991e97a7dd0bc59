// The HTTP server behind the REST API, the dashboard and /metrics, running on an
// io_context the app owns. It parses requests, enforces limits (body size, read
// timeout, concurrent connections) and hands each request to the Router; it
// knows no route's business. No Asio or Beast in this header: they stay in the .cpp.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>

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
    void route(std::string method, std::string path, Handler handler, boost::asio::io_context* run_on = nullptr);
    // Called on every GET /metrics scrape, on `run_on` (default: the server's loop).
    void add_metrics(MetricCollector collector, boost::asio::io_context* run_on = nullptr);
    // Reported by GET /api/v1/health.
    void set_version(std::string version);
    // Asked before every request but those to the open paths (GET
    // /api/v1/health and the ones added below, kept open for probes); a false
    // answer gets 401 with a WWW-Authenticate challenge. None: all open.
    void set_authorizer(std::function<bool(const HttpRequest&)> allowed);
    // A path answered without asking the authorizer: a kubelet's or a load
    // balancer's probe carries no credentials. Its route must reveal nothing.
    void add_open_path(std::string path);
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
