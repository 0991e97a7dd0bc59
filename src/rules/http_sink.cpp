#include "rules/http_sink.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <optional>
#include <vector>

#include "net/tls_client.hpp"
#include "rules/keyed_queue.hpp"

namespace ib::rules {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::expected<HttpTarget, std::string> parse_http_url(std::string_view url) {
    HttpTarget t;
    if (url.starts_with("https://")) {
        t.tls = true;
        t.port = 443;
        url.remove_prefix(8);
    } else if (url.starts_with("http://")) {
        url.remove_prefix(7);
    } else {
        return std::unexpected("the url must start with http:// or https://");
    }
    std::size_t slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    if (slash != std::string_view::npos) t.path = std::string(url.substr(slash));
    std::string_view port;
    bool has_port = false;
    if (authority.starts_with('[')) {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return std::unexpected("an IPv6 host is written [addr]:port");
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') return std::unexpected("expected ':' after ']'");
            port = authority.substr(close + 2);
            has_port = true;
        }
        authority = authority.substr(1, close - 1);
    } else if (std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
        port = authority.substr(colon + 1);
        authority = authority.substr(0, colon);
        has_port = true;
    }
    if (has_port) {
        unsigned p = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc{} || end != port.data() + port.size() || p == 0 || p > 65535) {
            return std::unexpected("the port must be a number from 1 to 65535");
        }
        t.port = static_cast<uint16_t>(p);
    }
    if (authority.empty()) return std::unexpected("the url has no host");
    t.host = std::string(authority);
    return t;
}

namespace {

// One kept-alive connection and the row it is sending.
struct Connection {
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
    asio::steady_timer backoff;
    bool connected = false;
    bool busy = false;
    std::string key;   // the row's, finished in the queue when it is done
    std::string body;
    uint32_t attempt = 0;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;

    explicit Connection(asio::io_context& io) : backoff(io) {}

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

    template <class F>
    void with_stream(F&& f) {
        if (tls) {
            f(*tls);
        } else {
            f(*plain);
        }
    }

    void disconnect() {
        if (!plain && !tls) return;
        beast::error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest().close();
        connected = false;
    }
};

}  // namespace

struct HttpSink::Impl : std::enable_shared_from_this<Impl> {
    asio::io_context& io;
    HttpTarget target;
    Outcome outcome;
    std::optional<asio::ssl::context> tls_context;
    tcp::resolver resolver;
    KeyedQueue<std::string> queue;
    std::vector<std::unique_ptr<Connection>> connections;
    bool closed = false;

    Impl(asio::io_context& i, HttpTarget t, Outcome o)
        : io(i), target(std::move(t)), outcome(std::move(o)), resolver(i), queue(target.max_queue) {
        for (uint32_t n = 0; n < std::max(1u, target.concurrency); ++n) connections.push_back(std::make_unique<Connection>(i));
    }

    std::string where() const { return target.host + ":" + std::to_string(target.port); }

    // Every idle connection takes the next row whose key has none in flight.
    void kick() {
        for (auto& c : connections) {
            if (closed) return;
            if (c->busy) continue;
            auto next = queue.take();
            if (!next) return;
            c->busy = true;
            c->key = std::move(next->first);
            c->body = std::move(next->second);
            c->attempt = 0;
            attempt(*c);
        }
    }

    // One try of the connection's row, within one timeout from here to the answer.
    void attempt(Connection& c) {
        if (c.connected) {
            c.lowest().expires_after(target.timeout);
            return write(c);
        }
        if (tls_context) {
            c.plain.reset();
            c.tls.emplace(io, *tls_context);
            net::expect_server_name(c.tls->native_handle(), target.host);
        } else {
            c.tls.reset();
            c.plain.emplace(io);
        }
        c.lowest().expires_after(target.timeout);
        auto self = shared_from_this();
        Connection* conn = &c;
        resolver.async_resolve(target.host, std::to_string(target.port),
                               [self, conn](beast::error_code ec, tcp::resolver::results_type results) {
                                   if (self->closed) return;
                                   if (ec) return self->failed(*conn, "cannot resolve " + self->target.host + ": " + ec.message());
                                   conn->lowest().async_connect(results, [self, conn](beast::error_code ec2, const tcp::endpoint&) {
                                       if (self->closed) return;
                                       if (ec2) return self->failed(*conn, "cannot connect to " + self->where() + ": " + ec2.message());
                                       if (!conn->tls) return self->connected(*conn);
                                       conn->tls->async_handshake(asio::ssl::stream_base::client, [self, conn](beast::error_code ec3) {
                                           if (self->closed) return;
                                           if (ec3) {
                                               return self->failed(*conn, "TLS handshake with " + self->where() + ": " +
                                                                              net::tls_failure(conn->tls->native_handle(), ec3.message()));
                                           }
                                           self->connected(*conn);
                                       });
                                   });
                               });
    }

    void connected(Connection& c) {
        c.connected = true;
        write(c);
    }

    void write(Connection& c) {
        c.request = {};
        c.request.method_string(target.method);
        c.request.target(target.path);
        c.request.version(11);
        c.request.set(http::field::host, target.host);
        c.request.set(http::field::content_type, "application/json");
        c.request.set(http::field::user_agent, "ironbridge");
        for (const auto& [name, value] : target.headers) c.request.set(name, value);
        c.request.keep_alive(true);
        c.request.body() = c.body;
        c.request.prepare_payload();
        c.response = {};
        c.buffer.clear();
        auto self = shared_from_this();
        Connection* conn = &c;
        c.with_stream([&](auto& stream) {
            http::async_write(stream, conn->request, [self, conn, &stream](beast::error_code ec, std::size_t) {
                if (self->closed) return;
                if (ec) return self->failed(*conn, "sending to " + self->where() + ": " + ec.message());
                http::async_read(stream, conn->buffer, conn->response, [self, conn](beast::error_code ec2, std::size_t) {
                    if (self->closed) return;
                    if (ec2) return self->failed(*conn, "reading the answer of " + self->where() + ": " + ec2.message());
                    self->answered(*conn);
                });
            });
        });
    }

    void answered(Connection& c) {
        const unsigned status = c.response.result_int();
        if (!c.response.keep_alive()) c.disconnect();
        if (status >= 200 && status < 300) return done(c, true, {});
        std::string why = where() + " answered " + std::to_string(status) + answer_excerpt(c.response.body());
        // The server refused this request itself: sending it again cannot help, and
        // would hold the key's later rows for the whole back-off.
        if (refused_for_good(status)) return done(c, false, why + " (not retried: a client error)");
        failed(c, why);
    }

    // 408 Request Timeout, 425 Too Early and 429 Too Many Requests ask for a retry.
    static bool refused_for_good(unsigned status) {
        return status >= 400 && status < 500 && status != 408 && status != 425 && status != 429;
    }

    // The start of the answer, on one line: services say there why they refused.
    static std::string answer_excerpt(std::string_view body) {
        constexpr std::size_t kMax = 200;
        std::string out;
        for (char ch : body.substr(0, kMax)) out += (ch == '\n' || ch == '\r' || ch == '\t') ? ' ' : ch;
        while (!out.empty() && out.back() == ' ') out.pop_back();
        if (out.empty()) return {};
        return ": " + out + (body.size() > kMax ? "..." : "");
    }

    void done(Connection& c, bool ok, const std::string& error) {
        c.busy = false;
        queue.finish(c.key);
        // The body is moved out first: the callback may send again, reusing the connection.
        std::string body = ok ? std::move(c.response.body()) : std::string();
        if (outcome) outcome(ok, error, body);
        kick();
    }

    // Retries with back-off (200 ms doubling), then gives the row up.
    void failed(Connection& c, const std::string& why) {
        c.disconnect();
        if (c.attempt >= target.retries) return done(c, false, why + " (after " + std::to_string(c.attempt + 1) + " attempts)");
        const auto delay = std::chrono::milliseconds(200) * (1u << std::min(c.attempt, 6u));
        ++c.attempt;
        auto self = shared_from_this();
        Connection* conn = &c;
        c.backoff.expires_after(delay);
        c.backoff.async_wait([self, conn](beast::error_code ec) {
            if (ec || self->closed) return;
            self->attempt(*conn);
        });
    }
};

std::expected<std::unique_ptr<HttpSink>, std::string> HttpSink::create(asio::io_context& io, HttpTarget target,
                                                                       Outcome outcome) {
    auto impl = std::make_shared<Impl>(io, std::move(target), std::move(outcome));
    if (impl->target.tls) {
        impl->tls_context.emplace(asio::ssl::context::tls_client);
        auto ok = net::configure_tls_client(*impl->tls_context,
                                            {impl->target.ca_file, impl->target.cert_file, impl->target.key_file});
        if (!ok) return std::unexpected(ok.error());
    }
    return std::unique_ptr<HttpSink>(new HttpSink(std::move(impl)));
}

HttpSink::HttpSink(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpSink::~HttpSink() {
    impl_->closed = true;
    impl_->outcome = nullptr;
    impl_->resolver.cancel();
    for (auto& c : impl_->connections) {
        c->backoff.cancel();
        c->disconnect();
    }
}

void HttpSink::send(const std::string& key, std::string body) {
    Impl& s = *impl_;
    if (!s.queue.push(key, std::move(body))) {
        if (s.outcome) s.outcome(false, "the queue of " + std::to_string(s.target.max_queue) + " rows is full; row dropped", {});
        return;
    }
    s.kick();
}

std::size_t HttpSink::queued() const { return impl_->queue.size(); }

}  // namespace ib::rules
