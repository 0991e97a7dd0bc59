#include "app/probe_routes.hpp"

#include <chrono>
#include <string>

#include "api/http_server.hpp"
#include "bridge/bridge.hpp"
#include "core/json_writer.hpp"
#include "core/quote.hpp"
#include "net/loop_probe.hpp"

namespace ib::app {
namespace {

// A loop that has not run a no-op in this long is stuck in a handler: the
// kubelet's default probe timeout is one second, so answer before it gives up.
constexpr std::chrono::milliseconds kLiveTimeout{800};

const char* readiness_name(Readiness r) {
    switch (r) {
        case Readiness::Starting: return "starting";
        case Readiness::Ready: return "ready";
        case Readiness::Draining: return "draining";
    }
    return "unknown";
}

api::HttpResponse probe_reply(bool ok, std::string_view status, std::string_view key = {},
                              std::string_view value = {}) {
    std::string body;
    JsonWriter w(body);
    w.begin_object().field("status", status);
    if (!key.empty()) w.field(key, value);
    w.end_object();
    return api::json_reply(ok ? 200 : 503, std::move(body));
}

// The bridge a readiness probe names with ?bridge=NAME ("" when none); false
// when the query holds anything else.
bool bridge_asked(std::string_view query, std::string_view& name) {
    name = {};
    if (query.empty()) return true;
    constexpr std::string_view kKey = "bridge=";
    if (!query.starts_with(kKey) || query.find('&') != std::string_view::npos) return false;
    name = query.substr(kKey.size());
    return !name.empty();
}

}  // namespace

void add_probe_routes(api::HttpServer& server, ProbeSources sources) {
    // Both answer without credentials (api::is_public_path): a kubelet's probe
    // carries none, so they reveal nothing but up or not.
    server.route("GET", "/healthz/live", [sources](const api::HttpRequest&) {
        api::HttpResponse r;
        r.deferred = [sources](std::function<void(api::HttpResponse)> reply) {
            const std::size_t expected = sources.loops.size();
            net::probe_loops(sources.loops, *sources.api_loop, kLiveTimeout,
                             [reply = std::move(reply), expected](std::size_t answered) {
                                 if (answered == expected) return reply(probe_reply(true, "live"));
                                 reply(probe_reply(false, "stalled", "loops_answered",
                                                   std::to_string(answered) + "/" + std::to_string(expected)));
                             });
        };
        return r;
    });

    // On the bridges' loop, where their state lives; the readiness is atomic.
    server.route("GET", "/healthz/ready", [sources](const api::HttpRequest& req) {
        std::string_view bridge_name;
        if (!bridge_asked(req.query, bridge_name)) {
            return api::json_error(400, "the only parameter is bridge=NAME");
        }
        const Readiness now = sources.readiness->load(std::memory_order_acquire);
        if (now != Readiness::Ready) return probe_reply(false, readiness_name(now));
        if (bridge_name.empty()) return probe_reply(true, "ready");
        for (const auto& b : *sources.bridges) {
            if (b->config().name != bridge_name) continue;
            if (b->status().connected) return probe_reply(true, "ready", "bridge", "connected");
            return probe_reply(false, "bridge down", "bridge", b->config().name);
        }
        return api::json_error(404, "no bridge named " + quoted(bridge_name));
    }, sources.bridges_loop);
}

}  // namespace ib::app
