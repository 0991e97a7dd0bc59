#include "api/event_streams.hpp"

// Boost 1.74's Asio needs <utility> before its headers (std::exchange).
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/http_server.hpp"
#include "core/json_writer.hpp"
#include "mqtt/broker/router.hpp"
#include "mqtt/codec/codec.hpp"

namespace ib::api {
namespace {

constexpr auto kStatsInterval = std::chrono::seconds(2);

// The figures the Overview shows (the rest of /metrics stays off the wire):
// message rates come from the counters, the browser takes the differences.
constexpr std::string_view kStatsMetrics[] = {
    "ib_mqtt_messages_received_total", "ib_mqtt_messages_sent_total", "ib_mqtt_connections",
    "ib_mqtt_messages_dropped_total",  "ib_device_connected",         "ib_device_errors_total",
    "ib_device_tag_errors_total",      "ib_device_tags",              "ib_device_round_trip_seconds_sum",
    "ib_device_round_trip_seconds_count", "ib_device_polls_total",              "ib_bridge_connected",
    "ib_bridge_backlog_messages",      "ib_bridge_oldest_backlog_age_seconds",
    "ib_bridge_messages_sent_total",   "ib_bridge_messages_dropped_total", "ib_rule_running",
    "ib_rule_errors_total",            "ib_rule_messages_in_total",   "ib_rule_rows_out_total",
    "ib_process_resident_memory_bytes", "ib_process_cpu_seconds_total",
};

bool wanted(std::string_view name) {
    for (auto m : kStatsMetrics) {
        if (m == name) return true;
    }
    return false;
}

int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct EventStreams::Impl : std::enable_shared_from_this<EventStreams::Impl> {
    Impl(boost::asio::io_context& loop, mqtt::broker::Router& router, HttpServer& server)
        : loop(loop), router(router), server(server), timer(loop) {}

    struct Client {
        std::shared_ptr<ResponseStream> out;
        std::optional<mqtt::broker::SubscriberId> subscription;
        uint64_t dropped = 0;
        // Events before the stream is open: the retained messages, which the
        // router delivers while subscribe() runs when called on their loop.
        std::vector<std::string> early;
        size_t early_bytes = 0;
    };

    HttpResponse open(const HttpRequest& req);
    void deliver(uint64_t id, const mqtt::broker::Message& m);
    bool send(Client& c, std::string event);
    void end(uint64_t id);
    void tick();
    void send_stats(const MetricSink& samples);

    boost::asio::io_context& loop;
    mqtt::broker::Router& router;
    HttpServer& server;
    boost::asio::steady_timer timer;
    std::unordered_map<uint64_t, Client> clients;
    uint64_t next_id = 1;
    bool ticking = false;
    bool stopped = false;
    uint64_t sent_total = 0;
    uint64_t dropped_total = 0;
    uint64_t refused_total = 0;
};

HttpResponse EventStreams::Impl::open(const HttpRequest& req) {
    if (stopped) return json_error(503, "shutting down");
    if (clients.size() >= kMaxClients) {
        ++refused_total;
        return json_error(503, "too many event streams open (" + std::to_string(kMaxClients) + ")");
    }
    const uint64_t id = next_id++;
    Client& c = clients[id];
    if (auto filter = query_param(req.query, "filter"); filter && !filter->empty()) {
        std::weak_ptr<Impl> weak = weak_from_this();
        auto sub = router.subscribe(*filter, loop, [weak, id](const mqtt::broker::Message& m) {
            if (auto self = weak.lock()) self->deliver(id, m);
        });
        if (!sub) {
            clients.erase(id);
            return json_error(400, "filter: " + sub.error());
        }
        c.subscription = *sub;
    }
    HttpResponse r;
    r.content_type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.stream = [self = shared_from_this(), id](std::shared_ptr<ResponseStream> out) {
        auto it = self->clients.find(id);
        if (it == self->clients.end()) return out->close();
        out->on_close([weak = std::weak_ptr<Impl>(self), id] {
            if (auto s = weak.lock()) s->end(id);
        });
        it->second.out = std::move(out);
        // A first comment, so the browser's EventSource reports the stream open at once.
        self->send(it->second, ": ironbridge events\n\n");
        for (auto& event : it->second.early) self->send(it->second, std::move(event));
        it->second.early = {};
        if (!self->ticking) self->tick();
    };
    return r;
}

bool EventStreams::Impl::send(Client& c, std::string event) {
    if (!c.out && c.early_bytes + event.size() <= kMaxQueuedBytes) {
        c.early_bytes += event.size();
        c.early.push_back(std::move(event));
        return true;
    }
    if (c.out && c.out->send(std::move(event), kMaxQueuedBytes)) {
        ++sent_total;
        return true;
    }
    ++c.dropped;
    ++dropped_total;
    return false;
}

void EventStreams::Impl::deliver(uint64_t id, const mqtt::broker::Message& m) {
    auto it = clients.find(id);
    if (it == clients.end()) return;
    std::string event = "event: message\ndata: ";
    JsonWriter w(event);
    const auto payload = m.payload();
    std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    w.begin_object().field("topic", m.topic()).field("time", unix_ms()).field("retain", m.retain());
    // JSON carries text only: a binary payload is announced by its size.
    if (mqtt::codec::valid_utf8(text)) {
        w.field("payload", text);
    } else {
        w.key("payload").null().field("payload_bytes", payload.size());
    }
    w.end_object();
    event += "\n\n";
    send(it->second, std::move(event));
}

void EventStreams::Impl::end(uint64_t id) {
    auto it = clients.find(id);
    if (it == clients.end()) return;
    if (it->second.subscription) router.unsubscribe(*it->second.subscription);
    // Erased after the subscription is gone; the stream may be what is calling.
    auto out = std::move(it->second.out);
    clients.erase(it);
}

void EventStreams::Impl::tick() {
    if (clients.empty() || stopped) {
        ticking = false;
        return;
    }
    ticking = true;
    server.gather_metrics([weak = weak_from_this()](MetricSink samples) {
        if (auto self = weak.lock()) self->send_stats(samples);
    });
    timer.expires_after(kStatsInterval);
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (!ec && self) self->tick();
    });
}

void EventStreams::Impl::send_stats(const MetricSink& samples) {
    std::string metrics;
    JsonWriter mw(metrics);
    mw.begin_array();
    for (const auto& s : samples) {
        if (wanted(s.name)) mw.begin_array().string(s.name).string(s.labels).number(s.value).end_array();
    }
    mw.end_array();
    const int64_t now = unix_ms();
    for (auto& [id, c] : clients) {
        if (!c.out) continue;
        // Each client hears how many of its own events were dropped.
        std::string event = "event: stats\ndata: ";
        JsonWriter w(event);
        w.begin_object().field("time", now).raw_field("metrics", metrics).field("dropped", c.dropped).end_object();
        event += "\n\n";
        send(c, std::move(event));
    }
}

EventStreams::EventStreams(boost::asio::io_context& api_loop, mqtt::broker::Router& router, HttpServer& server)
    : impl_(std::make_shared<Impl>(api_loop, router, server)) {
    server.route("GET", "/api/v1/events", [weak = std::weak_ptr<Impl>(impl_)](const HttpRequest& req) {
        auto self = weak.lock();
        return self ? self->open(req) : json_error(503, "shutting down");
    });
}

EventStreams::~EventStreams() { stop(); }

void EventStreams::stop() {
    if (impl_->stopped) return;
    impl_->stopped = true;
    impl_->timer.cancel();
    std::vector<std::shared_ptr<ResponseStream>> open;
    for (auto& [id, c] : impl_->clients) {
        if (c.subscription) impl_->router.unsubscribe(*c.subscription);
        c.subscription.reset();
        if (c.out) open.push_back(c.out);
    }
    impl_->clients.clear();
    for (auto& out : open) out->close();
}

void EventStreams::collect_metrics(MetricSink& sink) const {
    sink.push_back({"ib_api_event_streams", "Open server-sent event streams (GET /api/v1/events).", MetricType::Gauge,
                    "", static_cast<double>(impl_->clients.size())});
    sink.push_back({"ib_api_events_sent_total", "Server-sent events queued for a client.", MetricType::Counter, "",
                    static_cast<double>(impl_->sent_total)});
    sink.push_back({"ib_api_events_dropped_total",
                    "Server-sent events dropped because the client's queue was full (a slow reader).",
                    MetricType::Counter, "", static_cast<double>(impl_->dropped_total)});
    sink.push_back({"ib_api_event_streams_refused_total", "Event streams refused because too many were open.",
                    MetricType::Counter, "", static_cast<double>(impl_->refused_total)});
}

}  // namespace ib::api
