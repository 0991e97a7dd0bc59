// An HTTP or HTTPS endpoint a rule's rows are sent to: in order per key (rows of
// one key one at a time; rows of different keys on up to `concurrency` kept-alive
// connections at once), each request with a timeout and a bounded number of
// retries with back-off; rows wait in a bounded queue meanwhile, and a full queue
// refuses the newest. HTTPS verifies the server (the system's CAs or a CA file)
// and may present a client certificate. Outcomes, with the answer's body, are
// reported through a callback on the sink's loop. No Asio or Beast in this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace ib::rules {

struct HttpTarget {
    bool tls = false;
    std::string host;
    uint16_t port = 80;
    std::string path = "/";
    std::string method = "POST";
    std::vector<std::pair<std::string, std::string>> headers;  // added to every request
    std::chrono::milliseconds timeout{5000};
    uint32_t retries = 3;
    uint32_t max_queue = 1000;
    uint32_t concurrency = 1;  // connections, hence keys in flight at once
    // HTTPS: PEM files; an empty ca_file trusts the system's CAs.
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
};

// "http[s]://host[:port][/path]"; the error says what is wrong.
std::expected<HttpTarget, std::string> parse_http_url(std::string_view url);

class HttpSink {
public:
    // ok: the endpoint answered 2xx, with `body`; else `error` says why the row
    // was given up (after the retries, or refused because the queue was full).
    using Outcome = std::function<void(bool ok, const std::string& error, std::string_view body)>;

    // The error names a TLS file that cannot be used.
    static std::expected<std::unique_ptr<HttpSink>, std::string> create(boost::asio::io_context& io, HttpTarget target,
                                                                        Outcome outcome);
    ~HttpSink();
    HttpSink(const HttpSink&) = delete;
    HttpSink& operator=(const HttpSink&) = delete;

    // `key` orders the rows: those of one key are sent one after the other.
    void send(const std::string& key, std::string body);
    std::size_t queued() const;

private:
    struct Impl;
    explicit HttpSink(std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;  // shared with pending operations
};

}  // namespace ib::rules
