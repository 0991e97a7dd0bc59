#include "mqtt/broker/message.hpp"

#include <atomic>
#include <cstring>
#include <new>

namespace ib::mqtt::broker {

namespace {

// Each thread takes serials in blocks, so building a message touches no
// counter that another shard writes.
uint64_t next_serial() {
    constexpr uint64_t kBlock = 1 << 16;
    static std::atomic<uint64_t> taken{0};
    thread_local uint64_t next = 0;
    thread_local uint64_t end = 0;
    if (next == end) {
        next = taken.fetch_add(kBlock, std::memory_order_relaxed) + 1;
        end = next + kBlock;
    }
    return next++;
}

}  // namespace

MessageRef::~MessageRef() {
    if (m_ && m_->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        m_->~Message();
        ::operator delete(static_cast<void*>(m_));
    }
}

MessageRef Message::make(const MessageInit& in, Clock::time_point now) {
    const std::size_t size = in.topic.size() + in.payload.size() +
                             (in.content_type ? in.content_type->size() : 0) +
                             (in.response_topic ? in.response_topic->size() : 0) +
                             (in.correlation_data ? in.correlation_data->size() : 0) +
                             in.user_properties_raw.size();
    void* mem = ::operator new(sizeof(Message) + size);
    auto* m = new (mem) Message();
    auto* data = reinterpret_cast<std::byte*>(m + 1);
    uint32_t off = 0;
    auto put = [&](const void* src, std::size_t n, uint32_t& at, uint32_t& len) {
        at = off;
        len = static_cast<uint32_t>(n);
        if (n) std::memcpy(data + off, src, n);
        off += static_cast<uint32_t>(n);
    };
    put(in.topic.data(), in.topic.size(), m->topic_off_, m->topic_len_);
    put(in.payload.data(), in.payload.size(), m->payload_off_, m->payload_len_);
    if (in.content_type) {
        m->has_content_type_ = true;
        put(in.content_type->data(), in.content_type->size(), m->content_type_off_,
            m->content_type_len_);
    }
    if (in.response_topic) {
        m->has_response_topic_ = true;
        put(in.response_topic->data(), in.response_topic->size(), m->response_topic_off_,
            m->response_topic_len_);
    }
    if (in.correlation_data) {
        m->has_correlation_ = true;
        put(in.correlation_data->data(), in.correlation_data->size(), m->correlation_off_,
            m->correlation_len_);
    }
    put(in.user_properties_raw.data(), in.user_properties_raw.size(), m->user_props_off_,
        m->user_props_len_);
    m->size_ = off;
    m->qos_ = in.qos;
    m->retain_ = in.retain;
    m->origin_ = in.origin;
    m->serial_ = next_serial();
    m->received_at_ = now;
    m->payload_format_ = in.payload_format_indicator;
    if (in.message_expiry_interval) {
        m->has_expiry_ = true;
        m->expires_at_ = now + std::chrono::seconds(*in.message_expiry_interval);
    }
    return MessageRef(m);
}

std::optional<uint32_t> Message::remaining_expiry(Clock::time_point now) const {
    if (!has_expiry_) return std::nullopt;
    if (now >= expires_at_) return 0;
    auto left = std::chrono::ceil<std::chrono::seconds>(expires_at_ - now).count();
    return static_cast<uint32_t>(left);
}

codec::Properties Message::properties(Clock::time_point now) const {
    codec::Properties p;
    p.payload_format_indicator = payload_format_;
    p.message_expiry_interval = remaining_expiry(now);
    if (has_content_type_) p.content_type = std::string_view(chars(content_type_off_), content_type_len_);
    if (has_response_topic_)
        p.response_topic = std::string_view(chars(response_topic_off_), response_topic_len_);
    if (has_correlation_) p.correlation_data = Bytes(bytes(correlation_off_), correlation_len_);
    p.user_properties_raw = Bytes(bytes(user_props_off_), user_props_len_);
    return p;
}

}  // namespace ib::mqtt::broker
