#include "config/settings.hpp"

#include "core/quote.hpp"

#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <limits>
#include <type_traits>

namespace ib::config {
namespace {

using mqtt::broker::ListenerConfig;

constexpr int64_t kU16Max = std::numeric_limits<uint16_t>::max();
constexpr int64_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

// Field <-> SettingValue conversions. Ranges in the table are checked before
// store() runs, so the narrowing casts below never truncate.
template <typename T>
void store(T& field, const SettingValue& v) {
    if constexpr (std::is_same_v<T, bool>) {
        field = std::get<bool>(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
        field = std::get<std::string>(v);
    } else if constexpr (std::is_integral_v<T>) {
        field = static_cast<T>(std::get<int64_t>(v));
    } else {  // a std::chrono::duration; the key's name carries the unit
        field = T{static_cast<typename T::rep>(std::get<int64_t>(v))};
    }
}

template <typename T>
SettingValue load(const T& field) {
    if constexpr (std::is_same_v<T, bool>) {
        return field;
    } else if constexpr (std::is_same_v<T, std::string>) {
        return field;
    } else if constexpr (std::is_integral_v<T>) {
        return static_cast<int64_t>(field);
    } else {
        return static_cast<int64_t>(field.count());
    }
}

// Ref is a captureless lambda `[](NodeConfig& c) -> auto& { return c.x; }`; its
// closure type is default-constructible, so plain function pointers can call it.
// The getter casts const away only to reach the same member; it never writes.
template <typename Ref>
void bind(Setting& s) {
    if constexpr (std::is_invocable_v<Ref, NodeConfig&>) {
        s.scope = SettingScope::Node;
        s.set_node = [](NodeConfig& c, const SettingValue& v) { store(Ref{}(c), v); };
        s.get_node = [](const NodeConfig& c) { return load(Ref{}(const_cast<NodeConfig&>(c))); };
    } else {
        static_assert(std::is_invocable_v<Ref, ListenerConfig&>);
        s.scope = SettingScope::Listener;
        s.set_listener = [](ListenerConfig& c, const SettingValue& v) { store(Ref{}(c), v); };
        s.get_listener = [](const ListenerConfig& c) {
            return load(Ref{}(const_cast<ListenerConfig&>(c)));
        };
    }
}

template <typename Ref>
Setting integer(std::string_view key, int64_t def, int64_t min, int64_t max, bool reloadable,
                std::string_view help, Ref) {
    Setting s;
    s.key = key;
    s.type = SettingType::Integer;
    s.default_value = def;
    s.min = min;
    s.max = max;
    s.reloadable = reloadable;
    s.help = help;
    bind<Ref>(s);
    return s;
}

template <typename Ref>
Setting boolean(std::string_view key, bool def, bool reloadable, std::string_view help, Ref) {
    Setting s;
    s.key = key;
    s.type = SettingType::Boolean;
    s.default_value = def;
    s.reloadable = reloadable;
    s.help = help;
    bind<Ref>(s);
    return s;
}

template <typename Ref>
Setting string(std::string_view key, std::string def, bool reloadable, std::string_view help, Ref,
               std::vector<std::string_view> choices = {},
               std::string (*check)(const SettingValue&) = nullptr) {
    Setting s;
    s.key = key;
    s.type = SettingType::String;
    s.default_value = std::move(def);
    s.choices = std::move(choices);
    s.reloadable = reloadable;
    s.help = help;
    s.check = check;
    bind<Ref>(s);
    return s;
}

// Bind addresses are IP literals: resolving a host name at start-up would make
// the node's behaviour depend on DNS, and a typo would bind somewhere unexpected.
std::string check_ip_address(const SettingValue& v) {
    const std::string& s = std::get<std::string>(v);
    unsigned char buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1) {
        return {};
    }
    return "'" + s + "' is not an IPv4 or IPv6 address";
}

std::string check_not_empty(const SettingValue& v) {
    return std::get<std::string>(v).empty() ? "must not be empty" : "";
}

std::vector<Setting> build_table() {
    std::vector<Setting> t;
    // Order matters: documents follow it, and in the example TOML every plain
    // [broker] key must come before the [[broker.listeners]] tables.
    t.push_back(string("data_dir", "./data", false,
                       "Directory for state kept across restarts (objects created through the API, history, outbox).",
                       [](NodeConfig& c) -> auto& { return c.data_dir; }, {}, check_not_empty));
    t.push_back(string("log.level", "info", true, "Least severe log level written.",
                       [](NodeConfig& c) -> auto& { return c.log.level; },
                       {"trace", "debug", "info", "warn", "error"}));

    t.push_back(integer("broker.threads", 0, 0, 64, false,
                        "Broker event loops; 0 starts one per CPU core.",
                        [](NodeConfig& c) -> auto& { return c.broker.threads; }));
    t.push_back(integer("broker.max_packet_size", 1048576, 64, 268435455, false,
                        "Largest MQTT packet accepted from a client, in bytes (also announced as Maximum Packet Size).",
                        [](NodeConfig& c) -> auto& { return c.broker.max_packet_size; }));
    t.push_back(integer("broker.max_inflight", 64, 1, kU16Max, false,
                        "QoS 1 and 2 messages sent to one client and not yet acknowledged.",
                        [](NodeConfig& c) -> auto& { return c.broker.max_inflight; }));
    t.push_back(integer("broker.receive_maximum", 1024, 1, kU16Max, false,
                        "QoS 1 and 2 messages a client may send before we acknowledge (announced in CONNACK).",
                        [](NodeConfig& c) -> auto& { return c.broker.receive_maximum; }));
    t.push_back(integer("broker.max_queued_messages", 10000, 1, kU32Max, false,
                        "Messages queued per session while the client cannot receive them.",
                        [](NodeConfig& c) -> auto& { return c.broker.max_queued_messages; }));
    t.push_back(integer("broker.max_queued_bytes", 67108864, 1024, kI64Max, false,
                        "Payload bytes queued per session while the client cannot receive them.",
                        [](NodeConfig& c) -> auto& { return c.broker.max_queued_bytes; }));
    t.push_back(integer("broker.max_subscriptions_per_client", 10000, 1, kU32Max, false,
                        "Subscriptions one client may hold.",
                        [](NodeConfig& c) -> auto& { return c.broker.max_subscriptions_per_client; }));
    t.push_back(integer("broker.max_topic_depth", 64, 1, 1024, false,
                        "Levels allowed in a topic name or filter.",
                        [](NodeConfig& c) -> auto& { return c.broker.max_topic_depth; }));
    t.push_back(integer("broker.max_retained_messages", 100000, 1, kU32Max, false,
                        "Retained messages kept; a retained publish to a new topic beyond this is not stored.",
                        [](NodeConfig& c) -> auto& { return c.broker.max_retained_messages; }));
    t.push_back(integer("broker.topic_alias_maximum", 64, 0, kU16Max, false,
                        "Topic aliases a client may use towards the broker (MQTT 5); 0 disables them.",
                        [](NodeConfig& c) -> auto& { return c.broker.topic_alias_maximum; }));
    t.push_back(integer("broker.max_session_expiry", 604800, 0, kU32Max, false,
                        "Longest Session Expiry Interval granted to a client, in seconds.",
                        [](NodeConfig& c) -> auto& { return c.broker.max_session_expiry; }));
    t.push_back(integer("broker.connect_timeout_ms", 10000, 100, 600000, true,
                        "Time a new connection has to send CONNECT, in milliseconds.",
                        [](NodeConfig& c) -> auto& { return c.broker.connect_timeout; }));
    t.push_back(integer("broker.server_keep_alive", 0, 0, kU16Max, false,
                        "Keep-alive imposed on clients, in seconds; 0 accepts what each client asks for.",
                        [](NodeConfig& c) -> auto& { return c.broker.server_keep_alive; }));
    t.push_back(boolean("broker.retain_available", true, false,
                        "Whether retained messages are stored and delivered.",
                        [](NodeConfig& c) -> auto& { return c.broker.retain_available; }));
    t.push_back(integer("broker.maximum_qos", 2, 0, 2, false,
                        "Highest QoS the broker accepts and grants.",
                        [](NodeConfig& c) -> auto& { return c.broker.maximum_qos; }));
    t.push_back(boolean("broker.allow_anonymous", true, true,
                        "Whether clients may connect without a user name.",
                        [](NodeConfig& c) -> auto& { return c.broker.allow_anonymous; }));
    t.push_back(boolean("broker.persistence", false, false,
                        "Whether sessions that outlive their connection (clean start 0 with a session expiry, or "
                        "3.1.1 clean session 0: subscriptions, queued messages, QoS 1/2 state) and retained messages "
                        "are kept in data_dir/sessions.db across restarts and crashes. A PUBACK or PUBREC for a "
                        "message queued for such a session is sent once it is committed.",
                        [](NodeConfig& c) -> auto& { return c.broker.persistence; }));
    t.push_back(integer("broker.sys_interval_s", 10, 0, 86400, true,
                        "Seconds between $SYS statistics updates; 0 turns them off.",
                        [](NodeConfig& c) -> auto& { return c.broker.sys_interval; }));

    t.push_back(string("broker.listeners.name", "default", false,
                       "Listener name, unique; used in logs and metric labels.",
                       [](ListenerConfig& l) -> auto& { return l.name; }, {}, check_not_empty));
    t.push_back(string("broker.listeners.bind", "0.0.0.0", false,
                       "IP address to listen on; 0.0.0.0 or :: for all interfaces.",
                       [](ListenerConfig& l) -> auto& { return l.bind_address; }, {},
                       check_ip_address));
    t.push_back(integer("broker.listeners.port", 1883, 0, kU16Max, false,
                        "TCP port; 0 picks a free port.",
                        [](ListenerConfig& l) -> auto& { return l.port; }));
    t.push_back(integer("broker.listeners.max_connections", 100000, 1, kU32Max, false,
                        "Concurrent client connections accepted on this listener.",
                        [](ListenerConfig& l) -> auto& { return l.max_connections; }));

    t.push_back(boolean("api.enabled", true, false, "Whether the REST API, dashboard and /metrics are served.",
                        [](NodeConfig& c) -> auto& { return c.api.enabled; }));
    t.push_back(string("api.bind", "0.0.0.0", false, "IP address the HTTP server listens on.",
                       [](NodeConfig& c) -> auto& { return c.api.bind_address; }, {},
                       check_ip_address));
    t.push_back(integer("api.port", 8080, 0, kU16Max, false, "HTTP port; 0 picks a free port.",
                        [](NodeConfig& c) -> auto& { return c.api.port; }));
    t.push_back(integer("api.max_body_bytes", 1048576, 1024, 268435456, false,
                        "Largest HTTP request body accepted, in bytes; larger requests get 413.",
                        [](NodeConfig& c) -> auto& { return c.api.max_body_bytes; }));

    t.push_back(boolean("history.enabled", true, false,
                        "Whether tag readings are kept in data_dir/history.db and served on /api/v1/history.",
                        [](NodeConfig& c) -> auto& { return c.history.enabled; }));
    t.push_back(string("history.topic", "ib/data/#", false,
                       "Topic filter whose messages (readings in the ib/data JSON) go into the history.",
                       [](NodeConfig& c) -> auto& { return c.history.topic; }, {}, check_not_empty));
    t.push_back(integer("history.raw_retention_h", 24, 1, 87600, false,
                        "Hours raw points are kept.",
                        [](NodeConfig& c) -> auto& { return c.history.raw_retention; }));
    t.push_back(integer("history.minute_retention_d", 30, 1, 36500, false,
                        "Days 1-minute aggregates (min, max, avg, count, last) are kept.",
                        [](NodeConfig& c) -> auto& { return c.history.minute_retention; }));
    t.push_back(integer("history.hour_retention_d", 365, 1, 36500, false,
                        "Days 1-hour aggregates are kept.",
                        [](NodeConfig& c) -> auto& { return c.history.hour_retention; }));
    t.push_back(integer("history.max_bytes", 1073741824, 1048576, kI64Max, false,
                        "Largest size of history.db, in bytes; beyond it the oldest data goes first (raw, then minute, then hour).",
                        [](NodeConfig& c) -> auto& { return c.history.max_bytes; }));
    t.push_back(integer("history.commit_interval_ms", 200, 10, 60000, false,
                        "Milliseconds between the history's batched writes.",
                        [](NodeConfig& c) -> auto& { return c.history.commit_interval; }));
    return t;
}

}  // namespace

std::string_view Setting::name() const {
    auto dot = key.rfind('.');
    return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

std::string_view Setting::section() const {
    auto dot = key.rfind('.');
    return dot == std::string_view::npos ? std::string_view{} : key.substr(0, dot);
}

std::span<const Setting> settings() {
    static const std::vector<Setting> table = build_table();
    return table;
}

const Setting* find_setting(std::string_view key) {
    for (const Setting& s : settings()) {
        if (s.key == key) return &s;
    }
    return nullptr;
}

std::string_view type_name(SettingType type) {
    switch (type) {
        case SettingType::Integer: return "integer";
        case SettingType::Boolean: return "boolean";
        case SettingType::String: return "string";
    }
    return "?";
}

std::string to_toml_literal(const SettingValue& value) {
    if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
    if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
    return quoted(std::get<std::string>(value));
}

}  // namespace ib::config
