// The in-process bus (DESIGN.md "One routing core"): drivers, rules, history and
// bridges publish and subscribe here with the same semantics as a network client,
// and see exactly what `mosquitto_sub -t '#'` sees. No sockets, no Asio here.
#pragma once

#include <cstdint>
#include <functional>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"
#include "mqtt/broker/message.hpp"
#include "mqtt/broker/subscription.hpp"

namespace ib::mqtt::broker {

struct PublishOptions {
    uint8_t qos = 0;
    bool retain = false;
    std::optional<uint32_t> message_expiry_interval;  // seconds
    std::optional<std::string_view> content_type;
    std::optional<std::string_view> response_topic;
    std::optional<Bytes> correlation_data;
};

// Called on the event loop that owns in-process subscribers (loop 0), once per
// matching message, in publish order per publisher.
using MessageHandler = std::function<void(const Message&)>;

class Router {
public:
    virtual ~Router() = default;

    // Thread-safe. Retained messages are stored as for a network PUBLISH. A
    // topic that a client could not publish to (wildcards, empty, invalid UTF-8,
    // deeper than max_topic_depth) is refused with a message saying why, and
    // reaches nobody.
    virtual std::expected<void, std::string> publish(std::string_view topic, Bytes payload,
                                                     const PublishOptions& options = {}) = 0;

    // Returns the subscriber's id; the handler receives every message matching
    // `filter` ("$share/g/f" allowed) from the moment this returns, and the
    // retained messages matching it right after. A malformed filter is refused
    // with a message saying why. Thread-safe.
    virtual std::expected<SubscriberId, std::string> subscribe(std::string_view filter,
                                                               MessageHandler handler) = 0;
    // As subscribe(), for a subscriber that makes each message durable (the
    // bridge's disk queue) in a task it posts on its loop from inside the
    // handler. A network client's PUBACK or PUBREC for a message that reached
    // such a subscriber is held until that task has run, so an acknowledged
    // message is on disk before its publisher may forget it.
    virtual std::expected<SubscriberId, std::string> subscribe_durable(std::string_view filter,
                                                                       MessageHandler handler) = 0;
    virtual void unsubscribe(SubscriberId id) = 0;

    // A durable subscriber that must hold publishers back (a bridge whose queue is
    // full under the push-back policy) closes the gate: acknowledgements held
    // for durable subscribers are then released only once `open()` returns true
    // again (it is asked on loop 0, every few milliseconds while closed). So a
    // QoS 1 publisher gets no PUBACK, and stops at its inflight window, while the
    // subscriber cannot keep what it was sent. One gate for the whole process.
    virtual void set_durable_gate(std::function<bool()> open) = 0;
};

}  // namespace ib::mqtt::broker
