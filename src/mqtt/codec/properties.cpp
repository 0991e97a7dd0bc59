// MQTT 5.0 properties (§2.2.2): the table of identifiers, their types and the
// packets that may carry them, and the decoder and encoder built on it.
#include <cstring>

#include "core/assert.hpp"
#include "mqtt/codec/codec.hpp"

namespace ib::mqtt::codec {

namespace {

constexpr uint8_t kMalformed = reason::kMalformedPacket;
constexpr uint8_t kProtocolError = reason::kProtocolError;

// §2.2.2.2: the data type of each property's value.
enum class PropType : uint8_t { None, Byte, TwoByte, FourByte, Varint, String, Binary, StringPair };

// Scope bits: bit N for packet type N, bit kWillScope for Will Properties.
constexpr uint32_t bit(PacketType t) { return 1u << static_cast<uint8_t>(t); }
constexpr uint32_t kWill = 1u << detail::kWillScope;
constexpr uint32_t kConnect = bit(PacketType::Connect);
constexpr uint32_t kConnack = bit(PacketType::Connack);
constexpr uint32_t kPublish = bit(PacketType::Publish);
constexpr uint32_t kAcks = bit(PacketType::Puback) | bit(PacketType::Pubrec) |
                           bit(PacketType::Pubrel) | bit(PacketType::Pubcomp);
constexpr uint32_t kSubscribe = bit(PacketType::Subscribe);
constexpr uint32_t kSuback = bit(PacketType::Suback);
constexpr uint32_t kUnsubscribe = bit(PacketType::Unsubscribe);
constexpr uint32_t kUnsuback = bit(PacketType::Unsuback);
constexpr uint32_t kDisconnect = bit(PacketType::Disconnect);
constexpr uint32_t kAuth = bit(PacketType::Auth);
constexpr uint32_t kEverywhere = kConnect | kConnack | kPublish | kWill | kAcks | kSubscribe |
                                 kSuback | kUnsubscribe | kUnsuback | kDisconnect | kAuth;

struct PropInfo {
    PropType type = PropType::None;
    uint32_t scopes = 0;
};

// The table of §2.2.2.2, indexed by identifier; every identifier is below 0x30.
constexpr std::array<PropInfo, 0x30> make_table() {
    std::array<PropInfo, 0x30> t{};
    t[0x01] = {PropType::Byte, kPublish | kWill};
    t[0x02] = {PropType::FourByte, kPublish | kWill};
    t[0x03] = {PropType::String, kPublish | kWill};
    t[0x08] = {PropType::String, kPublish | kWill};
    t[0x09] = {PropType::Binary, kPublish | kWill};
    t[0x0B] = {PropType::Varint, kPublish | kSubscribe};
    t[0x11] = {PropType::FourByte, kConnect | kConnack | kDisconnect};
    t[0x12] = {PropType::String, kConnack};
    t[0x13] = {PropType::TwoByte, kConnack};
    t[0x15] = {PropType::String, kConnect | kConnack | kAuth};
    t[0x16] = {PropType::Binary, kConnect | kConnack | kAuth};
    t[0x17] = {PropType::Byte, kConnect};
    t[0x18] = {PropType::FourByte, kWill};
    t[0x19] = {PropType::Byte, kConnect};
    t[0x1A] = {PropType::String, kConnack};
    t[0x1C] = {PropType::String, kConnack | kDisconnect};
    t[0x1F] = {PropType::String, kConnack | kAcks | kSuback | kUnsuback | kDisconnect | kAuth};
    t[0x21] = {PropType::TwoByte, kConnect | kConnack};
    t[0x22] = {PropType::TwoByte, kConnect | kConnack};
    t[0x23] = {PropType::TwoByte, kPublish};
    t[0x24] = {PropType::Byte, kConnack};
    t[0x25] = {PropType::Byte, kConnack};
    t[0x26] = {PropType::StringPair, kEverywhere};
    t[0x27] = {PropType::FourByte, kConnect | kConnack};
    t[0x28] = {PropType::Byte, kConnack};
    t[0x29] = {PropType::Byte, kConnack};
    t[0x2A] = {PropType::Byte, kConnack};
    return t;
}
constexpr std::array<PropInfo, 0x30> kTable = make_table();

constexpr uint8_t kUserProperty = 0x26;
constexpr uint8_t kSubscriptionId = 0x0B;

// Size of one already-validated entry starting at raw[pos] (identifier
// included), or 0 when the bytes do not hold a complete known entry.
std::size_t entry_size(Bytes raw, std::size_t pos) {
    if (pos >= raw.size()) return 0;
    const auto id = static_cast<uint8_t>(raw[pos]);
    if (id >= kTable.size()) return 0;
    const std::size_t left = raw.size() - pos - 1;
    auto str_len = [&](std::size_t at) -> std::size_t {  // at: offset after the id
        if (left < at + 2) return SIZE_MAX;
        const std::size_t p = pos + 1 + at;
        return 2 + ((static_cast<std::size_t>(raw[p]) << 8) | static_cast<std::size_t>(raw[p + 1]));
    };
    std::size_t n = 0;
    switch (kTable[id].type) {
        case PropType::None: return 0;
        case PropType::Byte: n = 1; break;
        case PropType::TwoByte: n = 2; break;
        case PropType::FourByte: n = 4; break;
        case PropType::Varint:
            n = 0;
            while (n < 4 && n < left && (static_cast<uint8_t>(raw[pos + 1 + n]) & 0x80)) ++n;
            ++n;
            break;
        case PropType::String:
        case PropType::Binary: n = str_len(0); break;
        case PropType::StringPair: {
            const std::size_t k = str_len(0);
            if (k == SIZE_MAX) return 0;
            const std::size_t v = str_len(k);
            if (v == SIZE_MAX) return 0;
            n = k + v;
            break;
        }
    }
    if (n == SIZE_MAX || n > left) return 0;
    return 1 + n;
}

// Bytes the 0x26 entries of `raw` occupy; equal to raw.size() when the run is
// contiguous, which is the common case and lets the encoder copy it in one go.
std::size_t user_properties_wire_size(Bytes raw) {
    std::size_t total = 0;
    for (std::size_t pos = 0; pos < raw.size();) {
        const std::size_t n = entry_size(raw, pos);
        IB_ASSERT(n != 0, "user_properties_raw comes from the decoder or append_user_property");
        if (static_cast<uint8_t>(raw[pos]) == kUserProperty) total += n;
        pos += n;
    }
    return total;
}

Result<std::string_view> read_utf8(ByteReader& r, std::size_t base) {
    const std::size_t at = base + r.offset();
    auto len = r.u16();
    if (!len) return fail(kMalformed, at, "property string length truncated");
    auto bytes = r.take(*len);
    if (!bytes) return fail(kMalformed, at, "property string overruns its property length");
    auto s = as_string_view(*bytes);
    // [MQTT-1.5.4-1] [MQTT-1.5.4-2] ill-formed UTF-8 or U+0000 is a Malformed Packet.
    if (!valid_utf8(s)) return fail(kMalformed, at, "property string is not valid UTF-8");
    return s;
}

Result<Bytes> read_binary(ByteReader& r, std::size_t base) {
    const std::size_t at = base + r.offset();
    auto len = r.u16();
    if (!len) return fail(kMalformed, at, "property binary length truncated");
    auto bytes = r.take(*len);
    if (!bytes) return fail(kMalformed, at, "property binary data overruns its property length");
    return *bytes;
}

void put_varint(ByteWriter& w, uint32_t v) {
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        if (v) b |= 0x80;
        w.u8(b);
    } while (v);
}

void put_string(ByteWriter& w, std::string_view s) {
    IB_ASSERT(s.size() <= 0xFFFF, "strings we encode were bounded when they were accepted");
    w.u16(static_cast<uint16_t>(s.size()));
    w.bytes(s);
}

void put_binary(ByteWriter& w, Bytes b) {
    IB_ASSERT(b.size() <= 0xFFFF, "binary data we encode was bounded when it was accepted");
    w.u16(static_cast<uint16_t>(b.size()));
    w.bytes(b);
}

}  // namespace

std::size_t varint_size(uint32_t value) {
    if (value < 128) return 1;
    if (value < 16'384) return 2;
    if (value < 2'097'152) return 3;
    return 4;
}

void encode_varint(std::vector<std::byte>& out, uint32_t value) {
    IB_ASSERT(value <= kMaxRemainingLength, "a Variable Byte Integer holds at most 28 bits");
    ByteWriter w(out);
    put_varint(w, value);
}

bool Properties::empty() const {
    return !payload_format_indicator && !message_expiry_interval && !content_type &&
           !response_topic && !correlation_data && subscription_id_count == 0 &&
           !session_expiry_interval && !assigned_client_identifier && !server_keep_alive &&
           !authentication_method && !authentication_data && !request_problem_information &&
           !will_delay_interval && !request_response_information && !response_information &&
           !server_reference && !reason_string && !receive_maximum && !topic_alias_maximum &&
           !topic_alias && !maximum_qos && !retain_available && user_properties_raw.empty() &&
           !maximum_packet_size && !wildcard_subscription_available &&
           !subscription_identifier_available && !shared_subscription_available;
}

std::vector<UserProperty> user_properties(Bytes raw) {
    std::vector<UserProperty> out;
    for (std::size_t pos = 0; pos < raw.size();) {
        const std::size_t n = entry_size(raw, pos);
        if (n == 0) break;  // not from the decoder; stop rather than read past it
        if (static_cast<uint8_t>(raw[pos]) == kUserProperty) {
            ByteReader r(raw.subspan(pos + 1, n - 1));
            const uint16_t klen = *r.u16();
            const auto key = as_string_view(*r.take(klen));
            const uint16_t vlen = *r.u16();
            const auto value = as_string_view(*r.take(vlen));
            out.push_back({key, value});
        }
        pos += n;
    }
    return out;
}

void append_user_property(std::vector<std::byte>& raw, std::string_view key,
                          std::string_view value) {
    ByteWriter w(raw);
    w.u8(kUserProperty);
    put_string(w, key);
    put_string(w, value);
}

namespace detail {

Result<uint32_t> read_varint(ByteReader& r) {
    const std::size_t at = r.offset();
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
        auto b = r.u8();
        if (!b) return fail(kMalformed, at, "Variable Byte Integer truncated");
        value |= static_cast<uint32_t>(*b & 0x7F) << (7 * i);
        if ((*b & 0x80) == 0) {
            // [MQTT-1.5.5-1] the minimum number of bytes: a last byte of zero
            // after a continuation could have been left out.
            if (i > 0 && *b == 0) return fail(kMalformed, at, "Variable Byte Integer not minimal");
            return value;
        }
    }
    // §1.5.5: at most four bytes.
    return fail(kMalformed, at, "Variable Byte Integer longer than four bytes");
}

Result<Properties> decode_properties(ByteReader& r, uint8_t scope) {
    const std::size_t len_at = r.offset();
    auto len = read_varint(r);
    if (!len) return std::unexpected(len.error());
    // §2.2.2.1: the Property Length counts the bytes that follow it.
    auto body = r.take(*len);
    if (!body) return fail(kMalformed, len_at, "property length overruns the packet");
    const std::size_t base = len_at + varint_size(*len);
    ByteReader pr(*body);
    Properties p;
    uint64_t seen = 0;
    const std::byte* user_begin = nullptr;
    const std::byte* user_end = nullptr;
    while (!pr.empty()) {
        const std::size_t at = base + pr.offset();
        const uint8_t id = *pr.u8();
        // §2.2.2.2: an identifier not valid for the packet type is a Malformed Packet.
        // Identifiers are Variable Byte Integers, but every defined one fits in
        // one byte, so a byte with the high bit set names no known property.
        if (id >= kTable.size() || kTable[id].type == PropType::None) {
            return fail(kMalformed, at, "unknown property identifier");
        }
        if ((kTable[id].scopes & (1u << scope)) == 0) {
            return fail(kMalformed, at, "property not allowed in this packet");
        }
        // §2.2.2.2 / §3.x.2.x: "It is a Protocol Error to include <property> more
        // than once", except User Property and a server's PUBLISH Subscription
        // Identifiers (§3.3.4).
        const bool repeatable =
            id == kUserProperty ||
            (id == kSubscriptionId && scope == static_cast<uint8_t>(PacketType::Publish));
        if (!repeatable) {
            if (seen & (uint64_t{1} << id)) return fail(kProtocolError, at, "property repeated");
            seen |= uint64_t{1} << id;
        }

        auto byte01 = [&](std::optional<uint8_t>& field) -> Result<void> {
            auto v = pr.u8();
            if (!v) return fail(kMalformed, at, "property value truncated");
            // The boolean-like byte properties: "It is a Protocol Error to
            // include a value other than 0 or 1" (§3.1.2.11.6, §3.2.2.3.4 ...).
            if (*v > 1) return fail(kProtocolError, at, "property value must be 0 or 1");
            field = *v;
            return {};
        };
        auto two = [&](std::optional<uint16_t>& field, bool nonzero) -> Result<void> {
            auto v = pr.u16();
            if (!v) return fail(kMalformed, at, "property value truncated");
            // A Receive Maximum of 0 (§3.1.2.11.3) and a Topic Alias of 0
            // ([MQTT-3.3.2-8], §3.3.2.3.4) are a Protocol Error.
            if (nonzero && *v == 0) return fail(kProtocolError, at, "property value must not be 0");
            field = *v;
            return {};
        };
        auto four = [&](std::optional<uint32_t>& field, bool nonzero) -> Result<void> {
            auto v = pr.u32();
            if (!v) return fail(kMalformed, at, "property value truncated");
            // §3.1.2.11.4: a Maximum Packet Size of 0 is a Protocol Error.
            if (nonzero && *v == 0) return fail(kProtocolError, at, "property value must not be 0");
            field = *v;
            return {};
        };
        auto str = [&](std::optional<std::string_view>& field) -> Result<void> {
            auto v = read_utf8(pr, base);
            if (!v) return std::unexpected(v.error());
            field = *v;
            return {};
        };
        auto bin = [&](std::optional<Bytes>& field) -> Result<void> {
            auto v = read_binary(pr, base);
            if (!v) return std::unexpected(v.error());
            field = *v;
            return {};
        };

        Result<void> ok;
        switch (id) {
            case 0x01: ok = byte01(p.payload_format_indicator); break;
            case 0x02: ok = four(p.message_expiry_interval, false); break;
            case 0x03: ok = str(p.content_type); break;
            case 0x08:
                ok = str(p.response_topic);
                // [MQTT-3.3.2-14] the Response Topic is a topic name: no wildcards.
                if (ok && !valid_topic_name(*p.response_topic)) {
                    return fail(kProtocolError, at, "response topic is not a valid topic name");
                }
                break;
            case 0x09: ok = bin(p.correlation_data); break;
            case 0x0B: {
                auto v = read_varint(pr);
                if (!v) return fail(kMalformed, at, "subscription identifier malformed");
                // §3.3.2.3.8 / §3.8.2.1.2: "It is a Protocol Error if the
                // Subscription Identifier has a value of 0".
                if (*v == 0) return fail(kProtocolError, at, "subscription identifier 0");
                // A server's PUBLISH may carry one per matching subscription;
                // beyond kMaxSubscriptionIds the rest are dropped (documented in
                // packet.hpp).
                if (p.subscription_id_count < Properties::kMaxSubscriptionIds) {
                    p.subscription_ids[p.subscription_id_count++] = *v;
                }
                break;
            }
            case 0x11: ok = four(p.session_expiry_interval, false); break;
            case 0x12: ok = str(p.assigned_client_identifier); break;
            case 0x13: ok = two(p.server_keep_alive, false); break;
            case 0x15: ok = str(p.authentication_method); break;
            case 0x16: ok = bin(p.authentication_data); break;
            case 0x17: ok = byte01(p.request_problem_information); break;
            case 0x18: ok = four(p.will_delay_interval, false); break;
            case 0x19: ok = byte01(p.request_response_information); break;
            case 0x1A: ok = str(p.response_information); break;
            case 0x1C: ok = str(p.server_reference); break;
            case 0x1F: ok = str(p.reason_string); break;
            case 0x21: ok = two(p.receive_maximum, true); break;
            case 0x22: ok = two(p.topic_alias_maximum, false); break;
            case 0x23: ok = two(p.topic_alias, true); break;
            case 0x24: ok = byte01(p.maximum_qos); break;
            case 0x25: ok = byte01(p.retain_available); break;
            case 0x26: {
                std::optional<std::string_view> key, value;
                ok = str(key);
                if (ok) ok = str(value);
                if (ok) {
                    if (!user_begin) user_begin = body->data() + (at - base);
                    user_end = body->data() + pr.offset();
                }
                break;
            }
            case 0x27: ok = four(p.maximum_packet_size, true); break;
            case 0x28: ok = byte01(p.wildcard_subscription_available); break;
            case 0x29: ok = byte01(p.subscription_identifier_available); break;
            case 0x2A: ok = byte01(p.shared_subscription_available); break;
            default: return fail(kMalformed, at, "unknown property identifier");
        }
        if (!ok) return std::unexpected(ok.error());
    }
    if (user_begin) {
        p.user_properties_raw = Bytes(user_begin, static_cast<std::size_t>(user_end - user_begin));
    }
    // §3.1.2.11.10 / §3.15.2.2.3: "It is a Protocol Error to include
    // Authentication Data if there is no Authentication Method".
    if (p.authentication_data && !p.authentication_method) {
        return fail(kProtocolError, len_at, "authentication data without authentication method");
    }
    return p;
}

std::size_t properties_size(const Properties& p) {
    std::size_t n = 0;
    auto s = [](const std::optional<std::string_view>& v) { return v ? 3 + v->size() : 0; };
    auto b = [](const std::optional<Bytes>& v) { return v ? 3 + v->size() : 0; };
    if (p.payload_format_indicator) n += 2;
    if (p.message_expiry_interval) n += 5;
    n += s(p.content_type) + s(p.response_topic) + b(p.correlation_data);
    for (uint8_t i = 0; i < p.subscription_id_count; ++i) n += 1 + varint_size(p.subscription_ids[i]);
    if (p.session_expiry_interval) n += 5;
    n += s(p.assigned_client_identifier);
    if (p.server_keep_alive) n += 3;
    n += s(p.authentication_method) + b(p.authentication_data);
    if (p.request_problem_information) n += 2;
    if (p.will_delay_interval) n += 5;
    if (p.request_response_information) n += 2;
    n += s(p.response_information) + s(p.server_reference) + s(p.reason_string);
    if (p.receive_maximum) n += 3;
    if (p.topic_alias_maximum) n += 3;
    if (p.topic_alias) n += 3;
    if (p.maximum_qos) n += 2;
    if (p.retain_available) n += 2;
    if (!p.user_properties_raw.empty()) n += user_properties_wire_size(p.user_properties_raw);
    if (p.maximum_packet_size) n += 5;
    if (p.wildcard_subscription_available) n += 2;
    if (p.subscription_identifier_available) n += 2;
    if (p.shared_subscription_available) n += 2;
    return n;
}

void encode_properties(std::vector<std::byte>& out, const Properties& p) {
    ByteWriter w(out);
    put_varint(w, static_cast<uint32_t>(properties_size(p)));
    auto u8p = [&](uint8_t id, const std::optional<uint8_t>& v) {
        if (v) { w.u8(id); w.u8(*v); }
    };
    auto u16p = [&](uint8_t id, const std::optional<uint16_t>& v) {
        if (v) { w.u8(id); w.u16(*v); }
    };
    auto u32p = [&](uint8_t id, const std::optional<uint32_t>& v) {
        if (v) { w.u8(id); w.u32(*v); }
    };
    auto strp = [&](uint8_t id, const std::optional<std::string_view>& v) {
        if (v) { w.u8(id); put_string(w, *v); }
    };
    auto binp = [&](uint8_t id, const std::optional<Bytes>& v) {
        if (v) { w.u8(id); put_binary(w, *v); }
    };
    u8p(0x01, p.payload_format_indicator);
    u32p(0x02, p.message_expiry_interval);
    strp(0x03, p.content_type);
    strp(0x08, p.response_topic);
    binp(0x09, p.correlation_data);
    for (uint8_t i = 0; i < p.subscription_id_count; ++i) {
        w.u8(kSubscriptionId);
        put_varint(w, p.subscription_ids[i]);
    }
    u32p(0x11, p.session_expiry_interval);
    strp(0x12, p.assigned_client_identifier);
    u16p(0x13, p.server_keep_alive);
    strp(0x15, p.authentication_method);
    binp(0x16, p.authentication_data);
    u8p(0x17, p.request_problem_information);
    u32p(0x18, p.will_delay_interval);
    u8p(0x19, p.request_response_information);
    strp(0x1A, p.response_information);
    strp(0x1C, p.server_reference);
    strp(0x1F, p.reason_string);
    u16p(0x21, p.receive_maximum);
    u16p(0x22, p.topic_alias_maximum);
    u16p(0x23, p.topic_alias);
    u8p(0x24, p.maximum_qos);
    u8p(0x25, p.retain_available);
    if (!p.user_properties_raw.empty()) {
        const Bytes raw = p.user_properties_raw;
        if (user_properties_wire_size(raw) == raw.size()) {
            w.bytes(raw);  // contiguous run: forwarded verbatim
        } else {
            // Other properties were interleaved; they were written above from
            // their fields, so copy only the 0x26 entries.
            for (std::size_t pos = 0; pos < raw.size();) {
                const std::size_t n = entry_size(raw, pos);
                if (static_cast<uint8_t>(raw[pos]) == kUserProperty) w.bytes(raw.subspan(pos, n));
                pos += n;
            }
        }
    }
    u32p(0x27, p.maximum_packet_size);
    u8p(0x28, p.wildcard_subscription_available);
    u8p(0x29, p.subscription_identifier_available);
    u8p(0x2A, p.shared_subscription_available);
}

}  // namespace detail

}  // namespace ib::mqtt::codec
