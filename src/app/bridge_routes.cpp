#include "app/bridge_routes.hpp"

#include <string>

#include "api/http_server.hpp"
#include "bridge/bridge.hpp"
#include "core/clock.hpp"
#include "core/json_writer.hpp"
#include "core/quote.hpp"

namespace ib::app {
namespace {

std::string status_json(const bridge::BridgeStatus& s, const bridge::BridgeConfig& c) {
    std::string out;
    JsonWriter w(out);
    w.begin_object()
        .field("name", s.name)
        .field("enabled", s.enabled)
        .field("connected", s.connected)
        .field("subscribed", s.subscribed)
        .field("server", s.server)
        .key("servers")
        .begin_array();
    for (const auto& server : c.servers) w.string(server.host + ":" + std::to_string(server.port));
    w.end_array().field("last_error", s.last_error);
    w.key("last_disconnect").begin_object().field("reason", s.last_disconnect).field("at_ms", s.last_disconnect_ms);
    w.end_object();
    // Newest first, as a person reads a history; down_ms so far while still down.
    w.key("disconnects").begin_array();
    const int64_t now = unix_ms();
    for (auto d = s.disconnects.rbegin(); d != s.disconnects.rend(); ++d) {
        w.begin_object().field("at_ms", d->at_ms).field("reason", d->reason);
        w.field("down_ms", (d->up_again_ms ? d->up_again_ms : now) - d->at_ms).field("ongoing", d->up_again_ms == 0);
        w.end_object();
    }
    w.end_array();
    w.key("backlog").begin_object().field("messages", s.backlog_messages).field("bytes", s.backlog_bytes);
    w.key("oldest_age_s").fixed(s.oldest_age_s, 3).field("file_bytes", s.queue_file_bytes).end_object();
    w.field("inflight", s.inflight)
        .field("taken", s.taken)
        .field("sent", s.sent)
        .field("acked", s.acked)
        .field("resent", s.resent)
        .field("received", s.received);
    w.key("dropped").begin_object();
    for (int i = 0; i < static_cast<int>(bridge::DropReason::Count); ++i) {
        w.field(bridge::drop_reason_name(static_cast<bridge::DropReason>(i)), s.dropped[i]);
    }
    w.end_object();
    w.field("connects", s.connects)
        .field("store_errors", s.store_errors)
        .field("pushing_back", s.pushing_back)
        .field("held", s.held_messages);
    if (s.files) {
        // forward_files: the files' own link and queue (docs/files.md).
        w.key("files")
            .begin_object()
            .field("connected", s.files->connected)
            .field("forwarded", s.files->forwarded)
            .field("bytes", s.files->bytes)
            .field("failures", s.files->failures)
            .field("queued", s.files->queued)
            .field("current", s.files->current)
            .end_object();
    }
    w.end_object();
    return out;
}

}  // namespace

void add_bridge_routes(api::HttpServer& server, const std::vector<std::unique_ptr<bridge::Bridge>>& bridges,
                       boost::asio::io_context& bridges_loop) {
    server.route("GET", "/api/v1/bridges", [&bridges](const api::HttpRequest&) {
        api::HttpResponse r;
        JsonWriter w(r.body);
        w.begin_array();
        for (const auto& b : bridges) w.raw(status_json(b->status(), b->config()));
        w.end_array();
        return r;
    }, &bridges_loop);
    server.route("GET", "/api/v1/bridges/{name}", [&bridges](const api::HttpRequest& req) {
        const std::string_view name = req.param("name");
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
