#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "fleet_ctl/fleet_session.hpp"

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <random>
#include <set>

#include "bridge/mqtt_link.hpp"
#include "core/bytes.hpp"
#include "mqtt/codec/codec.hpp"

namespace ib::fleet_ctl {

namespace codec = mqtt::codec;
using Clock = std::chrono::steady_clock;

std::expected<void, std::string> parse_broker_address(std::string_view text, BrokerOptions& options) {
    if (text.empty()) return std::unexpected("--broker: give HOST[:PORT]");
    std::string_view host = text;
    std::optional<uint16_t> port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return std::unexpected("--broker: a ']' is missing");
        host = text.substr(1, close - 1);
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') return std::unexpected("--broker: ':' expected after ']'");
            text = text.substr(close + 2);
        } else {
            text = {};
        }
    } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
        host = text.substr(0, colon);
        text = text.substr(colon + 1);
    } else {
        text = {};
    }
    if (!text.empty()) {
        unsigned v = 0;
        for (char c : text) {
            if (c < '0' || c > '9' || (v = v * 10 + unsigned(c - '0')) > 65535) {
                return std::unexpected("--broker: '" + std::string(text) + "' is not a port");
            }
        }
        if (v == 0) return std::unexpected("--broker: port 0");
        port = static_cast<uint16_t>(v);
    }
    options.host = std::string(host);
    options.port = port.value_or(options.tls ? 8883 : 1883);
    return {};
}

struct FleetSession::Impl {
    BrokerOptions options;
    boost::asio::io_context io;
    bridge::BridgeConfig config;
    std::unique_ptr<bridge::MqttLink> link;
    std::string client_id;
    std::string reply_topic;
    std::string marker;  // the payload of our own sync marker
    std::map<std::string, EdgeState> edges;
    std::function<void(const Incoming&)> handler;
    std::string error;
    bool connected_once = false;
    bool synced = false;
    int failed_attempts = 0;
    uint16_t next_id = 1;
    std::set<uint16_t> unacked;
    uint16_t subscribe_id = 0;
    int64_t highest_revision = 0;

    explicit Impl(BrokerOptions o) : options(std::move(o)) {
        std::random_device rd;
        char buf[17];
        std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
        client_id = std::string("ib-fleet-") + buf;
        reply_topic = options.root + "/_controller/" + client_id + "/reply";
        marker = std::string("sync-") + buf;
        config.name = "fleet";
        config.servers = {{options.host, options.port}};
        config.protocol = 5;
        config.client_id = client_id;
        config.username = options.username;
        config.password = options.password;
        config.tls.enabled = options.tls;
        config.tls.ca_file = options.ca_file;
        config.clean_start = true;
        config.session_expiry_s = 0;
        config.keep_alive = std::chrono::seconds(30);
        config.reconnect_min = std::chrono::milliseconds(200);
        config.reconnect_max = std::chrono::milliseconds(2000);
        bridge::LinkEvents events;
        events.connected = [this](bool, const codec::Connack&) { on_connected(); };
        events.packet = [this](const codec::Packet& p) { on_packet(p); };
        events.disconnected = [this](const std::string& why, bool was_connected) {
            // A controller run is short: a broker that refuses us three times in a
            // row is an answer, not a blip.
            if (!was_connected && ++failed_attempts >= 3) {
                const std::string where = options.host + ":" + std::to_string(options.port);
                error = why.find(where) != std::string::npos ? why : "cannot connect to " + where + ": " + why;
            }
        };
        link = std::make_unique<bridge::MqttLink>(io, config, std::move(events));
    }

    uint16_t take_id() {
        uint16_t id = next_id++;
        if (next_id == 0) next_id = 1;
        return id;
    }

    void on_connected() {
        connected_once = true;
        failed_attempts = 0;
        codec::Subscribe s;
        s.packet_id = subscribe_id = take_id();
        s.topics.push_back({reply_topic, 1});
        const std::string state = options.root + "/+/+/state";
        const std::string status = options.root + "/+/+/status";
        const std::string desired = options.root + "/+/+/desired";
        s.topics.push_back({state, 1});
        s.topics.push_back({status, 1});
        s.topics.push_back({desired, 1});
        codec::encode(link->output(), s, link->version());
        link->flush();
    }

    void send_marker() {
        codec::Publish p;
        p.qos = 0;
        p.topic = reply_topic;
        p.payload = as_bytes(marker);
        codec::encode(link->output(), p, link->version());
        link->flush();
    }

    void on_packet(const codec::Packet& packet) {
        if (const auto* ack = std::get_if<codec::Ack>(&packet)) {
            if (ack->type == codec::PacketType::Puback) unacked.erase(ack->packet_id);
            return;
        }
        if (const auto* suback = std::get_if<codec::Suback>(&packet)) {
            // Retained messages of the subscription come before anything we
            // publish after its SUBACK: the marker's return means all are in.
            if (suback->packet_id == subscribe_id) send_marker();
            return;
        }
        const auto* p = std::get_if<codec::Publish>(&packet);
        if (p == nullptr) return;
        if (p->qos == 1) {
            codec::encode(link->output(), codec::Ack{codec::PacketType::Puback, p->packet_id, 0, {}}, link->version());
            link->flush();
        }
        Incoming in;
        in.topic = std::string(p->topic);
        in.payload.assign(reinterpret_cast<const char*>(p->payload.data()), p->payload.size());
        in.retained = p->retain;
        if (p->properties.correlation_data) {
            in.correlation.assign(reinterpret_cast<const char*>(p->properties.correlation_data->data()),
                                  p->properties.correlation_data->size());
        }
        if (in.topic == reply_topic && in.payload == marker) {
            synced = true;
            return;
        }
        if (in.topic.ends_with("/state")) {
            if (auto s = parse_state(in.topic, in.payload)) {
                highest_revision = std::max({highest_revision, s->revision, s->desired_revision.value_or(0),
                                             s->last_apply_revision.value_or(0)});
                in.state_of = s->key();
                edges[in.state_of] = std::move(*s);
            }
        } else if (in.topic.ends_with("/status") || in.topic.ends_with("/desired")) {
            highest_revision = std::max(highest_revision, revision_of(in.payload).value_or(0));
        }
        if (handler) handler(in);
    }

    bool run_until(const std::function<bool()>& done, Clock::time_point deadline, const std::function<void()>& tick) {
        auto next_tick = Clock::now();
        while (!done()) {
            if (!error.empty()) return false;
            const auto now = Clock::now();
            if (now >= deadline) return false;
            if (tick && now >= next_tick) {
                tick();
                next_tick = now + std::chrono::milliseconds(200);
            }
            io.run_for(std::min<Clock::duration>(deadline - now, std::chrono::milliseconds(50)));
            if (io.stopped()) io.restart();
        }
        return true;
    }
};

FleetSession::FleetSession(BrokerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

FleetSession::~FleetSession() {
    impl_->link->stop();
    impl_->io.poll();
}

std::expected<void, std::string> FleetSession::open(std::chrono::milliseconds timeout,
                                                   const std::function<bool()>& give_up) {
    impl_->link->start();
    const auto deadline = Clock::now() + timeout;
    const bool ended = impl_->run_until([&] { return impl_->synced || (give_up && give_up()); }, deadline, {});
    if (ended && !impl_->synced) return std::unexpected(std::string("given up"));
    if (!ended) {
        if (!impl_->error.empty()) return std::unexpected(impl_->error);
        if (!impl_->connected_once) {
            return std::unexpected("cannot connect to " + impl_->options.host + ":" +
                                   std::to_string(impl_->options.port) + " within " +
                                   std::to_string(timeout.count() / 1000) + " s");
        }
        return std::unexpected("the broker did not return the retained states in time");
    }
    return {};
}

const std::map<std::string, EdgeState>& FleetSession::edges() const { return impl_->edges; }
int64_t FleetSession::highest_revision() const { return impl_->highest_revision; }
const std::string& FleetSession::reply_topic() const { return impl_->reply_topic; }
const std::string& FleetSession::error() const { return impl_->error; }

void FleetSession::publish(const std::string& topic, const std::string& payload, bool retain,
                           const std::string& correlation) {
    codec::Publish p;
    p.qos = 1;
    p.retain = retain;
    p.topic = topic;
    p.packet_id = impl_->take_id();
    p.payload = as_bytes(payload);
    if (!correlation.empty()) {
        p.properties.response_topic = impl_->reply_topic;
        p.properties.correlation_data = as_bytes(correlation);
    }
    impl_->unacked.insert(p.packet_id);
    codec::encode(impl_->link->output(), p, impl_->link->version());
    impl_->link->flush();
}

void FleetSession::on_message(std::function<void(const Incoming&)> handler) { impl_->handler = std::move(handler); }

bool FleetSession::run_until(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline,
                             const std::function<void()>& tick) {
    return impl_->run_until(done, deadline, tick);
}

bool FleetSession::close(std::chrono::milliseconds timeout) {
    const bool acked = impl_->run_until([this] { return impl_->unacked.empty(); }, Clock::now() + timeout, {});
    impl_->link->stop();
    impl_->io.run_for(std::chrono::milliseconds(100));
    return acked;
}

}  // namespace ib::fleet_ctl
