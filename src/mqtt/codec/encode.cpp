// Encoding: each packet's Remaining Length is computed first, the output grown
// once, and the fields written straight into it; no temporary buffers. These are
// our own writes, so bounds are asserted rather than returned as errors.
#include <algorithm>
#include <cstring>
#include "core/assert.hpp"
#include "mqtt/codec/codec.hpp"

namespace ib::mqtt::codec {

namespace {

std::size_t str_size(std::string_view s) { return 2 + s.size(); }
std::size_t bin_size(Bytes b) { return 2 + b.size(); }

// Property Length plus the properties, from their size or from the properties.
std::size_t props_block_size(std::size_t properties) {
    return varint_size(static_cast<uint32_t>(properties)) + properties;
}
std::size_t props_block_size(const Properties& p) { return props_block_size(detail::properties_size(p)); }

void put_string(ByteWriter& w, std::string_view s) {
    IB_ASSERT(s.size() <= 0xFFFF, "MQTT strings are at most 65535 bytes (§1.5.4)");
    w.u16(static_cast<uint16_t>(s.size()));
    w.bytes(s);
}

void put_binary(ByteWriter& w, Bytes b) {
    IB_ASSERT(b.size() <= 0xFFFF, "MQTT binary data is at most 65535 bytes (§1.5.6)");
    w.u16(static_cast<uint16_t>(b.size()));
    w.bytes(b);
}

// Writes the fixed header after reserving room for the whole packet, so the
// body's writes never reallocate.
void put_header(std::vector<std::byte>& out, uint8_t first_byte, std::size_t remaining) {
    IB_ASSERT(remaining <= kMaxRemainingLength, "packet exceeds the largest Remaining Length");
    const auto rl = static_cast<uint32_t>(remaining);
    // Grow geometrically: reserving the exact size packet after packet would
    // reallocate and copy the whole buffer for every packet appended to it.
    const std::size_t needed = out.size() + 1 + varint_size(rl) + remaining;
    if (needed > out.capacity()) out.reserve(std::max(needed, 2 * out.capacity()));
    out.push_back(static_cast<std::byte>(first_byte));
    encode_varint(out, rl);
}

uint8_t type_byte(PacketType t) { return static_cast<uint8_t>(static_cast<uint8_t>(t) << 4); }

// The size of a PUBLISH's properties, without their length; 0 for 3.1.1.
std::size_t publish_properties_size(const Publish& p, Version version) {
    return version == Version::V5 ? detail::properties_size(p.properties) : 0;
}

std::size_t publish_remaining(const Publish& p, Version version, std::size_t properties) {
    std::size_t n = str_size(p.topic) + p.payload.size();
    if (p.qos > 0) n += 2;
    if (version == Version::V5) n += props_block_size(properties);
    return n;
}

}  // namespace

void encode(std::vector<std::byte>& out, const Connect& p) {
    const bool v5 = p.version == Version::V5;
    // The level decides the name: 3.1 spoke "MQIsdp", later levels "MQTT".
    const std::string_view name = p.version == Version::V31 ? "MQIsdp" : "MQTT";
    std::size_t n = str_size(name) + 1 + 1 + 2 + str_size(p.client_id);
    if (v5) n += props_block_size(p.properties);
    uint8_t flags = p.clean_start ? 0x02 : 0x00;
    if (p.will) {
        IB_ASSERT(p.will->qos <= 2, "Will QoS is 0, 1 or 2");
        flags |= 0x04 | static_cast<uint8_t>(p.will->qos << 3) | (p.will->retain ? 0x20 : 0);
        n += str_size(p.will->topic) + bin_size(p.will->payload);
        if (v5) n += props_block_size(p.will->properties);
    }
    if (p.username) {
        flags |= 0x80;
        n += str_size(*p.username);
    }
    if (p.password) {
        flags |= 0x40;
        n += bin_size(*p.password);
    }
    put_header(out, type_byte(PacketType::Connect), n);
    ByteWriter w(out);
    put_string(w, name);
    w.u8(static_cast<uint8_t>(p.version));
    w.u8(flags);
    w.u16(p.keep_alive);
    if (v5) detail::encode_properties(out, p.properties);
    put_string(w, p.client_id);
    if (p.will) {
        if (v5) detail::encode_properties(out, p.will->properties);
        put_string(w, p.will->topic);
        put_binary(w, p.will->payload);
    }
    if (p.username) put_string(w, *p.username);
    if (p.password) put_binary(w, *p.password);
}

void encode(std::vector<std::byte>& out, const Connack& p, Version version) {
    const bool v5 = version == Version::V5;
    put_header(out, type_byte(PacketType::Connack), 2 + (v5 ? props_block_size(p.properties) : 0));
    ByteWriter w(out);
    w.u8(p.session_present ? 1 : 0);
    w.u8(p.reason_code);
    if (v5) detail::encode_properties(out, p.properties);
}

std::size_t encoded_size(const Publish& p, Version version) {
    const std::size_t n = publish_remaining(p, version, publish_properties_size(p, version));
    return 1 + varint_size(static_cast<uint32_t>(n)) + n;
}

void encode(std::vector<std::byte>& out, const Publish& p, Version version) {
    IB_ASSERT(p.qos <= 2, "PUBLISH QoS is 0, 1 or 2");
    IB_ASSERT(p.topic.size() <= 0xFFFF, "MQTT strings are at most 65535 bytes (§1.5.4)");
    const uint8_t first = type_byte(PacketType::Publish) | (p.dup ? 0x08 : 0) |
                          static_cast<uint8_t>(p.qos << 1) | (p.retain ? 0x01 : 0);
    const std::size_t properties = publish_properties_size(p, version);
    const std::size_t remaining = publish_remaining(p, version, properties);
    put_header(out, first, remaining);
    if (properties != 0) {
        ByteWriter w(out);
        put_string(w, p.topic);
        if (p.qos > 0) w.u16(p.packet_id);
        detail::encode_properties(out, p.properties);
        w.bytes(p.payload);
        return;
    }
    // A PUBLISH without properties, nearly every one a broker sends: its
    // fields are copied into room made once (put_header reserved it), not
    // appended one by one, which was a tenth of a 1→1 delivery's time.
    const std::size_t at = out.size();
    out.resize(at + remaining);
    std::byte* w = out.data() + at;
    const auto put_u16 = [&w](std::size_t v) {
        w[0] = static_cast<std::byte>(v >> 8);
        w[1] = static_cast<std::byte>(v & 0xFF);
        w += 2;
    };
    put_u16(p.topic.size());
    if (!p.topic.empty()) std::memcpy(w, p.topic.data(), p.topic.size());
    w += p.topic.size();
    if (p.qos > 0) put_u16(p.packet_id);
    if (version == Version::V5) *w++ = std::byte{0};  // Property Length: none
    if (!p.payload.empty()) std::memcpy(w, p.payload.data(), p.payload.size());
}

void encode(std::vector<std::byte>& out, const Ack& p, Version version) {
    // [MQTT-3.6.1-1] PUBREL carries flags 0b0010; the other acks 0.
    const uint8_t first = type_byte(p.type) | (p.type == PacketType::Pubrel ? 0x02 : 0);
    ByteWriter w(out);
    if (version != Version::V5) {
        put_header(out, first, 2);
        w.u16(p.packet_id);
        return;
    }
    // §3.4.2.1: the shortest form that says the same thing.
    const bool no_props = p.properties.empty();
    if (no_props && p.reason_code == reason::kSuccess) {
        put_header(out, first, 2);
        w.u16(p.packet_id);
    } else if (no_props) {
        put_header(out, first, 3);
        w.u16(p.packet_id);
        w.u8(p.reason_code);
    } else {
        put_header(out, first, 3 + props_block_size(p.properties));
        w.u16(p.packet_id);
        w.u8(p.reason_code);
        detail::encode_properties(out, p.properties);
    }
}

void encode(std::vector<std::byte>& out, const Subscribe& p, Version version) {
    IB_ASSERT(!p.topics.empty(), "[MQTT-3.8.3-2] a SUBSCRIBE carries at least one filter");
    const bool v5 = version == Version::V5;
    std::size_t n = 2 + (v5 ? props_block_size(p.properties) : 0);
    for (const auto& t : p.topics) n += str_size(t.filter) + 1;
    // [MQTT-3.8.1-1] SUBSCRIBE carries flags 0b0010.
    put_header(out, type_byte(PacketType::Subscribe) | 0x02, n);
    ByteWriter w(out);
    w.u16(p.packet_id);
    if (v5) detail::encode_properties(out, p.properties);
    for (const auto& t : p.topics) {
        put_string(w, t.filter);
        uint8_t options = t.qos & 0x03;
        if (v5) {
            options |= (t.no_local ? 0x04 : 0) | (t.retain_as_published ? 0x08 : 0) |
                       static_cast<uint8_t>((t.retain_handling & 0x03) << 4);
        }
        w.u8(options);
    }
}

void encode(std::vector<std::byte>& out, const Suback& p, Version version) {
    IB_ASSERT(!p.reason_codes.empty(), "[MQTT-3.8.4-6] a SUBACK answers at least one filter");
    const bool v5 = version == Version::V5;
    put_header(out, type_byte(PacketType::Suback),
               2 + (v5 ? props_block_size(p.properties) : 0) + p.reason_codes.size());
    ByteWriter w(out);
    w.u16(p.packet_id);
    if (v5) detail::encode_properties(out, p.properties);
    for (uint8_t rc : p.reason_codes) w.u8(rc);
}

void encode(std::vector<std::byte>& out, const Unsubscribe& p, Version version) {
    IB_ASSERT(!p.filters.empty(), "[MQTT-3.10.3-2] an UNSUBSCRIBE carries at least one filter");
    const bool v5 = version == Version::V5;
    std::size_t n = 2 + (v5 ? props_block_size(p.properties) : 0);
    for (auto f : p.filters) n += str_size(f);
    // [MQTT-3.10.1-1] UNSUBSCRIBE carries flags 0b0010.
    put_header(out, type_byte(PacketType::Unsubscribe) | 0x02, n);
    ByteWriter w(out);
    w.u16(p.packet_id);
    if (v5) detail::encode_properties(out, p.properties);
    for (auto f : p.filters) put_string(w, f);
}

void encode(std::vector<std::byte>& out, const Unsuback& p, Version version) {
    const bool v5 = version == Version::V5;
    IB_ASSERT(!v5 || !p.reason_codes.empty(), "a 5.0 UNSUBACK answers at least one filter");
    // 3.1.1 §3.11: only the packet identifier; 5.0 adds properties and codes.
    put_header(out, type_byte(PacketType::Unsuback),
               2 + (v5 ? props_block_size(p.properties) + p.reason_codes.size() : 0));
    ByteWriter w(out);
    w.u16(p.packet_id);
    if (v5) {
        detail::encode_properties(out, p.properties);
        for (uint8_t rc : p.reason_codes) w.u8(rc);
    }
}

void encode(std::vector<std::byte>& out, const Pingreq&) {
    put_header(out, type_byte(PacketType::Pingreq), 0);
}

void encode(std::vector<std::byte>& out, const Pingresp&) {
    put_header(out, type_byte(PacketType::Pingresp), 0);
}

void encode(std::vector<std::byte>& out, const Disconnect& p, Version version) {
    const uint8_t first = type_byte(PacketType::Disconnect);
    if (version != Version::V5) {
        put_header(out, first, 0);
        return;
    }
    // §3.14.2.1: Remaining Length 0 for a normal disconnect with no properties;
    // §3.14.2.2.1: the Property Length is left out when there are none.
    const bool no_props = p.properties.empty();
    if (no_props && p.reason_code == reason::kSuccess) {
        put_header(out, first, 0);
    } else if (no_props) {
        put_header(out, first, 1);
        out.push_back(static_cast<std::byte>(p.reason_code));
    } else {
        put_header(out, first, 1 + props_block_size(p.properties));
        out.push_back(static_cast<std::byte>(p.reason_code));
        detail::encode_properties(out, p.properties);
    }
}

void encode(std::vector<std::byte>& out, const Auth& p) {
    const uint8_t first = type_byte(PacketType::Auth);
    // §3.15.2.1: Remaining Length 0 for Success with no properties; otherwise
    // the Reason Code and the Property Length are both present.
    if (p.reason_code == reason::kSuccess && p.properties.empty()) {
        put_header(out, first, 0);
        return;
    }
    put_header(out, first, 1 + props_block_size(p.properties));
    out.push_back(static_cast<std::byte>(p.reason_code));
    detail::encode_properties(out, p.properties);
}

void encode(std::vector<std::byte>& out, const Packet& p, Version version) {
    std::visit(
        [&](const auto& packet) {
            using T = std::decay_t<decltype(packet)>;
            if constexpr (std::is_same_v<T, Connect> || std::is_same_v<T, Pingreq> ||
                          std::is_same_v<T, Pingresp> || std::is_same_v<T, Auth>) {
                encode(out, packet);
            } else {
                encode(out, packet, version);
            }
        },
        p);
}

}  // namespace ib::mqtt::codec
