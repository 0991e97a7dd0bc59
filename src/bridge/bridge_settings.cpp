#include "bridge/bridge_settings.hpp"

#include <charconv>
#include <cstring>
#include <fstream>

#include "bridge/topic_template.hpp"
#include "mqtt/codec/codec.hpp"

namespace ib::bridge {
namespace {

using namespace config::fields;
using config::ReportProblem;

std::string check_filter(const std::string& f) {
    if (!mqtt::codec::valid_topic_filter(f)) return ib::quoted(f) + " is not a valid MQTT topic filter";
    return {};
}

std::string check_template(const std::string& t) {
    auto parsed = bridge::TopicTemplate::parse(t);
    return parsed ? std::string() : ib::quoted(t) + ": " + parsed.error();
}

// "host:port", "host" (port 1883) or "[v6]:port".
std::string parse_server(std::string_view s, bridge::ServerAddress& out) {
    std::string_view host = s;
    std::string_view port;
    if (s.starts_with('[')) {
        auto close = s.find(']');
        if (close == std::string_view::npos) return ib::quoted(s) + ": an IPv6 address is written [addr]:port";
        host = s.substr(1, close - 1);
        if (close + 1 < s.size()) {
            if (s[close + 1] != ':') return ib::quoted(s) + ": expected ':' after ']'";
            port = s.substr(close + 2);
        }
    } else if (auto colon = s.rfind(':'); colon != std::string_view::npos) {
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    if (host.empty()) return ib::quoted(s) + ": the host is empty; write host:port, e.g. \"broker.example.com:1883\"";
    out.host = std::string(host);
    out.port = 1883;
    if (!port.empty()) {
        unsigned p = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc{} || end != port.data() + port.size() || p < 1 || p > 65535) {
            return ib::quoted(s) + ": the port must be a number from 1 to 65535";
        }
        out.port = static_cast<uint16_t>(p);
    }
    return {};
}

const std::vector<Field<BridgeConfig>>& bridge_fields() {
    static const std::vector<Field<BridgeConfig>> f = {
        {"name", Kind::String, "(required)", "Unique bridge name; used in logs, metrics, /api/v1/bridges and the queue's file name.",
         0, 0, [](BridgeConfig& b, const toml::node& n) { return store_name(b.name, n); }, nullptr, true},
        {"enabled", Kind::Boolean, "true", "A disabled bridge keeps its queue but does not connect or take messages.", 0, 0,
         [](BridgeConfig& b, const toml::node& n) {
             b.enabled = n.as_boolean()->get();
             return std::string();
         }},
        {"servers", Kind::StringArray, "(required)",
         "Upstream brokers as `host:port`, tried in order: the next one after each failed attempt (fail-over).", 0, 0,
         [](BridgeConfig& b, const toml::node& n) -> std::string {
             b.servers.clear();
             for (const auto& e : *n.as_array()) {
                 bridge::ServerAddress a;
                 if (std::string why = parse_server(e.as_string()->get(), a); !why.empty()) return why;
                 b.servers.push_back(std::move(a));
             }
             return b.servers.empty() ? "must name at least one server" : "";
         },
         nullptr, true},
        {"protocol", Kind::String, "\"5\"", "MQTT version spoken upstream: `3.1.1` or `5`.", 0, 0,
         [](BridgeConfig& b, const toml::node& n) -> std::string {
             std::string s = str(n);
             if (s == "3.1.1") b.protocol = 4;
             else if (s == "5" || s == "5.0") b.protocol = 5;
             else return ib::quoted(s) + " is not one of 3.1.1, 5";
             return {};
         }},
        {"client_id", Kind::String, "\"ironbridge-<node>-<name>\"",
         "Client identifier on the upstream broker. The default differs per node, so edges made from one file "
         "do not take each other's connection: `<node>` is `<site>-<edge>` with [fleet], else an id made once "
         "and kept in `data_dir/node_id`.",
         0, 0,
         [](BridgeConfig& b, const toml::node& n) {
             b.client_id = str(n);
             return std::string();
         }},
        {"username", Kind::String, "\"\"", "User name on the upstream broker; empty sends none.", 0, 0,
         [](BridgeConfig& b, const toml::node& n) {
             b.username = str(n);
             return std::string();
         }},
        {"password", Kind::String, "\"\"", "Password on the upstream broker; empty sends none.", 0, 0,
         [](BridgeConfig& b, const toml::node& n) {
             b.password = str(n);
             return std::string();
         }},
        {"tls", Kind::Boolean, "false", "Whether the link uses TLS (1.2 or 1.3).", 0, 0,
         [](BridgeConfig& b, const toml::node& n) {
             b.tls.enabled = n.as_boolean()->get();
             return std::string();
         }},
        {"ca_file", Kind::String, "\"\"",
         "TLS: PEM file of the CAs the upstream's certificate must chain to; empty uses the system's.", 0, 0,
         [](BridgeConfig& b, const toml::node& n) { return store_readable_file(b.tls.ca_file, n); }},
        {"cert_file", Kind::String, "\"\"", "TLS: client certificate (PEM), for upstreams that require one.", 0, 0,
         [](BridgeConfig& b, const toml::node& n) { return store_readable_file(b.tls.cert_file, n); }},
        {"key_file", Kind::String, "\"\"", "TLS: the client certificate's private key (PEM).", 0, 0,
         [](BridgeConfig& b, const toml::node& n) { return store_readable_file(b.tls.key_file, n); }},
        {"tls_verify", Kind::Boolean, "true",
         "TLS: whether the upstream's certificate and host name are verified; turn off only to test.", 0, 0,
         [](BridgeConfig& b, const toml::node& n) {
             b.tls.verify = n.as_boolean()->get();
             return std::string();
         }},
        {"keep_alive_s", Kind::Integer, "30", "Keep-alive towards the upstream, in seconds; a silent link is closed after 1.5 times this.",
         1, 65535,
         [](BridgeConfig& b, const toml::node& n) {
             b.keep_alive = std::chrono::seconds(integer(n));
             return std::string();
         }},
        {"clean_start", Kind::Boolean, "false",
         "Whether reconnects start a new upstream session. false keeps remote subscriptions and the commands queued "
         "upstream while the link was down (the first connection after a start is always clean).",
         0, 0,
         [](BridgeConfig& b, const toml::node& n) {
             b.clean_start = n.as_boolean()->get();
             return std::string();
         }},
        {"session_expiry_s", Kind::Integer, "86400", "MQTT 5: how long the upstream keeps the session while the link is down.", 0,
         4294967295,
         [](BridgeConfig& b, const toml::node& n) {
             b.session_expiry_s = static_cast<uint32_t>(integer(n));
             return std::string();
         }},
        {"connect_timeout_ms", Kind::Integer, "5000", "Time a TCP connection and CONNACK may take.", 100, 600000,
         [](BridgeConfig& b, const toml::node& n) {
             b.connect_timeout = std::chrono::milliseconds(integer(n));
             return std::string();
         }},
        {"reconnect_min_ms", Kind::Integer, "500", "First wait before reconnecting; doubles (with ±20 % jitter) up to reconnect_max_ms.",
         10, 3600000,
         [](BridgeConfig& b, const toml::node& n) {
             b.reconnect_min = std::chrono::milliseconds(integer(n));
             return std::string();
         }},
        {"reconnect_max_ms", Kind::Integer, "30000", "Longest wait between reconnection attempts.", 10, 3600000,
         [](BridgeConfig& b, const toml::node& n) {
             b.reconnect_max = std::chrono::milliseconds(integer(n));
             return std::string();
         }},
        {"inflight", Kind::Integer, "256", "QoS 1 and 2 messages sent upstream and not yet acknowledged.", 1, 65535,
         [](BridgeConfig& b, const toml::node& n) {
             b.inflight = static_cast<uint32_t>(integer(n));
             return std::string();
         }},
        {"max_queue_bytes", Kind::Integer, "1073741824",
         "Topic and payload bytes the disk queue holds; beyond it `queue_full` applies.", 1024, 1099511627776,
         [](BridgeConfig& b, const toml::node& n) {
             b.max_queue_bytes = static_cast<uint64_t>(integer(n));
             return std::string();
         }},
        {"max_queue_age_s", Kind::Integer, "0", "Messages queued longer than this are dropped unsent (counted); 0 keeps them.",
         0, 315360000,
         [](BridgeConfig& b, const toml::node& n) {
             b.max_queue_age = std::chrono::seconds(integer(n));
             return std::string();
         }},
        {"queue_full", Kind::String, "\"drop-oldest\"",
         "When the queue is full: `drop-oldest` makes room, `drop-new` refuses the new message (each drop counted and "
         "logged), `push-back` holds new messages in memory and withholds local QoS 1/2 publishers' acknowledgements "
         "until there is room, so they stop at their inflight window (QoS 0 beyond 64 MiB held is dropped, counted).",
         0, 0,
         [](BridgeConfig& b, const toml::node& n) -> std::string {
             std::string s = str(n);
             if (s == "drop-oldest") b.queue_full = bridge::QueueFullPolicy::DropOldest;
             else if (s == "drop-new") b.queue_full = bridge::QueueFullPolicy::DropNew;
             else if (s == "push-back") b.queue_full = bridge::QueueFullPolicy::PushBack;
             else return ib::quoted(s) + " is not one of drop-oldest, drop-new, push-back";
             return {};
         }},
        {"queue_qos0", Kind::Boolean, "true", "Whether QoS 0 forwards are queued while the link is down (else dropped, counted).", 0,
         0,
         [](BridgeConfig& b, const toml::node& n) {
             b.queue_qos0 = n.as_boolean()->get();
             return std::string();
         }},
        {"forward_files", Kind::Boolean, "false",
         "Whether files received over MQTT (files.*, docs/files.md) are sent upstream with the same protocol, from "
         "the disk, on a connection of their own (client id `<client_id>-files`).", 0, 0,
         [](BridgeConfig& b, const toml::node& n) {
             b.forward_files = n.as_boolean()->get();
             return std::string();
         }},
        {"keep_forwarded_files", Kind::Boolean, "false",
         "Whether a file stays in data_dir/files once the upstream's fin succeeded (else it is deleted).", 0, 0,
         [](BridgeConfig& b, const toml::node& n) {
             b.keep_forwarded_files = n.as_boolean()->get();
             return std::string();
         }},
        {"file_segment_bytes", Kind::Integer, "262144", "Bytes per segment of a forwarded file.", 1024, 16777216,
         [](BridgeConfig& b, const toml::node& n) {
             b.file_segment_bytes = static_cast<uint32_t>(integer(n));
             return std::string();
         }},
    };
    return f;
}

const std::vector<Field<ForwardRule>>& forward_fields() {
    static const std::vector<Field<ForwardRule>> f = {
        {"local", Kind::String, "(required)", "Local topic filter whose messages go upstream, e.g. `ib/data/#`.", 0, 0,
         [](ForwardRule& r, const toml::node& n) {
             r.local = str(n);
             return check_filter(r.local);
         },
         nullptr, true},
        {"remote", Kind::String, "\"${topic}\"",
         "Remote topic: a template where `${topic}` is the local topic and `${1}`..`${N}` its levels.", 0, 0,
         [](ForwardRule& r, const toml::node& n) {
             r.remote = str(n);
             return check_template(r.remote);
         }},
        {"qos", Kind::Integer, "1", "QoS of the messages sent upstream.", 0, 2,
         [](ForwardRule& r, const toml::node& n) {
             r.qos = static_cast<uint8_t>(integer(n));
             return std::string();
         }},
    };
    return f;
}

const std::vector<Field<SubscriptionRule>>& subscription_fields() {
    static const std::vector<Field<SubscriptionRule>> f = {
        {"remote", Kind::String, "(required)", "Remote topic filter subscribed to upstream, e.g. `factory1/write/+`.", 0, 0,
         [](SubscriptionRule& r, const toml::node& n) {
             r.remote = str(n);
             return check_filter(r.remote);
         },
         nullptr, true},
        {"local", Kind::String, "\"${topic}\"",
         "Local topic: a template where `${topic}` is the remote topic and `${1}`..`${N}` its levels, e.g. `ib/write/${3}`.",
         0, 0,
         [](SubscriptionRule& r, const toml::node& n) {
             r.local = str(n);
             return check_template(r.local);
         }},
        {"qos", Kind::Integer, "1", "QoS of the upstream subscription.", 0, 2,
         [](SubscriptionRule& r, const toml::node& n) {
             r.qos = static_cast<uint8_t>(integer(n));
             return std::string();
         }},
    };
    return f;
}

template <typename T>
bool parse_children(const toml::table& table, std::string_view key, const std::vector<Field<T>>& fields,
                    const std::string& display, const ReportProblem& report, std::vector<T>& out) {
    bool ok = true;
    const toml::array* arr = child_array(table, key, display, report);
    if (arr == nullptr) return !table.contains(key);
    for (size_t i = 0; i < arr->size(); ++i) {
        std::string path = join(display, key) + "[" + std::to_string(i) + "]";
        const toml::table* t = as_table(*arr->get(i), path, report);
        T item;
        if (t == nullptr || !apply_fields(*t, fields, {}, item, path, line_of(*t), report)) {
            ok = false;
            continue;
        }
        out.push_back(std::move(item));
    }
    return ok;
}

}  // namespace

std::optional<BridgeConfig> parse_bridge(const toml::table& table, const std::string& display,
                                         const ReportProblem& report) {
    BridgeConfig b;
    bool ok = apply_fields(table, bridge_fields(), {"forwards", "subscriptions"}, b, display, line_of(table), report);
    if (ok && b.reconnect_min > b.reconnect_max) {
        report(line_of(table), join(display, "reconnect_min_ms") + ": is above reconnect_max_ms");
        ok = false;
    }
    if (ok && b.tls.cert_file.empty() != b.tls.key_file.empty()) {
        report(line_of(table), join(display, b.tls.cert_file.empty() ? "cert_file" : "key_file") +
                                   ": cert_file and key_file go together");
        ok = false;
    }
    ok = parse_children(table, "forwards", forward_fields(), display, report, b.forwards) && ok;
    ok = parse_children(table, "subscriptions", subscription_fields(), display, report, b.subscriptions) && ok;
    if (!ok) return std::nullopt;
    return b;
}

std::string render_bridges_markdown() {
    std::string out;
    out += "\n## [[bridges]]\n\n"
           "Each `[[bridges]]` table is one link to an upstream MQTT broker (EMQX, Mosquitto, ...).\n"
           "Every message selected by a forward is written to the bridge's disk queue\n"
           "(`data_dir/bridge-<name>.db`) and leaves it only when the upstream has acknowledged it.\n\n";
    out += render_markdown(bridge_fields());
    out += "\n## [[bridges.forwards]]\n\nLocal messages sent upstream, oldest first.\n\n";
    out += render_markdown(forward_fields());
    out += "\n## [[bridges.subscriptions]]\n\nRemote messages (commands) published locally.\n\n";
    out += render_markdown(subscription_fields());
    return out;
}

config::TableList bridge_tables(std::vector<BridgeConfig>& out) {
    return config::named_tables<BridgeConfig>(
        "bridges", "bridge", "name", parse_bridge, [](const BridgeConfig& b) -> const std::string& { return b.name; },
        render_bridges_markdown, out);
}

}  // namespace ib::bridge
