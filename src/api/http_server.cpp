#include "api/http_server.hpp"

// Boost 1.74's Asio needs <utility> before its headers (std::exchange).
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <unordered_set>

#include "api/prometheus.hpp"
#include "core/quote.hpp"

namespace ib::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// A slow or oversized header is a client problem, but it must not hold memory.
constexpr uint32_t kHeaderLimit = 16 * 1024;
// After an accept failure such as EMFILE, retrying at once would spin.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

// A request that outlives the receive buffer it was parsed from: what a route
// running on another loop is handed.
struct OwnedRequest {
    explicit OwnedRequest(const HttpRequest& r)
        : method(r.method), target(r.target), body(r.body), peer_address(r.peer_address) {
        for (const auto& [k, v] : r.headers) header_text.emplace_back(std::string(k), std::string(v));
        view.method = method;
        view.target = target;
        const auto q = view.target.find('?');
        view.path = view.target.substr(0, q);
        if (q != std::string_view::npos) view.query = view.target.substr(q + 1);
        view.body = body;
        view.peer_address = peer_address;
        for (const auto& [k, v] : header_text) view.headers.emplace_back(k, v);
        view.params = r.params;  // the names are views into the route, which outlives the request
        if (r.caller != nullptr) {
            caller = *r.caller;
            view.caller = &caller;
        }
    }
    std::string method, target, body, peer_address;
    Caller caller;
    std::vector<std::pair<std::string, std::string>> header_text;
    HttpRequest view;
};

HttpResponse call_handler(const Handler& h, const HttpRequest& r) {
    try {
        return h(r);
    } catch (const std::exception& e) {
        spdlog::error("api: {} {} failed: {}", r.method, r.path, e.what());
        return json_error(500, "internal error");
    }
}

std::string endpoint_text(const std::string& address, uint16_t port) {
    bool v6 = address.find(':') != std::string::npos;
    return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
    Impl(asio::io_context& io, const ApiConfig& config)
        : io(io), config(config), acceptor(io), retry(io), started(std::chrono::steady_clock::now()) {}

    void accept();
    void close_all();
    HttpResponse health() const;
    HttpResponse metrics();
    void gather_metrics(std::function<void(MetricSink)> done);
    void count_response(unsigned status) { ++responses[status]; }

    asio::io_context& io;
    ApiConfig config;
    tcp::acceptor acceptor;
    asio::steady_timer retry;
    std::unique_ptr<asio::ssl::context> tls;  // HTTPS when set
    Router router;
    struct Collector {
        MetricCollector collect;
        asio::io_context* loop = nullptr;  // null: the server's own
    };
    std::vector<Collector> collectors;
    HttpServer::Authenticator authenticator;
    AuditSink audit;
    std::string version = "unknown";
    std::chrono::steady_clock::time_point started;
    uint16_t port = 0;
    bool stopped = false;
    // Live connections, so stop() can close them; each removes itself when destroyed.
    std::unordered_set<HttpSession*> sessions;
    uint64_t connections_total = 0;
    uint64_t connections_rejected = 0;
    std::map<unsigned, uint64_t> responses;  // by status code
};

// What stop() needs of a connection, whatever its stream.
class HttpSession {
public:
    virtual ~HttpSession() = default;
    virtual void close() = 0;
};

// One connection over plain TCP or TLS: read a request, answer it, repeat while
// keep-alive holds. Owned by its pending handlers through shared_from_this.
template <typename Stream>
class HttpSessionOn : public HttpSession,
                      public ResponseStream,
                      public std::enable_shared_from_this<HttpSessionOn<Stream>> {
public:
    template <typename... StreamArgs>
    HttpSessionOn(std::shared_ptr<HttpServer::Impl> server, StreamArgs&&... args)
        : server_(std::move(server)), stream_(std::forward<StreamArgs>(args)...) {
        server_->sessions.insert(this);
    }
    ~HttpSessionOn() override { server_->sessions.erase(this); }

    void start() {
        if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
            read();
        } else {
            // The handshake has the same time bound as a request.
            beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(HttpServer::kReadTimeoutSeconds));
            stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
                if (ec) {
                    spdlog::debug("api: TLS handshake with {} failed: {}", self->peer(), ec.message());
                    return self->shutdown();
                }
                self->read();
            });
        }
    }
    void close() override {
        beast::error_code ec;
        socket().close(ec);
        end_stream();
    }

    // ResponseStream: the body of an open response, written in order, one
    // write at a time.
    bool send(std::string piece, size_t max_queued) override {
        if (stream_closed_ || queued_bytes_ + piece.size() > max_queued) return false;
        queued_bytes_ += piece.size();
        pending_.push_back(std::move(piece));
        if (!writing_) write_pending();
        return true;
    }
    bool closed() const override { return stream_closed_; }
    void on_close(std::function<void()> f) override { on_stream_close_ = std::move(f); }
    void when_drained(std::function<void()> f) override {
        if (stream_closed_) return;
        if (pending_.empty()) {
            asio::post(stream_.get_executor(), std::move(f));
            return;
        }
        on_drained_ = std::move(f);
    }

private:
    tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }

    void read() {
        parser_.emplace();
        parser_->body_limit(server_->config.max_body_bytes);
        parser_->header_limit(kHeaderLimit);
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(HttpServer::kReadTimeoutSeconds));
        http::async_read(stream_, buffer_, *parser_,
                         [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::body_limit) return reply_error(413, "request body too large");
        if (ec == http::error::header_limit) return reply_error(431, "request header too large");
        if (ec && ec.category() == beast::http::make_error_code(http::error::bad_method).category() &&
            ec != http::error::end_of_stream && ec != http::error::partial_message) {
            // Malformed HTTP: answer once and close, the stream is no longer in sync.
            spdlog::debug("api: bad request from {}: {}", peer(), ec.message());
            return reply_error(400, "malformed request: " + ec.message());
        }
        // Peer closed, timeout, reset, or stop(): nothing left to answer.
        if (ec) return shutdown();

        auto& req = parser_->get();
        HttpRequest request;
        request.method = sv(req.method_string());
        request.target = sv(req.target());
        auto q = request.target.find('?');
        request.path = request.target.substr(0, q);
        if (q != std::string_view::npos) request.query = request.target.substr(q + 1);
        request.body = req.body();
        beast::error_code peer_ec;
        auto remote = socket().remote_endpoint(peer_ec);
        std::string peer_address = peer_ec ? std::string() : remote.address().to_string();
        request.peer_address = peer_address;
        request.headers.reserve(16);
        for (const auto& field : req) request.headers.emplace_back(sv(field.name_string()), sv(field.value()));

        Caller caller;  // an anonymous admin unless the authenticator says otherwise
        if (server_->authenticator) {
            auto who = server_->authenticator(request);
            if (!who) return write(std::move(who.error()), !req.keep_alive());
            caller = std::move(*who);
        }
        request.caller = &caller;
        HttpResponse response = server_->router.dispatch(request);
        if (response.stream) return start_stream(std::move(response));
        if (response.deferred) {
            auto defer = std::move(response.deferred);
            defer([self = this->shared_from_this(), close_after = !req.keep_alive()](HttpResponse later) {
                self->write(std::move(later), close_after);
            });
            return;
        }
        write(std::move(response), !req.keep_alive());
    }

    void reply_error(unsigned status, std::string_view message) {
        write(json_error(status, message), true);
    }

    void write(HttpResponse r, bool close_after) {
        server_->count_response(r.status);
        response_.emplace();
        response_->version(11);
        response_->result(r.status);
        response_->set(http::field::server, "ironbridge");
        response_->set(http::field::content_type, r.content_type);
        for (auto& [name, value] : r.headers) response_->set(name, value);
        response_->body() = std::move(r.body);
        response_->keep_alive(!close_after);
        response_->prepare_payload();
        // The same timeout bounds a client that stops reading its response.
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(HttpServer::kReadTimeoutSeconds));
        http::async_write(stream_, *response_,
                          [self = this->shared_from_this(), close_after](beast::error_code ec, size_t) {
                              if (ec || close_after) return self->shutdown();
                              self->read();
                          });
    }

    // The status line and headers with no length (the body ends when the
    // connection does), then the handler's pieces as they come.
    void start_stream(HttpResponse r) {
        server_->count_response(r.status);
        std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " +
                           std::string(sv(http::obsolete_reason(http::int_to_status(r.status)))) +
                           "\r\nServer: ironbridge\r\nContent-Type: " + r.content_type + "\r\nConnection: close\r\n";
        for (const auto& [name, value] : r.headers) head += name + ": " + value + "\r\n";
        head += "\r\n";
        send(std::move(head), SIZE_MAX);
        r.stream(this->shared_from_this());
    }

    // The front piece is the one being written: it stays in place (deque
    // keeps its address while others are added) until its write completes.
    void write_pending() {
        writing_ = true;
        // A client that reads nothing for this long is gone.
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(HttpServer::kReadTimeoutSeconds));
        asio::async_write(stream_, asio::buffer(pending_.front()),
                          [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              self->writing_ = false;
                              self->queued_bytes_ -= self->pending_.front().size();
                              self->pending_.pop_front();
                              if (ec) {
                                  self->shutdown();
                                  return self->end_stream();
                              }
                              if (self->stream_closed_) return self->pending_.clear();
                              if (!self->pending_.empty()) return self->write_pending();
                              if (auto f = std::exchange(self->on_drained_, nullptr)) f();
                          });
    }

    void end_stream() {
        if (stream_closed_) return;
        stream_closed_ = true;
        // What waits behind a write in flight goes; the piece being written
        // stays until its completion handler runs.
        while (pending_.size() > (writing_ ? 1 : 0)) {
            queued_bytes_ -= pending_.back().size();
            pending_.pop_back();
        }
        on_drained_ = nullptr;  // it may hold this stream: no cycle outlives the connection
        if (auto f = std::move(on_stream_close_)) f();
    }

    void shutdown() {
        beast::error_code ec;
        socket().shutdown(tcp::socket::shutdown_send, ec);
        socket().close(ec);
    }

    std::string peer() {
        beast::error_code ec;
        auto ep = socket().remote_endpoint(ec);
        return ec ? std::string("?") : endpoint_text(ep.address().to_string(), ep.port());
    }

    std::shared_ptr<HttpServer::Impl> server_;
    Stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::optional<http::response<http::string_body>> response_;
    // An open response's pieces not yet written (the front one is being written).
    std::deque<std::string> pending_;
    size_t queued_bytes_ = 0;
    bool writing_ = false;
    bool stream_closed_ = false;
    std::function<void()> on_stream_close_;
    std::function<void()> on_drained_;
};

void HttpServer::Impl::accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (self->stopped) return;
        if (ec) {
            spdlog::warn("api: accept failed: {}", ec.message());
            self->retry.expires_after(kAcceptRetry);
            self->retry.async_wait([self](beast::error_code wait_ec) {
                if (!wait_ec && !self->stopped) self->accept();
            });
            return;
        }
        ++self->connections_total;
        if (self->sessions.size() >= kMaxConnections) {
            ++self->connections_rejected;
            beast::error_code ignored;
            socket.close(ignored);
        } else {
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            if (self->tls) {
                std::make_shared<HttpSessionOn<beast::ssl_stream<beast::tcp_stream>>>(self, std::move(socket), *self->tls)
                    ->start();
            } else {
                std::make_shared<HttpSessionOn<beast::tcp_stream>>(self, std::move(socket))->start();
            }
        }
        self->accept();
    });
}

void HttpServer::Impl::close_all() {
    stopped = true;
    beast::error_code ec;
    acceptor.close(ec);
    retry.cancel();
    // close() only cancels pending operations; sessions leave the set as their
    // handlers finish, so iterate over a copy.
    auto live = sessions;
    for (HttpSession* s : live) s->close();
}

HttpResponse HttpServer::Impl::health() const {
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
    HttpResponse r;
    r.body = "{\"status\":\"ok\",\"version\":" + quoted(version) +
             ",\"uptime_seconds\":" + std::to_string(uptime.count()) + "}";
    return r;
}

void HttpServer::Impl::gather_metrics(std::function<void(MetricSink)> done) {
    MetricSink sink;
    collect_process_metrics(sink);
    sink.push_back({"ib_api_connections", "Open HTTP API connections.", MetricType::Gauge, "",
                    static_cast<double>(sessions.size())});
    sink.push_back({"ib_api_connections_total", "HTTP API connections accepted.", MetricType::Counter, "",
                    static_cast<double>(connections_total)});
    sink.push_back({"ib_api_connections_rejected_total",
                    "HTTP API connections closed at once because the connection limit was reached.",
                    MetricType::Counter, "", static_cast<double>(connections_rejected)});
    for (const auto& [status, n] : responses) {
        sink.push_back({"ib_api_responses_total", "HTTP API responses sent, by status code.",
                        MetricType::Counter, prometheus_label("code", std::to_string(status)),
                        static_cast<double>(n)});
    }
    // Each module's collector runs on its module's loop, where its state lives;
    // the parts come back here and are joined in the order they were added.
    struct Gather {
        MetricSink head;
        std::vector<MetricSink> parts;
        std::size_t remaining = 0;
        std::function<void(MetricSink)> done;
        void finish() {
            for (auto& p : parts) head.insert(head.end(), std::make_move_iterator(p.begin()), std::make_move_iterator(p.end()));
            done(std::move(head));
        }
    };
    auto g = std::make_shared<Gather>();
    g->head = std::move(sink);
    g->parts.resize(collectors.size());
    g->done = std::move(done);
    g->remaining = collectors.size() + 1;
    auto self = shared_from_this();
    for (std::size_t i = 0; i < collectors.size(); ++i) {
        const Collector& c = collectors[i];
        if (c.loop == nullptr || c.loop == &io) {
            c.collect(g->parts[i]);
            --g->remaining;
            continue;
        }
        asio::post(*c.loop, [self, g, i] {
            self->collectors[i].collect(g->parts[i]);
            asio::post(self->io, [g] {
                if (--g->remaining == 0) g->finish();
            });
        });
    }
    if (--g->remaining == 0) g->finish();
}

HttpResponse HttpServer::Impl::metrics() {
    HttpResponse r;
    r.deferred = [self = shared_from_this()](std::function<void(HttpResponse)> reply) {
        self->gather_metrics([reply = std::move(reply)](MetricSink samples) {
            HttpResponse out;
            out.content_type = std::string(kPrometheusContentType);
            out.body = format_prometheus(samples);
            reply(std::move(out));
        });
    };
    return r;
}

HttpServer::HttpServer(asio::io_context& io, const ApiConfig& config)
    : impl_(std::make_shared<Impl>(io, config)) {
    // Routes hold a raw pointer: the Impl owns the router, so it outlives them.
    Impl* impl = impl_.get();
    route("GET", "/api/v1/health", [impl](const HttpRequest&) { return impl->health(); });
    route("GET", "/metrics", [impl](const HttpRequest&) { return impl->metrics(); });
}

HttpServer::~HttpServer() { stop(); }

std::expected<uint16_t, std::string> HttpServer::start() {
    const std::string where = endpoint_text(impl_->config.bind_address, impl_->config.port);
    if (impl_->acceptor.is_open()) return std::unexpected("api: already listening on " + where);
    if (!impl_->config.tls_cert.empty()) {
        auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
        ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
        beast::error_code tls_ec;
        ctx->use_certificate_chain_file(impl_->config.tls_cert, tls_ec);
        if (tls_ec) return std::unexpected("api: tls_cert '" + impl_->config.tls_cert + "': " + tls_ec.message());
        ctx->use_private_key_file(impl_->config.tls_key, asio::ssl::context::pem, tls_ec);
        if (tls_ec) return std::unexpected("api: tls_key '" + impl_->config.tls_key + "': " + tls_ec.message());
        if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
            return std::unexpected("api: tls_key '" + impl_->config.tls_key + "' does not match tls_cert '" +
                                   impl_->config.tls_cert + "'");
        }
        impl_->tls = std::move(ctx);
    }
    beast::error_code ec;
    auto address = asio::ip::make_address(impl_->config.bind_address, ec);
    if (ec) return std::unexpected("api: invalid bind address '" + impl_->config.bind_address + "'");
    tcp::endpoint endpoint(address, impl_->config.port);
    auto& a = impl_->acceptor;
    a.open(endpoint.protocol(), ec);
    // Lets a restarted node bind while old connections sit in TIME_WAIT; it does
    // not allow two live listeners on one port on Linux.
    if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a.bind(endpoint, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        beast::error_code ignored;
        a.close(ignored);
        return std::unexpected("api: cannot listen on " + where + ": " + ec.message());
    }
    impl_->port = a.local_endpoint(ec).port();
    impl_->stopped = false;
    impl_->accept();
    return impl_->port;
}

void HttpServer::stop() { impl_->close_all(); }

void HttpServer::route(std::string method, std::string path, Handler handler, asio::io_context* run_on,
                       std::optional<Access> access) {
    const Access needs = access.value_or(Access::default_for(method));
    if (run_on == nullptr || run_on == &impl_->io) {
        impl_->router.add(std::move(method), std::move(path), guard_route(needs, std::move(handler), &impl_->audit));
        return;
    }
    // The handler runs on its module's loop with a copy of the request; its
    // answer (deferred or not) comes back to this loop to be written.
    auto shared = std::make_shared<Handler>(std::move(handler));
    Handler hop = [run_on, &api = impl_->io, shared](const HttpRequest& req) {
        auto owned = std::make_shared<OwnedRequest>(req);
        HttpResponse r;
        r.deferred = [run_on, &api, shared, owned](std::function<void(HttpResponse)> reply) {
            asio::post(*run_on, [&api, shared, owned, reply = std::move(reply)] {
                auto back = [&api, reply](HttpResponse out) {
                    asio::post(api, [reply, out = std::move(out)]() mutable { reply(std::move(out)); });
                };
                HttpResponse out = call_handler(*shared, owned->view);
                if (out.deferred) {
                    auto later = std::move(out.deferred);
                    later(std::move(back));
                } else {
                    back(std::move(out));
                }
            });
        };
        return r;
    };
    impl_->router.add(std::move(method), std::move(path), guard_route(needs, std::move(hop), &impl_->audit));
}

void HttpServer::add_metrics(MetricCollector collector, asio::io_context* run_on) {
    impl_->collectors.push_back(Impl::Collector{std::move(collector), run_on});
}

void HttpServer::gather_metrics(std::function<void(MetricSink)> done) { impl_->gather_metrics(std::move(done)); }

void HttpServer::set_version(std::string version) { impl_->version = std::move(version); }

void HttpServer::set_authenticator(Authenticator authenticate) { impl_->authenticator = std::move(authenticate); }

void HttpServer::set_audit(AuditSink sink) { impl_->audit = std::move(sink); }

uint16_t HttpServer::port() const { return impl_->port; }

}  // namespace ib::api
