#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "sparkplug/edge_node.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <simdjson.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "bridge/mqtt_link.hpp"
#include "core/clock.hpp"
#include "core/json_writer.hpp"
#include "core/log.hpp"
#include "mqtt/broker/message.hpp"
#include "mqtt/broker/router.hpp"
#include "mqtt/codec/codec.hpp"
#include "net/loop_check.hpp"
#include "sparkplug/json_value.hpp"
#include "sparkplug/payload.hpp"
#include "sparkplug/topic.hpp"

namespace ib::sparkplug {

namespace codec = mqtt::codec;
namespace broker = mqtt::broker;

namespace {

// The ids of the write requests this node sends ("sparkplug-<n>"), so their
// results are told apart from those of other writers on the bus; a result
// carries the id as JSON text, quoted.
constexpr std::string_view kWriteId = "sparkplug-";
constexpr std::string_view kWriteIdInResult = "\"sparkplug-";

std::span<const std::byte> as_bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }
std::string_view as_text(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// The bdSeq of the last session, from `path`; nullopt when none was kept.
std::optional<uint64_t> read_bdseq(const std::string& path) {
    std::ifstream f(path);
    uint64_t v = 0;
    if (f >> v && v <= 255) return v;
    return std::nullopt;
}

// Written to a new file renamed over the old, so a kill at any moment leaves
// one whole number. No fsync: the page cache outlives a killed process, and the
// spec asks only that a host can match NDEATH to NBIRTH.
bool write_bdseq(const std::string& path, uint64_t v) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        if (!(f << v << '\n')) return false;
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    return !ec;
}

}  // namespace

struct EdgeNode::Impl : std::enable_shared_from_this<EdgeNode::Impl> {
    Impl(boost::asio::io_context& loop, broker::Router& router, const BusTopics& bus, SparkplugConfig config,
         MetricCatalog catalog, std::optional<bridge::BridgeConfig> upstream, std::string bdseq_file)
        : loop(loop), router(router), bus(bus), config(std::move(config)), catalog(std::move(catalog)),
          upstream(std::move(upstream)), bdseq_file(std::move(bdseq_file)) {
        ndeath_topic = topic(this->config.group_id, MessageType::NDEATH, this->config.edge_node_id);
        nbirth_topic = topic(this->config.group_id, MessageType::NBIRTH, this->config.edge_node_id);
        ndata_topic = topic(this->config.group_id, MessageType::NDATA, this->config.edge_node_id);
        for (auto& d : this->catalog.devices()) {
            device_topics.push_back({topic(this->config.group_id, MessageType::DBIRTH, this->config.edge_node_id, d.name),
                                     topic(this->config.group_id, MessageType::DDATA, this->config.edge_node_id, d.name),
                                     topic(this->config.group_id, MessageType::DDEATH, this->config.edge_node_id, d.name)});
        }
    }

    boost::asio::io_context& loop;
    broker::Router& router;
    const BusTopics& bus;
    SparkplugConfig config;
    MetricCatalog catalog;
    std::optional<bridge::BridgeConfig> upstream;
    std::string bdseq_file;
    std::unique_ptr<bridge::MqttLink> link;
    std::vector<broker::SubscriberId> subscriptions;

    std::string ndeath_topic, nbirth_topic, ndata_topic;
    struct DeviceTopics {
        std::string birth, data, death;
    };
    std::vector<DeviceTopics> device_topics;  // by the catalog's device index

    // Session state: `up` while the transport is (the local broker always);
    // `host_online` while the primary host says so (always without one);
    // `born` once this session's births went out.
    bool up = false;
    bool host_online = true;
    bool born = false;
    bool stopped = false;
    std::optional<uint64_t> last_bdseq;
    uint64_t bdseq = 0;
    uint64_t seq = 0;
    uint16_t next_packet_id = 1;
    uint64_t write_ids = 0;

    PayloadEncoder encoder;
    Payload scratch;                    // reused for every message
    std::vector<std::byte> encoded;     // reused for every message
    std::vector<std::byte> will_bytes;  // NDEATH of the session being opened
    simdjson::ondemand::parser parser;
    std::string padded;

    // Counters, read by collect_metrics on the same loop.
    uint64_t sessions = 0, births = 0, rebirth_requests = 0, data_messages = 0, commands = 0, command_errors = 0,
             writes_ok = 0, writes_failed = 0, readings_unusable = 0;

    // ---------------------------------------------------------------- session

    // The next session's bdSeq: one more than the last one kept, 255 followed
    // by 0 [tck-id-payloads-nbirth-bdseq-inc], written down before the CONNECT
    // that carries it.
    void next_bdseq() {
        bdseq = last_bdseq ? (*last_bdseq + 1) % 256 : 0;
        last_bdseq = bdseq;
        if (!write_bdseq(bdseq_file, bdseq)) {
            IB_LOG_LIMITED_WARN("sparkplug: cannot write the bdSeq to {}: a restart may reuse {}", bdseq_file, bdseq);
        }
    }

    void encode_ndeath(std::vector<std::byte>& out) {
        scratch.timestamp = static_cast<uint64_t>(unix_ms());
        scratch.seq.reset();  // NDEATH carries no seq
        scratch.metrics.clear();
        scratch.metrics.push_back(Metric{std::string(kBdSeqMetric), std::nullopt, scratch.timestamp, DataType::UInt64, bdseq, {}});
        encoder.encode(scratch, out);
    }

    std::optional<codec::Will> will() {
        next_bdseq();
        encode_ndeath(will_bytes);
        codec::Will w;
        w.topic = ndeath_topic;
        w.payload = will_bytes;
        w.qos = 1;  // [tck-id-payloads-ndeath-will-message-qos]
        w.retain = false;
        return w;
    }

    void session_up() {
        up = true;
        born = false;
        ++sessions;
        host_online = config.primary_host_id.empty();
        subscribe_commands();
        log::info("sparkplug: edge node {}/{} connected to {} (bdSeq {})", config.group_id, config.edge_node_id,
                  link ? link->server() : std::string("the local broker"), bdseq);
        if (host_online) birth();
        else log::info("sparkplug: waiting for primary host '{}' to be online", config.primary_host_id);
    }

    void session_down(const std::string& why) {
        if (up) log::warn("sparkplug: edge node {}/{} disconnected: {}", config.group_id, config.edge_node_id, why);
        up = false;
        born = false;
    }

    // The host went offline: §5.13 asks the node to end its session; a new one
    // (a new bdSeq) births again once the host is back.
    void host_went_offline() {
        log::info("sparkplug: primary host '{}' is offline: NDEATH, and births again when it is back",
                  config.primary_host_id);
        publish_ndeath();
        born = false;
        if (link) {
            link->fail("the primary host '" + config.primary_host_id + "' went offline");
        } else {
            next_bdseq();  // the local broker's next session
        }
    }

    void publish_ndeath() {
        if (!up) return;
        encode_ndeath(encoded);
        publish(ndeath_topic, encoded, 1);
    }

    // ------------------------------------------------------------- transport

    void publish(std::string_view t, const std::vector<std::byte>& payload, uint8_t qos = 0) {
        if (link) {
            if (!link->connected()) return;
            codec::Publish p;
            p.qos = qos;
            p.topic = t;
            p.payload = payload;
            if (qos > 0) p.packet_id = take_packet_id();
            codec::encode(link->output(), p, link->version());
            link->flush();
            return;
        }
        broker::PublishOptions o;
        o.qos = qos;
        if (auto r = router.publish(t, payload, o); !r) IB_LOG_LIMITED_WARN("sparkplug: cannot publish {}: {}", t, r.error());
    }

    uint16_t take_packet_id() {
        uint16_t id = next_packet_id++;
        if (next_packet_id == 0) next_packet_id = 1;
        return id;
    }

    std::vector<std::string> command_filters() const {
        std::vector<std::string> f = {topic(config.group_id, MessageType::NCMD, config.edge_node_id),
                                      topic(config.group_id, MessageType::DCMD, config.edge_node_id, "+")};
        if (!config.primary_host_id.empty()) f.push_back(state_topic(config.primary_host_id));
        return f;
    }

    void subscribe_commands() {
        if (!link) return;  // the local broker's subscriptions last from start() on
        auto filters = command_filters();
        codec::Subscribe s;
        s.packet_id = take_packet_id();
        // QoS 1 at most: no QoS 2 flow to keep state for.
        for (const auto& f : filters) s.topics.push_back(codec::SubscribeTopic{f, 1});
        codec::encode(link->output(), s, link->version());
        link->flush();
    }

    void on_packet(const codec::Packet& packet) {
        const auto* p = std::get_if<codec::Publish>(&packet);
        if (p == nullptr) return;  // SUBACK, PUBACK: nothing to do
        if (p->qos == 1) {
            codec::Ack ack;
            ack.type = codec::PacketType::Puback;
            ack.packet_id = p->packet_id;
            codec::encode(link->output(), ack, link->version());
            link->flush();
        }
        on_message(p->topic, p->payload);
    }

    // ---------------------------------------------------------------- births

    void add_device_metrics(DeviceSpec& d, uint64_t now) {
        for (auto& m : d.metrics) {
            Metric metric;
            metric.name = m.name;
            metric.alias = m.alias;
            metric.timestamp = now;
            metric.datatype = m.type;
            metric.value = m.last;
            metric.eng_unit = m.unit;
            scratch.metrics.push_back(std::move(metric));
            m.published = true;
        }
    }

    // NBIRTH (seq 0, bdSeq, Node Control/Rebirth false) then a DBIRTH per
    // device with every metric: name, alias, datatype, engUnit, and its
    // current value (null until the device has read it).
    void birth() {
        if (!up || !host_online) return;
        const auto now = static_cast<uint64_t>(unix_ms());
        seq = 0;
        scratch.timestamp = now;
        scratch.seq = next_seq();
        scratch.metrics.clear();
        scratch.metrics.push_back(Metric{std::string(kBdSeqMetric), std::nullopt, now, DataType::UInt64, bdseq, {}});
        scratch.metrics.push_back(Metric{std::string(kRebirthMetric), std::nullopt, now, DataType::Boolean, false, {}});
        encoder.encode(scratch, encoded);
        publish(nbirth_topic, encoded);
        born = true;
        ++births;
        auto& devices = catalog.devices();
        for (std::size_t i = 0; i < devices.size(); ++i) {
            if (devices[i].online) device_birth(i, now);
        }
    }

    void device_birth(std::size_t i, uint64_t now) {
        scratch.timestamp = now;
        scratch.seq = next_seq();
        scratch.metrics.clear();
        add_device_metrics(catalog.devices()[i], now);
        encoder.encode(scratch, encoded);
        publish(device_topics[i].birth, encoded);
    }

    // <prefix>/status/<device>: a link lost is the device's DDEATH (timestamp
    // and seq only), a link back its DBIRTH, with the values it has then.
    void on_status(std::size_t i, const broker::Message& m) {
        simdjson::dom::parser p;
        simdjson::dom::element e;
        std::string_view state;
        std::string_view text = as_text(m.payload());
        if (p.parse(text.data(), text.size()).get(e) || e["state"].get(state)) return;
        DeviceSpec& d = catalog.devices()[i];
        const bool lost = state == "reconnecting" || state == "stopped";
        if (lost && d.online) {
            d.online = false;
            log::info("sparkplug: device {} lost its link: DDEATH", d.name);
            if (!born) return;
            scratch.timestamp = static_cast<uint64_t>(unix_ms());
            scratch.seq = next_seq();
            scratch.metrics.clear();
            encoder.encode(scratch, encoded);
            publish(device_topics[i].death, encoded);
        } else if (state == "connected" && !d.online) {
            d.online = true;
            log::info("sparkplug: device {} is connected again: DBIRTH", d.name);
            if (born) device_birth(i, static_cast<uint64_t>(unix_ms()));
        }
    }

    uint64_t next_seq() {
        uint64_t s = seq;
        seq = (seq + 1) % 256;  // [tck-id-payloads-ndata-seq-inc]
        return s;
    }

    // -------------------------------------------------------------- readings

    // One reading of the bus: the metrics whose value changed go out as DDATA
    // (alias, datatype, value, the reading's time); before the births, the
    // values are only kept for them.
    void on_reading(std::size_t device_index, const broker::Message& m) {
        auto payload = m.payload();
        const std::size_t n = payload.size();
        if (padded.size() < n + simdjson::SIMDJSON_PADDING) padded.resize(n + simdjson::SIMDJSON_PADDING);
        if (n > 0) std::memcpy(padded.data(), payload.data(), n);
        simdjson::ondemand::document doc;
        if (parser.iterate(padded.data(), n, padded.size()).get(doc)) {
            ++readings_unusable;
            return;
        }
        // The device is the subscription's (<prefix>/data/<device>/+), whatever
        // the payload's "device" says.
        DeviceSpec* device = &catalog.devices()[device_index];
        // The reading's time ("ts" comes before "values" on the bus); now, without one.
        auto ts = static_cast<uint64_t>(unix_ms());
        scratch.metrics.clear();
        simdjson::ondemand::object root;
        if (doc.get_object().get(root)) {
            ++readings_unusable;
            return;
        }
        for (auto field : root) {
            std::string_view key;
            if (field.unescaped_key().get(key)) break;
            if (key == "ts") {
                int64_t t = 0;
                if (!field.value().get_int64().get(t) && t > 0) ts = static_cast<uint64_t>(t);
            } else if (key == "values") {
                simdjson::ondemand::object values;
                if (field.value().get_object().get(values)) break;
                std::size_t hint = 0;
                for (auto v : values) {
                    std::string_view tag;
                    if (v.unescaped_key().get(tag)) break;
                    MetricSpec* metric = device->find(tag, hint);
                    if (metric == nullptr) continue;  // a tag not published
                    simdjson::ondemand::value json;
                    if (v.value().get(json)) break;
                    auto value = value_from_json(json, metric->type);
                    if (!value) {
                        ++readings_unusable;
                        continue;
                    }
                    if (metric->published && *value == metric->last) continue;
                    metric->last = std::move(*value);
                    if (!born || !device->online) continue;
                    Metric out;
                    out.alias = metric->alias;
                    out.timestamp = ts;
                    out.datatype = metric->type;
                    out.value = metric->last;
                    scratch.metrics.push_back(std::move(out));
                }
            }
        }
        if (!born || !device->online || scratch.metrics.empty()) return;
        scratch.timestamp = static_cast<uint64_t>(unix_ms());
        scratch.seq = next_seq();
        encoder.encode(scratch, encoded);
        publish(device_topics[device_index].data, encoded);
        ++data_messages;
    }

    // -------------------------------------------------------------- commands

    void on_message(std::string_view t, std::span<const std::byte> payload) {
        auto parsed = parse_topic(t);
        if (!parsed) return;
        if (parsed->type == MessageType::STATE) return on_state(payload);
        if (parsed->group != config.group_id || parsed->edge != config.edge_node_id) return;
        if (parsed->type != MessageType::NCMD && parsed->type != MessageType::DCMD) return;
        ++commands;
        auto decoded = decode_payload(payload);
        if (!decoded) {
            ++command_errors;
            IB_LOG_LIMITED_WARN("sparkplug: {} on {} ignored: {}", message_type_name(parsed->type), t,
                                decoded.error().message);
            return;
        }
        if (parsed->type == MessageType::NCMD) on_ncmd(*decoded);
        else on_dcmd(parsed->device, *decoded);
    }

    void on_ncmd(const Payload& p) {
        for (const auto& m : p.metrics) {
            const bool* b = std::get_if<bool>(&m.value);
            if (m.name == kRebirthMetric && b != nullptr && *b) {
                ++rebirth_requests;
                log::info("sparkplug: rebirth requested (NCMD Node Control/Rebirth)");
                birth();
                continue;
            }
            ++command_errors;
            IB_LOG_LIMITED_WARN("sparkplug: NCMD metric '{}' ignored: the node has no such writable metric", m.name);
        }
    }

    // DCMD: the metrics, by name or alias, become one write request on the
    // bus (<prefix>/write/<device>), the path every write takes; the device
    // answers on <prefix>/write/<device>/result, which on_write_result reads.
    void on_dcmd(std::string_view device_id, const Payload& p) {
        DeviceSpec* device = catalog.find_device(device_id);
        if (device == nullptr) {
            ++command_errors;
            IB_LOG_LIMITED_WARN("sparkplug: DCMD for unknown device '{}' ignored", device_id);
            return;
        }
        std::string values;
        JsonWriter w(values);
        w.begin_object();
        std::size_t n = 0;
        for (const auto& m : p.metrics) {
            MetricSpec* metric = nullptr;
            if (!m.name.empty()) metric = device->find(m.name);
            else if (m.alias) {
                auto found = catalog.by_alias(*m.alias);
                if (found && found->first == device) metric = found->second;
            }
            if (metric == nullptr) {
                ++command_errors;
                ++writes_failed;
                IB_LOG_LIMITED_WARN("sparkplug: DCMD {}: no metric '{}' (alias {})", device_id, m.name,
                                    m.alias ? std::to_string(*m.alias) : std::string("none"));
                continue;
            }
            auto json = value_to_json(m.value);
            if (!json) {
                ++command_errors;
                ++writes_failed;
                IB_LOG_LIMITED_WARN("sparkplug: DCMD {}/{}: a null value cannot be written", device_id, metric->name);
                continue;
            }
            w.key(metric->name).raw(*json);
            ++n;
        }
        w.end_object();
        if (n == 0) return;
        std::string id = std::string(kWriteId) + std::to_string(++write_ids);
        std::string request;
        encode_write_request_values(request, id, values);
        log::info("sparkplug: DCMD {}: writing {}", device_id, values);
        if (auto r = router.publish(bus.write(device->name), as_bytes(request)); !r) {
            writes_failed += n;
            log::warn("sparkplug: DCMD {}: cannot publish the write request: {}", device_id, r.error());
        }
    }

    void on_write_result(const broker::Message& m) {
        auto result = decode_write_result(as_text(m.payload()));
        if (!result || !result->id.starts_with(kWriteIdInResult)) return;  // another writer's
        if (!result->error.empty()) {
            ++writes_failed;
            log::warn("sparkplug: write {} refused: {}", result->id, result->error);
            return;
        }
        for (const auto& r : result->results) {
            if (r.ok) {
                ++writes_ok;
                log::info("sparkplug: write {} of {}: ok", result->id, r.tag);
            } else {
                ++writes_failed;
                log::warn("sparkplug: write {} of {} failed: {} (code {})", result->id, r.tag, r.error, r.code);
            }
        }
    }

    // STATE: {"online":true|false,"timestamp":...} (3.0), or the text
    // ONLINE/OFFLINE of earlier hosts.
    void on_state(std::span<const std::byte> payload) {
        std::string_view text = as_text(payload);
        bool online = false;
        if (text == "ONLINE") online = true;
        else if (text != "OFFLINE") {
            simdjson::dom::parser p;
            simdjson::dom::element e;
            bool b = false;
            if (p.parse(text.data(), text.size()).get(e) || e["online"].get(b)) {
                IB_LOG_LIMITED_WARN("sparkplug: STATE of '{}' ignored: not {{\"online\":...}}", config.primary_host_id);
                return;
            }
            online = b;
        }
        if (online == host_online) return;
        if (online) {
            host_online = true;
            log::info("sparkplug: primary host '{}' is online", config.primary_host_id);
            birth();
        } else {
            host_went_offline();
            host_online = false;
        }
    }
};

EdgeNode::EdgeNode(boost::asio::io_context& loop, mqtt::broker::Router& router, const BusTopics& bus,
                   SparkplugConfig config, MetricCatalog catalog, std::optional<bridge::BridgeConfig> upstream,
                   std::string bdseq_file)
    : impl_(std::make_shared<Impl>(loop, router, bus, std::move(config), std::move(catalog), std::move(upstream),
                                   std::move(bdseq_file))) {}

EdgeNode::~EdgeNode() = default;

std::expected<void, std::string> EdgeNode::start() {
    Impl& i = *impl_;
    i.last_bdseq = read_bdseq(i.bdseq_file);
    std::weak_ptr<Impl> weak = impl_;
    // Readings, link states and write results of the published devices,
    // delivered on the node's loop.
    for (std::size_t k = 0; k < i.catalog.devices().size(); ++k) {
        const auto& d = i.catalog.devices()[k];
        auto data = i.router.subscribe(i.bus.data(d.name, "+"), i.loop, [weak, k](const broker::Message& m) {
            if (auto self = weak.lock()) self->on_reading(k, m);
        });
        if (!data) return std::unexpected("sparkplug: " + data.error());
        i.subscriptions.push_back(*data);
        auto status = i.router.subscribe(i.bus.status(d.name), i.loop, [weak, k](const broker::Message& m) {
            if (auto self = weak.lock()) self->on_status(k, m);
        });
        if (!status) return std::unexpected("sparkplug: " + status.error());
        i.subscriptions.push_back(*status);
        auto results = i.router.subscribe(i.bus.write_result(d.name), i.loop, [weak](const broker::Message& m) {
            if (auto self = weak.lock()) self->on_write_result(m);
        });
        if (!results) return std::unexpected("sparkplug: " + results.error());
        i.subscriptions.push_back(*results);
    }
    if (i.upstream) {
        bridge::BridgeConfig& b = *i.upstream;
        b.client_id = i.config.client_id;
        // Sparkplug 3.0 §5.x: an edge node connects with a clean session that
        // ends with the connection; nothing of an earlier one is wanted.
        b.clean_start = true;
        b.session_expiry_s = 0;
        b.forwards.clear();
        b.subscriptions.clear();
        bridge::LinkEvents events;
        events.connected = [weak](bool, const codec::Connack&) {
            if (auto self = weak.lock()) self->session_up();
        };
        events.packet = [weak](const codec::Packet& p) {
            if (auto self = weak.lock()) self->on_packet(p);
        };
        events.disconnected = [weak](const std::string& why, bool) {
            if (auto self = weak.lock()) self->session_down(why);
        };
        events.will = [weak]() -> std::optional<codec::Will> {
            if (auto self = weak.lock()) return self->will();
            return std::nullopt;
        };
        i.link = std::make_unique<bridge::MqttLink>(i.loop, b, std::move(events));
        i.link->start();
        return {};
    }
    // The local broker: commands arrive through the router; the session is up
    // from the start, with a new bdSeq per start.
    for (const auto& f : i.command_filters()) {
        auto sub = i.router.subscribe(f, i.loop, [weak](const broker::Message& m) {
            if (auto self = weak.lock()) self->on_message(m.topic(), m.payload());
        });
        if (!sub) return std::unexpected("sparkplug: " + sub.error());
        i.subscriptions.push_back(*sub);
    }
    boost::asio::post(i.loop, [weak] {
        if (auto self = weak.lock()) {
            self->next_bdseq();
            self->session_up();
        }
    });
    return {};
}

void EdgeNode::stop() {
    Impl& i = *impl_;
    IB_ASSERT_ON_LOOP(i.loop);
    if (i.stopped) return;
    i.stopped = true;
    // [tck-id-payloads-ndeath-will-message-publisher]: NDEATH before an
    // intentional disconnect, so hosts need not wait for the will.
    i.publish_ndeath();
    for (auto id : i.subscriptions) i.router.unsubscribe(id);
    i.subscriptions.clear();
    if (i.link) i.link->stop();
    i.up = false;
    i.born = false;
}

void EdgeNode::collect_metrics(MetricSink& sink) const {
    const Impl& i = *impl_;
    IB_ASSERT_ON_LOOP(i.loop);
    auto add = [&](const char* name, const char* help, MetricType type, double v, std::string labels = {}) {
        sink.push_back(MetricSample{name, help, type, std::move(labels), v});
    };
    const auto C = MetricType::Counter;
    const auto G = MetricType::Gauge;
    add("ib_sparkplug_online", "1 while the Sparkplug edge node's births are out (connected, primary host online)", G,
        i.up && i.born ? 1 : 0);
    add("ib_sparkplug_bdseq", "The bdSeq of the Sparkplug edge node's current session", G, static_cast<double>(i.bdseq));
    add("ib_sparkplug_sessions_total", "Sparkplug sessions begun (connections to the broker)", C,
        static_cast<double>(i.sessions));
    add("ib_sparkplug_births_total", "NBIRTH/DBIRTH sequences published", C, static_cast<double>(i.births));
    add("ib_sparkplug_rebirth_requests_total", "NCMD Node Control/Rebirth requests", C,
        static_cast<double>(i.rebirth_requests));
    add("ib_sparkplug_data_messages_total", "NDATA/DDATA messages published", C, static_cast<double>(i.data_messages));
    add("ib_sparkplug_commands_total", "NCMD/DCMD messages received", C, static_cast<double>(i.commands));
    add("ib_sparkplug_command_errors_total",
        "NCMD/DCMD messages or metrics refused (undecodable, unknown metric, null value)", C,
        static_cast<double>(i.command_errors));
    add("ib_sparkplug_writes_total", "DCMD metric writes by result", C, static_cast<double>(i.writes_ok),
        "result=\"ok\"");
    add("ib_sparkplug_writes_total", "DCMD metric writes by result", C, static_cast<double>(i.writes_failed),
        "result=\"failed\"");
    add("ib_sparkplug_readings_unusable_total", "Reading values that are not of their metric's datatype", C,
        static_cast<double>(i.readings_unusable));
}

}  // namespace ib::sparkplug
