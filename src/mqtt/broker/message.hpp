// An application message as the router carries it: immutable once built, one
// allocation holding topic, payload and the 5.0 properties that travel with it,
// shared by reference among every session it is queued for. Copying a MessageRef
// bumps an atomic count; the payload itself is copied once, when built.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "core/bytes.hpp"
#include "mqtt/codec/packet.hpp"

namespace ib::mqtt::broker {

using Clock = std::chrono::steady_clock;

class Message;

class MessageRef {
public:
    MessageRef() = default;
    explicit MessageRef(Message* m) : m_(m) {}
    MessageRef(const MessageRef& o);
    MessageRef(MessageRef&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
    MessageRef& operator=(MessageRef o) noexcept {
        std::swap(m_, o.m_);
        return *this;
    }
    ~MessageRef();

    const Message* get() const { return m_; }
    const Message* operator->() const { return m_; }
    const Message& operator*() const { return *m_; }
    explicit operator bool() const { return m_ != nullptr; }

private:
    Message* m_ = nullptr;
};

// Who published a message: no-local compares it with the receiving session.
using OriginId = uint64_t;

struct MessageInit {
    std::string_view topic;
    Bytes payload;
    uint8_t qos = 0;
    bool retain = false;
    OriginId origin = 0;
    // 5.0 properties forwarded to receivers unchanged (§3.3.2.3).
    std::optional<uint8_t> payload_format_indicator;
    std::optional<uint32_t> message_expiry_interval;  // seconds
    std::optional<std::string_view> content_type;
    std::optional<std::string_view> response_topic;
    std::optional<Bytes> correlation_data;
    Bytes user_properties_raw;

    // No 5.0 property to forward: a receiver's PUBLISH carries only the topic and payload.
    bool plain() const {
        return !payload_format_indicator && !message_expiry_interval && !content_type && !response_topic &&
               !correlation_data && user_properties_raw.empty();
    }

    // Takes the properties above from a received PUBLISH or will.
    void forward_properties(const codec::Properties& p) {
        payload_format_indicator = p.payload_format_indicator;
        message_expiry_interval = p.message_expiry_interval;
        content_type = p.content_type;
        response_topic = p.response_topic;
        correlation_data = p.correlation_data;
        user_properties_raw = p.user_properties_raw;
    }
};

class Message {
public:
    static MessageRef make(const MessageInit& init, Clock::time_point now);

    std::string_view topic() const { return {chars(topic_off_), topic_len_}; }
    Bytes payload() const { return {bytes(payload_off_), payload_len_}; }
    uint8_t qos() const { return qos_; }
    bool retain() const { return retain_; }
    OriginId origin() const { return origin_; }
    // Never the same for two messages of this process, even when one is built
    // where another was freed: a cache of what was encoded for a message is
    // keyed by it without holding a reference (Shard::repeated_publish).
    uint64_t serial() const { return serial_; }
    Clock::time_point received_at() const { return received_at_; }

    // §3.3.2.3.3: a message whose expiry has passed is not delivered; when it is,
    // the interval sent on is what remains.
    bool expired(Clock::time_point now) const { return has_expiry_ && now >= expires_at_; }
    bool has_expiry() const { return has_expiry_; }
    std::optional<uint32_t> remaining_expiry(Clock::time_point now) const;

    // The properties to put on an outgoing 5.0 PUBLISH (without alias or
    // subscription identifiers, which depend on the receiver).
    codec::Properties properties(Clock::time_point now) const;

    // Size counted against a session's queued-bytes limit.
    std::size_t footprint() const { return sizeof(Message) + size_; }
    // Another reference to this message, for an in-process handler that keeps it
    // past its call (the history's writer thread): no copy of the payload.
    MessageRef ref() const;

private:
    friend class MessageRef;
    Message() = default;
    const char* chars(uint32_t off) const { return reinterpret_cast<const char*>(this + 1) + off; }
    const std::byte* bytes(uint32_t off) const {
        return reinterpret_cast<const std::byte*>(this + 1) + off;
    }

    mutable std::atomic<uint32_t> refs_{1};
    uint32_t size_ = 0;  // bytes stored after the header
    uint32_t topic_off_ = 0, topic_len_ = 0;
    uint32_t payload_off_ = 0, payload_len_ = 0;
    uint32_t content_type_off_ = 0, content_type_len_ = 0;
    uint32_t response_topic_off_ = 0, response_topic_len_ = 0;
    uint32_t correlation_off_ = 0, correlation_len_ = 0;
    uint32_t user_props_off_ = 0, user_props_len_ = 0;
    OriginId origin_ = 0;
    uint64_t serial_ = 0;
    Clock::time_point received_at_{};
    Clock::time_point expires_at_{};
    uint8_t qos_ = 0;
    bool retain_ = false;
    bool has_expiry_ = false;
    bool has_content_type_ = false;
    bool has_response_topic_ = false;
    bool has_correlation_ = false;
    std::optional<uint8_t> payload_format_;
};

inline MessageRef::MessageRef(const MessageRef& o) : m_(o.m_) {
    if (m_) m_->refs_.fetch_add(1, std::memory_order_relaxed);
}

inline MessageRef Message::ref() const {
    refs_.fetch_add(1, std::memory_order_relaxed);
    return MessageRef(const_cast<Message*>(this));
}

}  // namespace ib::mqtt::broker
