// HTTP request routing for the REST API, free of any networking: the server
// parses bytes into an HttpRequest, the Router picks a handler by method and
// path and always returns a response (404, 405 and 500 included). Handlers run
// on the API's event loop and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ib::api {

struct Caller;  // access.hpp

// Views into the server's receive buffer, valid only during the handler call.
struct HttpRequest {
    std::string_view method;  // "GET"
    std::string_view target;  // "/api/v1/devices?limit=5", as received
    std::string_view path;    // "/api/v1/devices" (not percent-decoded)
    std::string_view query;   // "limit=5", without the '?'
    std::string_view body;
    std::vector<std::pair<std::string_view, std::string_view>> headers;
    std::string_view peer_address;  // the client's IP address, for rate limits; may be empty
    // The path parameters of the matched route, percent-decoded: for the route
    // "/api/v1/devices/{name}", {"name", "plc 1"} from "/api/v1/devices/plc%201".
    // Set by the Router; the names are views into the route, which outlives the call.
    std::vector<std::pair<std::string_view, std::string>> params;
    // Who is asking, as the server's authenticator found it; set before the
    // route runs (null only for a Router used without a server).
    const Caller* caller = nullptr;

    // The first header with this name, compared case-insensitively; "" if absent.
    std::string_view header(std::string_view name) const;
    // The path parameter of this name; "" if the route has none.
    std::string_view param(std::string_view name) const;
    // The first query parameter of this name, form-decoded; nullopt if absent.
    std::optional<std::string> query_param(std::string_view name) const;
};

// The body of a response that stays open (server-sent events), written piece by
// piece. Used on the server's loop only.
class ResponseStream {
public:
    virtual ~ResponseStream() = default;
    // Queues a piece of the body. False, and the piece dropped, when the client
    // is gone or more than `max_queued` bytes already wait for it: a slow
    // reader loses pieces, it never makes the loop wait or memory grow.
    virtual bool send(std::string piece, size_t max_queued) = 0;
    virtual bool closed() const = 0;
    // Ends the response and the connection.
    virtual void close() = 0;
    // Called once when the connection ends, whoever ended it.
    virtual void on_close(std::function<void()> f) = 0;
    // Called once, on the server's loop, when every piece queued so far has
    // been written: a body read from disk sends its next pieces from here, so
    // it is paced by the client instead of queued whole.
    virtual void when_drained(std::function<void()> f) = 0;
};

struct HttpResponse {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    // Extra header fields (e.g. Allow, Cache-Control); the server adds
    // Content-Type, Content-Length, Connection and Server itself.
    std::vector<std::pair<std::string, std::string>> headers;
    // For the audit log of a route that changes state: the resource before and
    // after the change as JSON ("" for null); secrets are masked when recorded.
    std::string audit_before;
    std::string audit_after;
    // A handler whose answer takes a round trip (a write to a device) sets this
    // instead of a body: the server calls it with a function that sends the real
    // response, which must be called exactly once, on the server's event loop.
    std::function<void(std::function<void(HttpResponse)> reply)> deferred;
    // A response with no length that stays open: the server writes the status
    // line and headers, then hands this the stream for the body; the connection
    // is not reused. On the server's loop, and only from a handler that runs
    // there (a route without `run_on`).
    std::function<void(std::shared_ptr<ResponseStream>)> stream;
};

using Handler = std::function<HttpResponse(const HttpRequest&)>;

class Router {
public:
    // Exact path match, a pattern, or a prefix when `path` ends in "/*".
    // A pattern has whole segments in braces that each match one non-empty
    // segment: "/api/v1/devices/{name}/groups/{group}" matches
    // "/api/v1/devices/plc1/groups/fast", and the handler reads
    // req.param("name"). "/api/v1/devices/*" matches "/api/v1/devices/plc1"
    // and "/api/v1/devices/". Exact routes win over patterns, a pattern with a
    // literal segment where another has a parameter wins over it (so
    // "/rules/test" before "/rules/{id}"), and patterns win over prefixes; the
    // longest prefix wins among prefixes. A 405 lists the methods of the
    // winning path only.
    void add(std::string method, std::string path, Handler handler);

    // Never throws: a handler's exception becomes a 500.
    HttpResponse dispatch(const HttpRequest& request) const;

private:
    struct Route {
        std::string method;
        std::string path;  // for prefix routes, the prefix with its trailing '/'
        bool prefix = false;
        // For patterns: the segments, a parameter's held without its braces;
        // `shape` is the path with every parameter as "{}", so two patterns
        // that differ only in their parameters' names count as one path.
        std::vector<std::string> segments;
        std::vector<bool> is_param;
        std::string shape;
        Handler handler;
    };
    // Fills `params` when `r`, a pattern, matches `path`; its literal segments,
    // first to last, as bits of `rank` (higher is more specific).
    static bool match(const Route& r, std::string_view path,
                      std::vector<std::pair<std::string_view, std::string>>& params, uint64_t& rank);
    std::vector<Route> routes_;
};

// application/x-www-form-urlencoded (a query string's names and values): '+' is
// a space, %XX a byte; a malformed escape is kept as it is.
std::string form_decode(std::string_view s);
// The decoded value of the first query parameter named `name`, if present.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// {"error":"<message>"} with the given status.
HttpResponse json_error(unsigned status, std::string_view message);
// A JSON body (already encoded) with the given status.
HttpResponse json_reply(unsigned status, std::string body);

}  // namespace ib::api
