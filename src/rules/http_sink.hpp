// An HTTP endpoint a rule's rows are POSTed to: one request at a time, in order,
// over a kept-alive connection, each with a timeout and a bounded number of
// retries with back-off; rows wait in a bounded queue meanwhile, and a full queue
// refuses the newest. Outcomes are reported through a callback. Plain http:// only.
// No Asio or Beast in this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace ib::rules {

struct HttpTarget {
    std::string host;
    uint16_t port = 80;
    std::string path = "/";
    std::string method = "POST";
    std::chrono::milliseconds timeout{5000};
    uint32_t retries = 3;
    uint32_t max_queue = 1000;
};

// "http://host[:port][/path]"; the error says what is wrong.
std::expected<HttpTarget, std::string> parse_http_url(std::string_view url);

class HttpSink {
public:
    // ok: the endpoint answered 2xx; else `error` says why the row was given up
    // (after the retries, or refused because the queue was full).
    using Outcome = std::function<void(bool ok, const std::string& error)>;

    HttpSink(boost::asio::io_context& io, HttpTarget target, Outcome outcome);
    ~HttpSink();
    HttpSink(const HttpSink&) = delete;
    HttpSink& operator=(const HttpSink&) = delete;

    void send(std::string body);
    std::size_t queued() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;  // shared with pending operations
};

}  // namespace ib::rules
