// The in-process bus (DESIGN.md "One routing core"): drivers, rules, history and
// bridges publish and subscribe here with the same semantics as a network client,
// and see exactly what `mosquitto_sub -t '#'` sees. No sockets; Asio appears only
// as the forward-declared io_context a subscriber names as its handler's loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"
#include "mqtt/broker/message.hpp"
#include "mqtt/broker/subscription.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::mqtt::broker {

struct PublishOptions {
    uint8_t qos = 0;
    bool retain = false;
    std::optional<uint32_t> message_expiry_interval;  // seconds
    std::optional<std::string_view> content_type;
    std::optional<std::string_view> response_topic;
    std::optional<Bytes> correlation_data;
};

// Called on the loop the subscriber named, once per matching message, in
// publish order per publisher.
using MessageHandler = std::function<void(const Message&)>;

// The shared state behind DurableTicket: a count of the deliveries not yet made
// safe, and what to do when it reaches zero. The broker makes one per loop turn
// that routed a message to a durable subscriber, not one per message.
struct TicketState {
    std::atomic<uint32_t> refs{1};
    void (*done)(TicketState*) = nullptr;  // called once, by whoever drops the last ref
};

// A promise to a publisher: "this message will be on disk". A durable
// subscriber gets one with each message and completes it once the message is
// committed (or dropped and counted: a drop must not hold a publisher forever).
// Dropping the ticket completes it, so a ticket can never be leaked into a hang.
// Copying is one atomic increment; no allocation.
class DurableTicket {
public:
    DurableTicket() = default;
    explicit DurableTicket(TicketState* s) : s_(s) {
        if (s_) s_->refs.fetch_add(1, std::memory_order_relaxed);
    }
    DurableTicket(const DurableTicket& o) : DurableTicket(o.s_) {}
    DurableTicket(DurableTicket&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
    DurableTicket& operator=(DurableTicket o) noexcept {
        std::swap(s_, o.s_);
        return *this;
    }
    ~DurableTicket() { complete(); }
    // The message this ticket was given with is safe. Idempotent.
    void complete() {
        if (s_ && s_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) s_->done(s_);
        s_ = nullptr;
    }
    explicit operator bool() const { return s_ != nullptr; }

private:
    TicketState* s_ = nullptr;
};

using DurableHandler = std::function<void(const Message&, DurableTicket)>;

class Router {
public:
    virtual ~Router() = default;

    // Thread-safe. Retained messages are stored as for a network PUBLISH. A
    // topic that a client could not publish to (wildcards, empty, invalid UTF-8,
    // deeper than max_topic_depth) is refused with a message saying why, and
    // reaches nobody. Called on one of the broker's loops, the message is routed
    // there at once; from any other thread, on the first loop.
    virtual std::expected<void, std::string> publish(std::string_view topic, Bytes payload,
                                                     const PublishOptions& options = {}) = 0;

    // Returns the subscriber's id; `handler` runs on `loop` (one of the
    // broker's loops, else refused) and receives every message matching
    // `filter` ("$share/g/f" allowed) from the moment this returns, and the
    // retained messages matching it right after. Deliveries go to that loop
    // directly, from whichever loop routed them. A malformed filter is refused
    // with a message saying why. Thread-safe.
    virtual std::expected<SubscriberId, std::string> subscribe(std::string_view filter,
                                                               boost::asio::io_context& loop,
                                                               MessageHandler handler) = 0;
    // As subscribe(), for a subscriber that makes each message durable (the
    // bridge's disk queue): a network client's PUBACK or PUBREC for a message
    // that reached it is held until the ticket given with the message is
    // complete, so an acknowledged message is on disk before its publisher may
    // forget it.
    virtual std::expected<SubscriberId, std::string> subscribe_durable(std::string_view filter,
                                                                       boost::asio::io_context& loop,
                                                                       DurableHandler handler) = 0;
    virtual void unsubscribe(SubscriberId id) = 0;

    // A durable subscriber that must hold publishers back (a bridge whose queue is
    // full under the push-back policy) closes the gate: acknowledgements held
    // for durable subscribers are then released only once `open()` returns true
    // again (it is asked from the broker's loops, every few milliseconds while
    // closed, so it must be thread-safe). So a QoS 1 publisher gets no PUBACK,
    // and stops at its inflight window, while the subscriber cannot keep what it
    // was sent. One gate for the whole process.
    virtual void set_durable_gate(std::function<bool()> open) = 0;
};

}  // namespace ib::mqtt::broker
