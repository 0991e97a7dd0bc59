#include "app/bridge_routes.hpp"

#include <cstdio>
#include <string>

#include "api/http_server.hpp"
#include "bridge/bridge.hpp"
#include "core/quote.hpp"

namespace ib::app {
namespace {

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return buf;
}

std::string status_json(const bridge::BridgeStatus& s, const bridge::BridgeConfig& c) {
    auto u = [](uint64_t v) { return std::to_string(v); };
    std::string servers = "[";
    for (std::size_t i = 0; i < c.servers.size(); ++i) {
        servers += (i ? "," : "") + ib::quoted(c.servers[i].host + ":" + std::to_string(c.servers[i].port));
    }
    servers += "]";
    std::string dropped = "{";
    for (int i = 0; i < static_cast<int>(bridge::DropReason::Count); ++i) {
        dropped += (i ? ",\"" : "\"") + std::string(bridge::drop_reason_name(static_cast<bridge::DropReason>(i))) +
                   "\":" + u(s.dropped[i]);
    }
    dropped += "}";
    return "{\"name\":" + ib::quoted(s.name) + ",\"enabled\":" + (s.enabled ? "true" : "false") +
           ",\"connected\":" + (s.connected ? "true" : "false") + ",\"server\":" + ib::quoted(s.server) +
           ",\"servers\":" + servers + ",\"last_error\":" + ib::quoted(s.last_error) +
           ",\"last_disconnect\":{\"reason\":" + ib::quoted(s.last_disconnect) + ",\"at_ms\":" +
           std::to_string(s.last_disconnect_ms) + "}" +
           ",\"backlog\":{\"messages\":" + u(s.backlog_messages) + ",\"bytes\":" + u(s.backlog_bytes) +
           ",\"oldest_age_s\":" + number(s.oldest_age_s) + ",\"file_bytes\":" + u(s.queue_file_bytes) + "}" +
           ",\"inflight\":" + u(s.inflight) + ",\"taken\":" + u(s.taken) + ",\"sent\":" + u(s.sent) +
           ",\"acked\":" + u(s.acked) + ",\"resent\":" + u(s.resent) + ",\"received\":" + u(s.received) +
           ",\"dropped\":" + dropped + ",\"connects\":" + u(s.connects) + ",\"store_errors\":" + u(s.store_errors) +
           ",\"pushing_back\":" + (s.pushing_back ? "true" : "false") + ",\"held\":" + u(s.held_messages) +
           "}";
}

}  // namespace

void add_bridge_routes(api::HttpServer& server, const std::vector<std::unique_ptr<bridge::Bridge>>& bridges,
                       boost::asio::io_context& bridges_loop) {
    server.route("GET", "/api/v1/bridges", [&bridges](const api::HttpRequest&) {
        api::HttpResponse r;
        r.body = "[";
        for (std::size_t i = 0; i < bridges.size(); ++i) {
            r.body += (i ? "," : "") + status_json(bridges[i]->status(), bridges[i]->config());
        }
        r.body += "]";
        return r;
    }, &bridges_loop);
    server.route("GET", "/api/v1/bridges/*", [&bridges](const api::HttpRequest& req) {
        std::string_view name = req.path.substr(std::string_view("/api/v1/bridges/").size());
        for (const auto& b : bridges) {
            if (b->config().name == name) {
                api::HttpResponse r;
                r.body = status_json(b->status(), b->config());
                return r;
            }
        }
        return api::json_error(404, "no bridge named " + ib::quoted(name));
    }, &bridges_loop);
}

}  // namespace ib::app
