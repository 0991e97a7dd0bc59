// What one bridge to an upstream MQTT broker is configured with: where to connect,
// which local topics go up (forwards), which remote topics come down
// (subscriptions), and the limits of its disk queue. Produced by its key table
// (bridge/bridge_settings) through the config loader; the bridge never reads files.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ib::bridge {

struct ServerAddress {
    std::string host;
    uint16_t port = 1883;
    bool operator==(const ServerAddress&) const = default;
};

// A local topic filter whose messages are sent upstream. `remote` is a topic
// template: ${topic} is the whole local topic, ${1}..${N} its levels.
struct ForwardRule {
    std::string local;
    std::string remote = "${topic}";
    uint8_t qos = 1;
    bool operator==(const ForwardRule&) const = default;
};

// A remote topic filter whose messages are published locally, e.g. commands:
// remote "factory1/write/+" to local "ib/write/${3}".
struct SubscriptionRule {
    std::string remote;
    std::string local = "${topic}";
    uint8_t qos = 1;
    bool operator==(const SubscriptionRule&) const = default;
};

struct TlsConfig {
    bool enabled = false;
    // PEM file of the CA(s) the upstream's certificate must chain to; empty: the
    // system's trusted CAs.
    std::string ca_file;
    // Client certificate and key (PEM) for brokers that require mTLS.
    std::string cert_file;
    std::string key_file;
    // Whether the upstream's certificate and host name are checked. Off only for tests.
    bool verify = true;
    bool operator==(const TlsConfig&) const = default;
};

// When the queue reaches max_queue_bytes: drop its oldest unsent messages, refuse
// new ones, or hold new ones in memory and withhold local QoS 1/2 publishers'
// acknowledgements until there is room (Router::set_durable_gate).
enum class QueueFullPolicy : uint8_t { DropOldest, DropNew, PushBack };

struct BridgeConfig {
    std::string name;
    bool enabled = true;
    // Tried in order; the next one after each failed attempt.
    std::vector<ServerAddress> servers;
    // 4 (3.1.1) or 5 (5.0): the CONNECT protocol level.
    uint8_t protocol = 5;
    std::string client_id;  // empty: the node's default (Bridge, default_client_id)
    std::string username;
    std::string password;
    TlsConfig tls;
    std::chrono::seconds keep_alive{30};
    // After a reconnect, false keeps the upstream session: remote subscriptions,
    // and commands queued for us while the link was down.
    bool clean_start = false;
    // MQTT 5: how long the upstream keeps our session while we are away.
    uint32_t session_expiry_s = 86400;
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds reconnect_min{500};
    std::chrono::milliseconds reconnect_max{30000};
    // QoS 1/2 messages sent and not yet acknowledged by the upstream.
    uint32_t inflight = 256;
    uint64_t max_queue_bytes = 1ull << 30;
    // Messages older than this leave the queue unsent (counted); 0: no age limit.
    std::chrono::seconds max_queue_age{0};
    QueueFullPolicy queue_full = QueueFullPolicy::DropOldest;
    // Whether QoS 0 forwards are kept while the link is down (else dropped, counted).
    bool queue_qos0 = true;
    std::vector<ForwardRule> forwards;
    std::vector<SubscriptionRule> subscriptions;
    // Files received over MQTT go upstream too (bridge/file_forwarder.hpp).
    bool forward_files = false;
    bool keep_forwarded_files = false;
    uint32_t file_segment_bytes = 256 * 1024;

    // The last will of the upstream connection: set by the fleet on its bridge
    // (its "offline" state, docs/fleet.md), not a key of the file. Empty topic: none.
    std::string will_topic;
    std::string will_payload;
    bool will_retain = false;
    uint8_t will_qos = 0;

    // Whether two configurations are the same bridge (a fleet revision restarts a changed one).
    bool operator==(const BridgeConfig&) const = default;
};

}  // namespace ib::bridge
