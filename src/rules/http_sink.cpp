#include "rules/http_sink.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <deque>

namespace ib::rules {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::expected<HttpTarget, std::string> parse_http_url(std::string_view url) {
    constexpr std::string_view scheme = "http://";
    if (url.starts_with("https://")) return std::unexpected("https is not supported yet; use an http:// endpoint");
    if (!url.starts_with(scheme)) return std::unexpected("the url must start with http://");
    url.remove_prefix(scheme.size());
    HttpTarget t;
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

struct HttpSink::Impl : std::enable_shared_from_this<Impl> {
    asio::io_context& io;
    HttpTarget target;
    Outcome outcome;
    tcp::resolver resolver;
    beast::tcp_stream stream;
    asio::steady_timer backoff;
    std::deque<std::string> queue;
    bool busy = false;
    bool connected = false;
    bool closed = false;
    uint32_t attempt = 0;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;

    Impl(asio::io_context& i, HttpTarget t, Outcome o)
        : io(i), target(std::move(t)), outcome(std::move(o)), resolver(i), stream(i), backoff(i) {}

    void kick() {
        if (busy || closed || queue.empty()) return;
        busy = true;
        if (connected) return write();
        auto self = shared_from_this();
        stream.expires_after(target.timeout);
        resolver.async_resolve(target.host, std::to_string(target.port),
                               [self](beast::error_code ec, tcp::resolver::results_type results) {
                                   if (self->closed) return;
                                   if (ec) return self->failed("cannot resolve " + self->target.host + ": " + ec.message());
                                   self->stream.async_connect(results, [self](beast::error_code ec2, const tcp::endpoint&) {
                                       if (self->closed) return;
                                       if (ec2) return self->failed("cannot connect to " + self->where() + ": " + ec2.message());
                                       self->connected = true;
                                       self->write();
                                   });
                               });
    }

    std::string where() const { return target.host + ":" + std::to_string(target.port); }

    void write() {
        request = {};
        request.method_string(target.method);
        request.target(target.path);
        request.version(11);
        request.set(http::field::host, target.host);
        request.set(http::field::content_type, "application/json");
        request.set(http::field::user_agent, "ironbridge");
        request.keep_alive(true);
        request.body() = queue.front();
        request.prepare_payload();
        response = {};
        buffer.clear();
        auto self = shared_from_this();
        stream.expires_after(target.timeout);
        http::async_write(stream, request, [self](beast::error_code ec, std::size_t) {
            if (self->closed) return;
            if (ec) return self->failed("sending to " + self->where() + ": " + ec.message());
            http::async_read(self->stream, self->buffer, self->response, [self](beast::error_code ec2, std::size_t) {
                if (self->closed) return;
                if (ec2) return self->failed("reading the answer of " + self->where() + ": " + ec2.message());
                const unsigned status = self->response.result_int();
                if (!self->response.keep_alive()) self->disconnect();
                if (status < 200 || status >= 300) {
                    return self->failed(self->where() + " answered " + std::to_string(status));
                }
                self->done(true, {});
            });
        });
    }

    void disconnect() {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream.close();
        connected = false;
    }

    void done(bool ok, const std::string& error) {
        queue.pop_front();
        attempt = 0;
        busy = false;
        if (outcome) outcome(ok, error);
        kick();
    }

    // Retries with back-off (200 ms doubling), then gives the row up.
    void failed(const std::string& why) {
        disconnect();
        if (attempt >= target.retries) return done(false, why + " (after " + std::to_string(attempt + 1) + " attempts)");
        const auto delay = std::chrono::milliseconds(200) * (1u << std::min(attempt, 6u));
        ++attempt;
        auto self = shared_from_this();
        backoff.expires_after(delay);
        backoff.async_wait([self](beast::error_code ec) {
            if (ec || self->closed) return;
            self->busy = false;
            self->kick();
        });
    }
};

HttpSink::HttpSink(asio::io_context& io, HttpTarget target, Outcome outcome)
    : impl_(std::make_shared<Impl>(io, std::move(target), std::move(outcome))) {}

HttpSink::~HttpSink() {
    impl_->closed = true;
    impl_->outcome = nullptr;
    impl_->resolver.cancel();
    impl_->backoff.cancel();
    impl_->disconnect();
}

void HttpSink::send(std::string body) {
    Impl& s = *impl_;
    if (s.queue.size() >= s.target.max_queue) {
        if (s.outcome) s.outcome(false, "the queue of " + std::to_string(s.target.max_queue) + " rows is full; row dropped");
        return;
    }
    s.queue.push_back(std::move(body));
    s.kick();
}

std::size_t HttpSink::queued() const { return impl_->queue.size(); }

}  // namespace ib::rules
