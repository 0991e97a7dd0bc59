// HTTP request routing for the REST API, free of any networking: the server
// parses bytes into an HttpRequest, the Router picks a handler by method and
// path and always returns a response (404, 405 and 500 included). Handlers run
// on the API's event loop and must not block.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ib::api {

// Views into the server's receive buffer, valid only during the handler call.
struct HttpRequest {
    std::string_view method;  // "GET"
    std::string_view target;  // "/api/v1/devices?limit=5", as received
    std::string_view path;    // "/api/v1/devices" (not percent-decoded)
    std::string_view query;   // "limit=5", without the '?'
    std::string_view body;
    std::vector<std::pair<std::string_view, std::string_view>> headers;
    std::string_view peer_address;  // the client's IP address, for rate limits; may be empty

    // The first header with this name, compared case-insensitively; "" if absent.
    std::string_view header(std::string_view name) const;
};

struct HttpResponse {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    // Extra header fields (e.g. Allow, Cache-Control); the server adds
    // Content-Type, Content-Length, Connection and Server itself.
    std::vector<std::pair<std::string, std::string>> headers;
    // A handler whose answer takes a round trip (a write to a device) sets this
    // instead of a body: the server calls it with a function that sends the real
    // response, which must be called exactly once, on the server's event loop.
    std::function<void(std::function<void(HttpResponse)> reply)> deferred;
};

using Handler = std::function<HttpResponse(const HttpRequest&)>;

class Router {
public:
    // Exact path match, or a prefix when `path` ends in "/*": "/api/v1/devices/*"
    // matches "/api/v1/devices/plc1" and "/api/v1/devices/". Exact routes win
    // over prefixes, and the longest prefix wins among prefixes.
    void add(std::string method, std::string path, Handler handler);

    // Never throws: a handler's exception becomes a 500.
    HttpResponse dispatch(const HttpRequest& request) const;

private:
    struct Route {
        std::string method;
        std::string path;  // for prefix routes, the prefix with its trailing '/'
        bool prefix = false;
        Handler handler;
    };
    std::vector<Route> routes_;
};

// {"error":"<message>"} with the given status.
HttpResponse json_error(unsigned status, std::string_view message);
// A JSON body (already encoded) with the given status.
HttpResponse json_reply(unsigned status, std::string body);

}  // namespace ib::api
