// One MQTT client connection to an upstream broker, kept up for as long as the
// bridge runs: connect (with fail-over across servers), CONNECT/CONNACK,
// keep-alive, and reconnect with exponential back-off and jitter. It frames
// packets and hands them over; what they mean (QoS flows, queues) is the
// bridge's business. Asio stays in the .cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bridge/bridge_config.hpp"
#include "mqtt/codec/packet.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::bridge {

struct LinkEvents {
    // CONNACK accepted. Packets may be sent from here on.
    std::function<void(bool session_present, const mqtt::codec::Connack&)> connected;
    // Every packet after CONNACK but PINGRESP; views valid during the call.
    std::function<void(const mqtt::codec::Packet&)> packet;
    // The connection is gone (`was_connected`) or an attempt failed; a reconnect
    // is scheduled.
    std::function<void(const std::string& why, bool was_connected)> disconnected;
    // Output written: the bridge may send more.
    std::function<void()> writable;
    // Every packet of one read has been handed over: the place to send more,
    // once for all the acknowledgements the read carried.
    std::function<void()> read_done;
    // Asked before each CONNECT for the will it registers (none: nullopt). What
    // the will views must stay valid until the next call: a Sparkplug edge
    // node's NDEATH, whose bdSeq changes with every connection, lives there.
    std::function<std::optional<mqtt::codec::Will>()> will;
};

class MqttLink {
public:
    // Threading: everything runs on `io`, which must be run by one thread.
    MqttLink(boost::asio::io_context& io, const BridgeConfig& config, LinkEvents events);
    ~MqttLink();
    MqttLink(const MqttLink&) = delete;
    MqttLink& operator=(const MqttLink&) = delete;

    void start();
    // Sends DISCONNECT when connected, closes, and stops reconnecting.
    void stop();

    bool connected() const;
    mqtt::codec::Version version() const;
    // The buffer to encode packets into; flush() writes it out (one write for
    // everything encoded in a turn).
    std::vector<std::byte>& output();
    void flush();
    // Bytes encoded or being written and not yet taken by the kernel.
    std::size_t pending_output() const;
    // Closes the connection (a protocol violation by the upstream, say); it reconnects.
    void fail(const std::string& why);

    // "host:port" of the server in use or last tried.
    std::string server() const;
    uint64_t connects() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace ib::bridge
