// The controller's connection to the cloud broker: one bridge::MqttLink (the
// same client the bridges use; no third MQTT client), subscribed to every edge's
// state and status and to the controller's own reply topic. It reads the
// retained states at open, publishes QoS 1 (with an MQTT 5 response topic and
// correlation data when asked), and hands every message it receives to the
// caller. Blocking: it runs its own io_context until a condition holds or a
// deadline passes. Asio stays in the .cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "fleet_ctl/fleet_messages.hpp"

namespace ib::fleet_ctl {

struct BrokerOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 1883;
    std::string username;
    std::string password;
    bool tls = false;
    std::string ca_file;  // empty: the system's CAs
    std::string root = std::string(kDefaultRoot);
};

// "host[:port]" into the options; the port defaults to 1883 (8883 with TLS).
std::expected<void, std::string> parse_broker_address(std::string_view text, BrokerOptions& options);

struct Incoming {
    std::string topic;
    std::string payload;
    std::string correlation;  // empty when none
    bool retained = false;
    // A state message the session took into edges(): that edge's site/edge key.
    std::string state_of;
};

class FleetSession {
public:
    explicit FleetSession(BrokerOptions options);
    ~FleetSession();
    FleetSession(const FleetSession&) = delete;
    FleetSession& operator=(const FleetSession&) = delete;

    // Connects, subscribes, and reads every retained state, status and desired (a marker sent to
    // our own reply topic after the subscription comes back behind them).
    // Errors: "cannot connect to 127.0.0.1:1883: Connection refused".
    // `give_up` (checked about every 50 ms) ends the wait early: a node that
    // stops must not wait out the timeout of a broker that does not answer.
    std::expected<void, std::string> open(std::chrono::milliseconds timeout,
                                          const std::function<bool()>& give_up = {});

    // Every edge a retained (or live) state message named, by site/edge.
    const std::map<std::string, EdgeState>& edges() const;
    // The highest revision any state, status or retained desired message named:
    // an edge refuses a revision it has seen, even one it refused, and only
    // the status says so.
    int64_t highest_revision() const;
    // The topic the edges answer requests on (the MQTT 5 response topic).
    const std::string& reply_topic() const;

    // QoS 1; with `correlation`, the response topic and correlation data too.
    void publish(const std::string& topic, const std::string& payload, bool retain,
                 const std::string& correlation = "");
    // Called for every message but our own markers, after the states are updated.
    void on_message(std::function<void(const Incoming&)> handler);
    // Runs until `done()` holds or `deadline`; false when the deadline passed or
    // the connection failed (error() says why). `tick` runs about every 200 ms.
    bool run_until(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline,
                   const std::function<void()>& tick = {});
    // Waits (up to `timeout`) for the broker's PUBACKs of everything published,
    // then disconnects. False when some were not acknowledged.
    bool close(std::chrono::milliseconds timeout);
    const std::string& error() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ib::fleet_ctl
