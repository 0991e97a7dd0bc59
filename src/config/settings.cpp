#include "config/settings.hpp"

#include "core/quote.hpp"

#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <limits>
#include <optional>
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
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
        field = std::get<std::vector<std::string>>(v);
    } else if constexpr (std::is_same_v<T, std::optional<bool>>) {
        field = std::get<bool>(v);
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
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
        return field;
    } else if constexpr (std::is_same_v<T, std::optional<bool>>) {
        // Unset means "inherit"; every inherited boolean defaults to true today.
        return field.value_or(true);
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
Setting string_array(std::string_view key, bool reloadable, std::string_view help, Ref) {
    Setting s;
    s.key = key;
    s.type = SettingType::StringArray;
    s.default_value = std::vector<std::string>{};
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

std::string check_http_path(const SettingValue& v) {
    const std::string& s = std::get<std::string>(v);
    if (s.empty() || s.front() != '/') return "'" + s + "' is not an absolute path (it must start with /)";
    for (char c : s) {
        if (c <= ' ' || c == '?' || c == '#' || c == 0x7F) return "'" + s + "' has a space, control character, ? or #";
    }
    return {};
}

std::vector<Setting> build_table() {
    std::vector<Setting> t;
    // Order matters: documents follow it, and in the example TOML every plain
    // [broker] key must come before the [[broker.listeners]] tables.
    t.push_back(string("data_dir", "./data", false,
                       "Directory for state kept across restarts (objects created through the API, history, outbox).",
                       [](NodeConfig& c) -> auto& { return c.data_dir; }, {}, check_not_empty));
    t.push_back(integer("service_loops", 0, 0, 16, false,
                        "Event loops for devices, rules, bridges, history and the API, after the broker's; 0 sizes "
                        "them from the CPU cores (1 up to 2 cores, 2 up to 4, 3 up to 8, else 4).",
                        [](NodeConfig& c) -> auto& { return c.service_loops; }));
    t.push_back(string("log.level", "info", true, "Least severe log level written.",
                       [](NodeConfig& c) -> auto& { return c.log.level; },
                       {"trace", "debug", "info", "warn", "error"}));
    t.push_back(string("log.format", "text", false,
                       "How each log line is written: `text` (time, level, message) or `json` (one object per line "
                       "with time, level, module, message and fields, for Loki or Fluent Bit).",
                       [](NodeConfig& c) -> auto& { return c.log.format; }, {"text", "json"}));
    t.push_back(string("bus.prefix", "ib", false,
                       "First topic levels of every bus topic: readings on `<prefix>/data/{device}/{group}`, "
                       "device status on `<prefix>/status/{device}`, writes on `<prefix>/write/{device}`.",
                       [](NodeConfig& c) -> auto& { return c.bus.prefix; }, {},
                       [](const SettingValue& v) { return bus_prefix_problem(std::get<std::string>(v)); }));

    t.push_back(integer("broker.threads", 0, 0, 64, false,
                        "Broker event loops (shards, serving network clients); 0 starts one where the process may use up "
                        "to two CPU cores (the other is left to the service loop and local clients), else one per core. "
                        "Usable cores are those of its affinity mask, fewer under a cgroup CPU limit (cpu.max).",
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
                        "Whether clients may connect without a user name (a listener may override it). A production config should set false.",
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
    t.push_back(string("broker.listeners.transport", "tcp", false,
                       "How clients reach this listener: tcp, tls, ws (MQTT over WebSocket) or wss (WebSocket over TLS).",
                       [](ListenerConfig& l) -> auto& { return l.transport; }, {"tcp", "tls", "ws", "wss"}));
    t.push_back(string("broker.listeners.tls_cert", "", false,
                       "PEM server certificate (with its chain) for tls and wss; reloaded when the file changes.",
                       [](ListenerConfig& l) -> auto& { return l.tls_cert; }));
    t.push_back(string("broker.listeners.tls_key", "", false,
                       "PEM private key of tls_cert; reloaded with it.",
                       [](ListenerConfig& l) -> auto& { return l.tls_key; }));
    t.push_back(string("broker.listeners.tls_ca", "", false,
                       "PEM CA certificates that client certificates are verified against; empty asks for none.",
                       [](ListenerConfig& l) -> auto& { return l.tls_ca; }));
    t.push_back(boolean("broker.listeners.tls_require_client_cert", false, false,
                        "Refuse TLS clients without a certificate signed by tls_ca (mutual TLS).",
                        [](ListenerConfig& l) -> auto& { return l.tls_require_client_cert; }));
    t.push_back(boolean("broker.listeners.tls_cn_as_username", false, false,
                        "Use the verified client certificate's common name (CN) as the client's username.",
                        [](ListenerConfig& l) -> auto& { return l.tls_cn_as_username; }));
    t.push_back(string("broker.listeners.tls_min_version", "1.2", false,
                       "Oldest TLS version accepted: 1.2 or 1.3.",
                       [](ListenerConfig& l) -> auto& { return l.tls_min_version; }, {"1.2", "1.3"}));
    t.push_back(string("broker.listeners.ws_path", "/mqtt", false,
                       "HTTP path of the WebSocket endpoint for ws and wss; other paths get 404.",
                       [](ListenerConfig& l) -> auto& { return l.ws_path; }, {}, check_http_path));

    {
        Setting s = boolean("broker.listeners.allow_anonymous", true, true,
                            "Whether clients of this listener may connect without a user name; when absent, broker.allow_anonymous decides.",
                            [](ListenerConfig& l) -> auto& { return l.allow_anonymous; });
        s.inherits = "broker.allow_anonymous";
        t.push_back(std::move(s));
    }

    t.push_back(boolean("auth.allow_plaintext_passwords", false, true,
                        "Whether [[users]] may give a plain-text password instead of a password_hash.",
                        [](NodeConfig& c) -> auto& { return c.auth.allow_plaintext_passwords; }));
    t.push_back(string("auth.password_file", "", true,
                       "File of user:$pbkdf2-sha512$... lines, managed with `ironbridge passwd FILE USER`; empty for none.",
                       [](NodeConfig& c) -> auto& { return c.auth.password_file; }));
    t.push_back(string("auth.acl_default", "allow", true,
                       "What a PUBLISH or SUBSCRIBE gets when no [[acl]] rule matches it.",
                       [](NodeConfig& c) -> auto& { return c.auth.acl_default; }, {"allow", "deny"}));
    t.push_back(string("auth.acl_deny_action", "ignore", true,
                       "On a denied PUBLISH: ignore (drop it; 5.0 gets 0x87 in the PUBACK/PUBREC) or disconnect the client.",
                       [](NodeConfig& c) -> auto& { return c.auth.acl_deny_action; }, {"ignore", "disconnect"}));
    t.push_back(integer("auth.max_failed_logins", 5, 0, 1000000, true,
                        "Failed logins from one address within failed_login_window_s after which it is refused (not authorized) without a check; 0: no limit.",
                        [](NodeConfig& c) -> auto& { return c.auth.max_failed_logins; }));
    t.push_back(integer("auth.failed_login_window_s", 60, 1, 86400, true,
                        "Seconds over which failed logins are counted, and for which an address stays refused.",
                        [](NodeConfig& c) -> auto& { return c.auth.failed_login_window; }));

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
    t.push_back(string("api.tls_cert", "", false,
                       "PEM certificate (with its chain) to serve the API over HTTPS; empty serves plain HTTP.",
                       [](NodeConfig& c) -> auto& { return c.api.tls_cert; }));
    t.push_back(string("api.tls_key", "", false, "PEM private key of api.tls_cert.",
                       [](NodeConfig& c) -> auto& { return c.api.tls_key; }));
    t.push_back(boolean("api.allow_anonymous", true, true,
                        "Whether a request without credentials acts as an admin (the console's files, POST /api/v1/auth/login and the health probes never need any). A production config should set false.",
                        [](NodeConfig& c) -> auto& { return c.auth.api_allow_anonymous; }));
    t.push_back(string_array("api.tokens", true,
                             "Bearer tokens accepted by the API (Authorization: Bearer <token>), each `<role>:<token>` with role viewer, operator or admin (`\"operator:9f2c...\"`), or a bare token, which is an admin's. HTTP basic auth and console logins are checked against the MQTT users ([[users]] role).",
                             [](NodeConfig& c) -> auto& { return c.auth.api_tokens; }));
    t.push_back(string("api.token_file", "", true,
                       "File of further API tokens, one per line as in api.tokens ('#' comments); empty for none.",
                       [](NodeConfig& c) -> auto& { return c.auth.api_token_file; }));
    t.push_back(integer("api.session_ttl_s", 28800, 60, 31536000, false,
                        "Seconds a console session (POST /api/v1/auth/login) lasts from its login.",
                        [](NodeConfig& c) -> auto& { return c.api.session_ttl; }));
    t.push_back(integer("api.session_idle_s", 0, 0, 31536000, false,
                        "Seconds without a request after which a console session ends; 0: only api.session_ttl_s ends it.",
                        [](NodeConfig& c) -> auto& { return c.api.session_idle; }));
    t.push_back(integer("api.max_sessions", 1000, 1, 1000000, false,
                        "Console sessions held at once; a login beyond it ends the oldest.",
                        [](NodeConfig& c) -> auto& { return c.api.max_sessions; }));
    t.push_back(integer("api.audit_max_rows", 100000, 10, 100000000, false,
                        "Entries the audit log (data_dir/audit.db, GET /api/v1/audit) keeps; the oldest go first.",
                        [](NodeConfig& c) -> auto& { return c.api.audit_max_rows; }));
    t.push_back(integer("api.audit_max_bytes", 67108864, 65536, 17179869184, false,
                        "Bytes of entries (their text and before/after) the audit log keeps; the oldest go first.",
                        [](NodeConfig& c) -> auto& { return c.api.audit_max_bytes; }));

    t.push_back(boolean("history.enabled", true, false,
                        "Whether tag readings are kept in data_dir/history.db and served on /api/v1/history.",
                        [](NodeConfig& c) -> auto& { return c.history.enabled; }));
    t.push_back(string("history.topic", "", false,
                       "Topic filter whose messages (readings in the `<bus.prefix>/data` JSON) go into the history; "
                       "empty: `<bus.prefix>/data/#`.",
                       [](NodeConfig& c) -> auto& { return c.history.topic; }));
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
                        "Milliseconds between the history's batched writes; a killed process loses the readings not yet "
                        "written, normally those of the last interval (aggregates stay consistent with the raw points).",
                        [](NodeConfig& c) -> auto& { return c.history.commit_interval; }));
    t.push_back(boolean("history.idle_priority", true, false,
                        "Whether the history's writer thread runs at idle priority (SCHED_IDLE): it takes only CPU "
                        "time no other thread wants, so its writes do not delay MQTT clients (their p99 under a plant's "
                        "load: BENCHMARKS.md). When other processes keep every core busy and it has left work waiting "
                        "for a second, a second thread does that work at normal priority for a few seconds "
                        "(ib_history_writer_rescues_total counts these). Off: the writer competes evenly.",
                        [](NodeConfig& c) -> auto& { return c.history.idle_priority; }));

    t.push_back(boolean("files.enabled", true, false,
                        "Whether the broker takes MQTT file transfers (`$file/...`, EMQX's protocol, docs/files.md) "
                        "into data_dir/files; off: `$file/` is a $-topic clients may not publish to.",
                        [](NodeConfig& c) -> auto& { return c.files.enabled; }));
    t.push_back(integer("files.max_total_bytes", 10737418240, 1048576, kI64Max, false,
                        "Bytes all stored files may take together; a transfer that would exceed it fails at init or fin.",
                        [](NodeConfig& c) -> auto& { return c.files.max_total_bytes; }));
    t.push_back(integer("files.max_file_bytes", 4294967296, 1, kI64Max, false,
                        "Largest file accepted, in bytes.",
                        [](NodeConfig& c) -> auto& { return c.files.max_file_bytes; }));
    t.push_back(integer("files.retention_h", 0, 0, 876000, false,
                        "Hours a stored file is kept (one a bridge has yet to forward stays); 0: until deleted.",
                        [](NodeConfig& c) -> auto& { return c.files.retention; }));
    t.push_back(integer("files.segments_ttl_s", 3600, 1, 31536000, false,
                        "Seconds an unfinished transfer waits for its next command before its segments are dropped "
                        "(a client's init may set its own segments_ttl).",
                        [](NodeConfig& c) -> auto& { return c.files.segments_ttl; }));
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
        case SettingType::StringArray: return "array of strings";
    }
    return "?";
}

std::string to_toml_literal(const SettingValue& value) {
    if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
    if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
    if (const auto* a = std::get_if<std::vector<std::string>>(&value)) {
        std::string out = "[";
        for (const auto& e : *a) out += (out.size() > 1 ? ", " : "") + quoted(e);
        return out + "]";
    }
    return quoted(std::get<std::string>(value));
}

}  // namespace ib::config
