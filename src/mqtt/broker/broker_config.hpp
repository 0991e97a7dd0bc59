// The broker's typed settings, filled by the config module from the TOML file
// (or the embedded default). The broker never reads files or globals.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ib::mqtt::broker {

struct ListenerConfig {
    std::string name = "default";
    std::string bind_address = "0.0.0.0";
    uint16_t port = 1883;  // 0: pick a free port (tests)
    uint32_t max_connections = 100'000;
    // Transport: "tcp", "tls", "ws" (MQTT over WebSocket) or "wss" (over TLS).
    std::string transport = "tcp";
    std::string tls_cert;  // PEM files, checked at load and reloaded when they change
    std::string tls_key;
    std::string tls_ca;    // CAs client certificates are verified against (mTLS)
    bool tls_require_client_cert = false;
    bool tls_cn_as_username = false;  // the verified client certificate's CN is the username
    std::string tls_min_version = "1.2";
    std::string ws_path = "/mqtt";
    // Overrides BrokerConfig::allow_anonymous for this listener when set.
    std::optional<bool> allow_anonymous;
};

struct BrokerConfig {
    std::vector<ListenerConfig> listeners{ListenerConfig{}};
    // Event loops; 0 means one per core.
    uint32_t threads = 0;
    // Largest packet accepted from a client, in bytes (also sent as the 5.0
    // Maximum Packet Size property).
    uint32_t max_packet_size = 1024 * 1024;
    // Inflight QoS 1/2 messages to one client (our Receive Maximum as sender).
    uint16_t max_inflight = 64;
    // Our Receive Maximum as receiver, announced in CONNACK.
    uint16_t receive_maximum = 1024;
    // Queue limits per session for messages not yet sent.
    uint32_t max_queued_messages = 10'000;
    uint64_t max_queued_bytes = 64ull * 1024 * 1024;
    uint32_t max_subscriptions_per_client = 10'000;
    uint32_t max_topic_depth = 64;
    // Retained messages kept in all; bounds what clients can make the broker hold.
    uint32_t max_retained_messages = 100'000;
    uint16_t topic_alias_maximum = 64;
    // Upper bound on Session Expiry Interval granted to clients, seconds.
    uint32_t max_session_expiry = 7 * 24 * 3600;
    std::chrono::milliseconds connect_timeout{10'000};
    // Keep-alive the server imposes when a client asks for 0 or more; 0: accept.
    uint16_t server_keep_alive = 0;
    bool retain_available = true;
    uint8_t maximum_qos = 2;
    bool allow_anonymous = true;
    std::chrono::seconds sys_interval{10};
    // Persistent sessions and retained messages kept in data_dir/sessions.db.
    bool persistence = false;
};

}  // namespace ib::mqtt::broker
