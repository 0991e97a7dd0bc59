// Decoding: fixed header, then one function per packet type. Every check the
// 3.1.1 and 5.0 specifications ask of a receiver is here, with the statement it
// implements. Error codes follow the 5.0 wording: "is a Malformed Packet" is
// 0x81, "is a Protocol Error" is 0x82; where the text names neither, a fault of
// encoding is 0x81 and a misuse of well-formed fields is 0x82. Offsets are
// relative to the packet body for decode_packet and to the buffer for decode_one.
#include "mqtt/codec/codec.hpp"

namespace ib::mqtt::codec {

namespace {

constexpr uint8_t kMalformed = reason::kMalformedPacket;
constexpr uint8_t kProtocolError = reason::kProtocolError;

// Propagates an error from a Result-returning call, binding the value otherwise.
#define IB_TRY(var, expr)                                   \
    auto var##_result = (expr);                             \
    if (!var##_result) return std::unexpected(var##_result.error()); \
    auto var = std::move(*var##_result)
#define IB_CHECK(expr)                                        \
    if (auto check_result = (expr); !check_result) return std::unexpected(check_result.error())

Result<uint8_t> read_u8(ByteReader& r, const char* what) {
    auto v = r.u8();
    if (!v) return fail(kMalformed, r.offset(), what);
    return *v;
}

Result<uint16_t> read_u16(ByteReader& r, const char* what) {
    const std::size_t at = r.offset();
    auto v = r.u16();
    if (!v) return fail(kMalformed, at, what);
    return *v;
}

// §1.5.4 UTF-8 Encoded String: two-byte length then that many bytes.
Result<std::string_view> read_string(ByteReader& r, const char* truncated) {
    const std::size_t at = r.offset();
    auto len = r.u16();
    if (!len) return fail(kMalformed, at, truncated);
    auto bytes = r.take(*len);
    if (!bytes) return fail(kMalformed, at, truncated);
    auto s = as_string_view(*bytes);
    // [MQTT-1.5.4-1] ill-formed UTF-8 (overlong, surrogates) and [MQTT-1.5.4-2]
    // U+0000 make the packet malformed.
    if (!valid_utf8(s)) return fail(kMalformed, at, "string is not valid UTF-8");
    return s;
}

// §1.5.6 Binary Data: two-byte length then that many bytes.
Result<Bytes> read_binary(ByteReader& r, const char* truncated) {
    const std::size_t at = r.offset();
    auto len = r.u16();
    if (!len) return fail(kMalformed, at, truncated);
    auto bytes = r.take(*len);
    if (!bytes) return fail(kMalformed, at, truncated);
    return *bytes;
}

Result<Properties> read_properties(ByteReader& r, PacketType type) {
    return detail::decode_properties(r, static_cast<uint8_t>(type));
}

Result<void> expect_end(const ByteReader& r, const char* what) {
    // The Remaining Length must match the content exactly (§2.1.4).
    if (!r.empty()) return fail(kMalformed, r.offset(), what);
    return {};
}

// 5.0 reason codes each packet may carry (§2.4 table and the per-packet lists).
bool valid_reason(PacketType type, uint8_t rc) {
    auto in = [rc](std::initializer_list<uint8_t> list) {
        for (uint8_t v : list) if (v == rc) return true;
        return false;
    };
    switch (type) {
        case PacketType::Connack:
            return in({0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A,
                       0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
        case PacketType::Puback:
        case PacketType::Pubrec:
            return in({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
        case PacketType::Pubrel:
        case PacketType::Pubcomp: return in({0x00, 0x92});
        case PacketType::Suback:
            return in({0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
        case PacketType::Unsuback: return in({0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
        case PacketType::Disconnect:
            return in({0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F,
                       0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D,
                       0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
        case PacketType::Auth: return in({0x00, 0x18, 0x19});
        default: return false;
    }
}

// ------------------------------------------------------------------ CONNECT
Result<Packet> decode_connect(Bytes body) {
    ByteReader r(body);
    Connect c;
    IB_TRY(name, read_string(r, "CONNECT protocol name truncated"));
    IB_TRY(level, read_u8(r, "CONNECT protocol level missing"));
    c.protocol_name = name;
    // [MQTT-3.1.2-1] the protocol name is "MQTT" (3.1.1, 5.0) or "MQIsdp" (3.1).
    // For any other name 5.0 lets the server answer CONNACK 0x84 and close, so
    // the name and the level share one error code.
    if (name == "MQTT") {
        if (level != 4 && level != 5) {
            // [MQTT-3.1.2-2] unsupported level: CONNACK 0x84 (5.0) or return code 1 (3.1.1).
            return fail(reason::kUnsupportedProtocolVersion, 6, "unsupported protocol level");
        }
    } else if (name == "MQIsdp") {
        if (level != 3) {
            return fail(reason::kUnsupportedProtocolVersion, 8, "unsupported protocol level");
        }
    } else {
        return fail(reason::kUnsupportedProtocolVersion, 0, "unknown protocol name");
    }
    c.version = static_cast<Version>(level);
    const bool v5 = c.version == Version::V5;

    const std::size_t flags_at = r.offset();
    IB_TRY(flags, read_u8(r, "CONNECT flags missing"));
    // [MQTT-3.1.2-3] the reserved flag must be 0; otherwise a Malformed Packet.
    if (flags & 0x01) return fail(kMalformed, flags_at, "CONNECT reserved flag set");
    c.clean_start = flags & 0x02;
    const bool will = flags & 0x04;
    const uint8_t will_qos = (flags >> 3) & 0x03;
    const bool will_retain = flags & 0x20;
    const bool has_password = flags & 0x40;
    const bool has_username = flags & 0x80;
    if (!will) {
        // 5.0 [MQTT-3.1.2-11] / 3.1.1 [MQTT-3.1.2-13]: no will, so Will QoS is 0.
        if (will_qos != 0) return fail(kMalformed, flags_at, "will QoS set without will flag");
        // 5.0 [MQTT-3.1.2-13] / 3.1.1 [MQTT-3.1.2-15]: no will, so Will Retain is 0.
        if (will_retain) return fail(kMalformed, flags_at, "will retain set without will flag");
    } else if (will_qos == 3) {
        // 5.0 [MQTT-3.1.2-12] / 3.1.1 [MQTT-3.1.2-14]: Will QoS 3 is a Malformed Packet.
        return fail(kMalformed, flags_at, "will QoS 3");
    }
    // 3.1.1 [MQTT-3.1.2-22]: a password needs a user name. 5.0 dropped this rule
    // (§3.1.2.9), so only the older levels enforce it.
    if (!v5 && has_password && !has_username) {
        return fail(kProtocolError, flags_at, "password flag without user name flag");
    }
    IB_TRY(keep_alive, read_u16(r, "CONNECT keep alive truncated"));
    c.keep_alive = keep_alive;
    if (v5) {
        IB_TRY(props, read_properties(r, PacketType::Connect));
        c.properties = props;
    }
    // [MQTT-3.1.3-4] the Client Identifier is a UTF-8 Encoded String. Whether an
    // empty one is acceptable is the broker's call (CONNACK 0x85 / return code 2).
    IB_TRY(client_id, read_string(r, "CONNECT client identifier truncated"));
    c.client_id = client_id;
    if (will) {
        Will w;
        w.qos = will_qos;
        w.retain = will_retain;
        if (v5) {
            IB_TRY(wprops, detail::decode_properties(r, detail::kWillScope));
            w.properties = wprops;
        }
        const std::size_t topic_at = r.offset();
        IB_TRY(topic, read_string(r, "CONNECT will topic truncated"));
        // [MQTT-3.1.3-11] a UTF-8 topic name, so §4.7 applies: no wildcards, not empty.
        if (!valid_topic_name(topic)) return fail(kProtocolError, topic_at, "invalid will topic");
        w.topic = topic;
        IB_TRY(payload, read_binary(r, "CONNECT will payload truncated"));
        w.payload = payload;
        c.will = w;
    }
    if (has_username) {
        // [MQTT-3.1.3-12] the User Name is a UTF-8 Encoded String.
        IB_TRY(username, read_string(r, "CONNECT user name truncated"));
        c.username = username;
    }
    if (has_password) {
        IB_TRY(password, read_binary(r, "CONNECT password truncated"));
        c.password = password;
    }
    IB_CHECK(expect_end(r, "bytes after the end of CONNECT"));
    return c;
}

// ------------------------------------------------------------------ CONNACK
Result<Packet> decode_connack(Bytes body, Version version) {
    ByteReader r(body);
    Connack c;
    IB_TRY(ack_flags, read_u8(r, "CONNACK truncated"));
    // 5.0 [MQTT-3.2.2-1] / 3.1.1 §3.2.2.1: bits 7-1 of the acknowledge flags are reserved, 0.
    if (ack_flags & 0xFE) return fail(kMalformed, 0, "CONNACK reserved flags set");
    c.session_present = ack_flags & 0x01;
    IB_TRY(rc, read_u8(r, "CONNACK truncated"));
    c.reason_code = rc;
    if (version == Version::V5) {
        // [MQTT-3.2.2-8] one of the CONNACK reason codes.
        if (!valid_reason(PacketType::Connack, rc)) {
            return fail(kProtocolError, 1, "CONNACK reason code not valid");
        }
        IB_TRY(props, read_properties(r, PacketType::Connack));
        c.properties = props;
    } else if (rc > v3_connack::kNotAuthorized) {
        // 3.1.1 §3.2.2.3: return codes 6-255 are reserved.
        return fail(kProtocolError, 1, "CONNACK return code reserved");
    }
    IB_CHECK(expect_end(r, "bytes after the end of CONNACK"));
    return c;
}

// ------------------------------------------------------------------ PUBLISH
// Writes every field of `p` but the properties of a 3.1.1 packet, which stay as
// they are (decode_publish_into).
Result<void> decode_publish_fields(uint8_t flags, Bytes body, Version version, Publish& p) {
    ByteReader r(body);
    p.retain = flags & 0x01;
    p.qos = (flags >> 1) & 0x03;
    p.dup = flags & 0x08;
    p.packet_id = 0;
    // [MQTT-3.3.1-4] both QoS bits set is a Malformed Packet.
    if (p.qos == 3) return fail(kMalformed, 0, "PUBLISH with QoS 3");
    IB_TRY(topic, read_string(r, "PUBLISH topic truncated"));
    p.topic = topic;
    // [MQTT-3.3.2-2] the Topic Name must not contain wildcard characters.
    if (has_wildcard(p.topic)) return fail(kProtocolError, 0, "PUBLISH topic contains a wildcard");
    if (p.qos > 0) {
        const std::size_t id_at = r.offset();
        IB_TRY(id, read_u16(r, "PUBLISH packet identifier truncated"));
        // [MQTT-2.2.1-3] QoS > 0 needs a non-zero Packet Identifier.
        if (id == 0) return fail(kProtocolError, id_at, "PUBLISH packet identifier 0");
        p.packet_id = id;
    }
    if (version == Version::V5) {
        IB_TRY(props, read_properties(r, PacketType::Publish));
        p.properties = std::move(props);
    }
    if (p.topic.empty()) {
        // 3.1.1 [MQTT-4.7.3-1] topics are at least one character. 5.0 §3.3.2.3.4:
        // "It is a Protocol Error if the Topic Name is zero length and there is
        // no Topic Alias".
        if (version != Version::V5 || !p.properties.topic_alias)
            return fail(kProtocolError, 0, "PUBLISH topic empty without a topic alias");
    }
    p.payload = r.rest();
    return {};
}

// The Publish is built in the result (named return value optimization): a
// Publish built beside the result and returned was copied once more per
// message, 400 bytes with its Properties (perf).
Result<Publish> decode_publish_body(uint8_t flags, Bytes body, Version version) {
    Result<Publish> out;
    if (auto done = decode_publish_fields(flags, body, version, *out); !done) out = std::unexpected(done.error());
    return out;
}

// -------------------------------------------------- PUBACK PUBREC PUBREL PUBCOMP
Result<Packet> decode_ack(PacketType type, Bytes body, Version version) {
    ByteReader r(body);
    Ack a;
    a.type = type;
    IB_TRY(id, read_u16(r, "acknowledgement packet identifier truncated"));
    // [MQTT-2.2.1-3] the packet being acknowledged had a non-zero identifier,
    // so an acknowledgement of identifier 0 can answer nothing.
    if (id == 0) return fail(kProtocolError, 0, "acknowledgement packet identifier 0");
    a.packet_id = id;
    if (version == Version::V5) {
        // §3.4.2.1: with Remaining Length 2 the Reason Code is 0x00 and there
        // are no properties; §3.4.2.2.1: with 3, there are no properties.
        if (!r.empty()) {
            IB_TRY(rc, read_u8(r, "acknowledgement truncated"));
            // [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1]: one
            // of the reason codes listed for the packet type.
            if (!valid_reason(type, rc)) {
                return fail(kProtocolError, 2, "acknowledgement reason code not valid");
            }
            a.reason_code = rc;
            if (!r.empty()) {
                IB_TRY(props, read_properties(r, type));
                a.properties = props;
            }
        }
    }
    IB_CHECK(expect_end(r, "bytes after the end of acknowledgement"));
    return a;
}

// §4.8.2: "$share/{ShareName}/{filter}": a non-empty share name without
// wildcards or '/' [MQTT-4.8.2-1], then '/' and a topic filter [MQTT-4.8.2-2].
constexpr std::string_view kSharePrefix = "$share/";

bool is_shared(std::string_view filter) { return filter.starts_with(kSharePrefix); }

bool valid_shared_filter(std::string_view filter) {
    const std::string_view rest = filter.substr(kSharePrefix.size());
    const std::size_t slash = rest.find('/');
    if (slash == 0 || slash == std::string_view::npos) return false;
    const std::string_view share_name = rest.substr(0, slash);
    if (share_name.find_first_of("+#") != std::string_view::npos) return false;
    return valid_topic_filter(rest.substr(slash + 1));
}

// ---------------------------------------------------------------- SUBSCRIBE
Result<Packet> decode_subscribe(Bytes body, Version version) {
    ByteReader r(body);
    Subscribe s;
    const bool v5 = version == Version::V5;
    IB_TRY(id, read_u16(r, "SUBSCRIBE packet identifier truncated"));
    // [MQTT-2.2.1-3] SUBSCRIBE needs a non-zero Packet Identifier.
    if (id == 0) return fail(kProtocolError, 0, "SUBSCRIBE packet identifier 0");
    s.packet_id = id;
    if (v5) {
        IB_TRY(props, read_properties(r, PacketType::Subscribe));
        s.properties = props;
    }
    while (!r.empty()) {
        const std::size_t at = r.offset();
        // [MQTT-3.8.3-1] each Topic Filter is a UTF-8 Encoded String.
        IB_TRY(filter, read_string(r, "SUBSCRIBE topic filter truncated"));
        IB_TRY(options, read_u8(r, "SUBSCRIBE subscription options missing"));
        SubscribeTopic t;
        t.filter = filter;
        t.qos = options & 0x03;
        if (v5) {
            // 5.0 [MQTT-3.8.3-5]: reserved bits 6-7 non-zero make it malformed.
            if (options & 0xC0) return fail(kMalformed, at, "subscription options reserved bits set");
            // 5.0 §3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3".
            if (t.qos == 3) return fail(kProtocolError, at, "subscription QoS 3");
            t.no_local = options & 0x04;
            t.retain_as_published = options & 0x08;
            t.retain_handling = (options >> 4) & 0x03;
            // 5.0 §3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3".
            if (t.retain_handling == 3) return fail(kProtocolError, at, "retain handling 3");
        } else {
            // 3.1.1 [MQTT-3-8.3-4]: bits 7-2 reserved and QoS 3 are malformed.
            if (options & 0xFC) return fail(kMalformed, at, "subscription options reserved bits set");
            if (t.qos == 3) return fail(kMalformed, at, "subscription QoS 3");
        }
        if (v5 && is_shared(filter)) {
            if (!valid_shared_filter(filter)) return fail(kProtocolError, at, "invalid shared subscription");
            // 5.0 [MQTT-3.8.3-4]: No Local on a Shared Subscription is a Protocol Error.
            if (t.no_local) return fail(kProtocolError, at, "no local on a shared subscription");
        } else if (!valid_topic_filter(filter)) {
            // §4.7.1 wildcard placement, [MQTT-4.7.3-1] at least one character.
            return fail(kProtocolError, at, "invalid topic filter");
        }
        s.topics.push_back(t);
    }
    // 5.0 [MQTT-3.8.3-2] / 3.1.1 [MQTT-3.8.3-3]: at least one filter.
    if (s.topics.empty()) return fail(kProtocolError, r.offset(), "SUBSCRIBE with no topic filters");
    return s;
}

// ------------------------------------------------------------------- SUBACK
Result<Packet> decode_suback(Bytes body, Version version) {
    ByteReader r(body);
    Suback s;
    IB_TRY(id, read_u16(r, "SUBACK packet identifier truncated"));
    if (id == 0) return fail(kProtocolError, 0, "SUBACK packet identifier 0");
    s.packet_id = id;
    if (version == Version::V5) {
        IB_TRY(props, read_properties(r, PacketType::Suback));
        s.properties = props;
    }
    // [MQTT-3.8.4-6] one code per filter of the SUBSCRIBE, which had at least one.
    if (r.empty()) return fail(kProtocolError, r.offset(), "SUBACK with no reason codes");
    const Bytes codes = r.rest();
    s.reason_codes.reserve(codes.size());
    for (std::size_t i = 0; i < codes.size(); ++i) {
        const auto rc = static_cast<uint8_t>(codes[i]);
        // [MQTT-3.9.3-2] 3.1.1: only 0x00, 0x01, 0x02 and 0x80; 5.0: the §3.9.3 list.
        const bool ok = version == Version::V5 ? valid_reason(PacketType::Suback, rc)
                                               : (rc <= 2 || rc == 0x80);
        if (!ok) return fail(kProtocolError, body.size() - codes.size() + i, "SUBACK code not valid");
        s.reason_codes.push_back(rc);
    }
    return s;
}

// -------------------------------------------------------------- UNSUBSCRIBE
Result<Packet> decode_unsubscribe(Bytes body, Version version) {
    ByteReader r(body);
    Unsubscribe u;
    IB_TRY(id, read_u16(r, "UNSUBSCRIBE packet identifier truncated"));
    // [MQTT-2.2.1-3] UNSUBSCRIBE needs a non-zero Packet Identifier.
    if (id == 0) return fail(kProtocolError, 0, "UNSUBSCRIBE packet identifier 0");
    u.packet_id = id;
    if (version == Version::V5) {
        IB_TRY(props, read_properties(r, PacketType::Unsubscribe));
        u.properties = props;
    }
    while (!r.empty()) {
        const std::size_t at = r.offset();
        // [MQTT-3.10.3-1] each Topic Filter is a UTF-8 Encoded String.
        IB_TRY(filter, read_string(r, "UNSUBSCRIBE topic filter truncated"));
        const bool ok = version == Version::V5 && is_shared(filter) ? valid_shared_filter(filter)
                                                                    : valid_topic_filter(filter);
        if (!ok) return fail(kProtocolError, at, "invalid topic filter");
        u.filters.push_back(filter);
    }
    // [MQTT-3.10.3-2] at least one filter.
    if (u.filters.empty()) return fail(kProtocolError, r.offset(), "UNSUBSCRIBE with no topic filters");
    return u;
}

// ----------------------------------------------------------------- UNSUBACK
Result<Packet> decode_unsuback(Bytes body, Version version) {
    ByteReader r(body);
    Unsuback u;
    IB_TRY(id, read_u16(r, "UNSUBACK packet identifier truncated"));
    if (id == 0) return fail(kProtocolError, 0, "UNSUBACK packet identifier 0");
    u.packet_id = id;
    if (version == Version::V5) {
        IB_TRY(props, read_properties(r, PacketType::Unsuback));
        u.properties = props;
        // One code per filter of the UNSUBSCRIBE, which had at least one.
        if (r.empty()) return fail(kProtocolError, r.offset(), "UNSUBACK with no reason codes");
        const Bytes codes = r.rest();
        u.reason_codes.reserve(codes.size());
        for (std::size_t i = 0; i < codes.size(); ++i) {
            const auto rc = static_cast<uint8_t>(codes[i]);
            // [MQTT-3.11.3-2] one of the UNSUBACK reason codes.
            if (!valid_reason(PacketType::Unsuback, rc)) {
                return fail(kProtocolError, body.size() - codes.size() + i, "UNSUBACK code not valid");
            }
            u.reason_codes.push_back(rc);
        }
    }
    // 3.1.1 §3.11.1: Remaining Length is 2.
    IB_CHECK(expect_end(r, "bytes after the end of UNSUBACK"));
    return u;
}

// --------------------------------------------------------------- DISCONNECT
Result<Packet> decode_disconnect(Bytes body, Version version) {
    ByteReader r(body);
    Disconnect d;
    if (version == Version::V5) {
        // §3.14.2.1: Remaining Length 0 means reason 0x00 and no properties;
        // §3.14.2.2.1: the Property Length may be left out when there are none.
        if (!r.empty()) {
            IB_TRY(rc, read_u8(r, "DISCONNECT truncated"));
            if (!valid_reason(PacketType::Disconnect, rc)) {
                return fail(kProtocolError, 0, "DISCONNECT reason code not valid");
            }
            d.reason_code = rc;
            if (!r.empty()) {
                IB_TRY(props, read_properties(r, PacketType::Disconnect));
                d.properties = props;
            }
        }
    }
    // 3.1.1 §3.14: no variable header or payload.
    IB_CHECK(expect_end(r, "bytes after the end of DISCONNECT"));
    return d;
}

// --------------------------------------------------------------------- AUTH
Result<Packet> decode_auth(Bytes body) {
    ByteReader r(body);
    Auth a;
    // §3.15.2.1: Remaining Length 0 means Success and no properties; otherwise
    // both the Reason Code and the Property Length are present.
    if (!r.empty()) {
        IB_TRY(rc, read_u8(r, "AUTH truncated"));
        if (!valid_reason(PacketType::Auth, rc)) {
            return fail(kProtocolError, 0, "AUTH reason code not valid");
        }
        a.reason_code = rc;
        if (r.empty()) return fail(kMalformed, 1, "AUTH property length missing");
        IB_TRY(props, read_properties(r, PacketType::Auth));
        a.properties = props;
    }
    IB_CHECK(expect_end(r, "bytes after the end of AUTH"));
    return a;
}

#undef IB_TRY
#undef IB_CHECK

}  // namespace

Result<std::optional<FrameHeader>> decode_frame_header(Bytes buf) {
    if (buf.empty()) return std::optional<FrameHeader>{};
    const auto first = static_cast<uint8_t>(buf[0]);
    const uint8_t type = first >> 4;
    const uint8_t flags = first & 0x0F;
    // §2.1.2: packet type 0 is reserved.
    if (type == 0) return fail(kMalformed, 0, "packet type 0 is reserved");
    // [MQTT-2.1.3-1] reserved flag bits carry the values of §2.1.3's table:
    // 0b0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0 for the others but PUBLISH;
    // "If invalid flags are received it is a Malformed Packet".
    const auto t = static_cast<PacketType>(type);
    if (t != PacketType::Publish) {
        const bool one = t == PacketType::Pubrel || t == PacketType::Subscribe ||
                         t == PacketType::Unsubscribe;
        if (flags != (one ? 0x02 : 0x00)) return fail(kMalformed, 0, "reserved fixed header flags");
    }
    uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        if (1 + i >= buf.size()) return std::optional<FrameHeader>{};
        const auto b = static_cast<uint8_t>(buf[1 + i]);
        value |= static_cast<uint32_t>(b & 0x7F) << (7 * i);
        if ((b & 0x80) == 0) {
            // [MQTT-1.5.5-1] the minimum number of bytes.
            if (i > 0 && b == 0) return fail(kMalformed, 1, "remaining length not minimal");
            FrameHeader h;
            h.first_byte = first;
            h.header_size = static_cast<uint8_t>(2 + i);
            h.remaining_length = value;
            return std::optional<FrameHeader>{h};
        }
    }
    // §1.5.5: a Variable Byte Integer has at most four bytes.
    return fail(kMalformed, 1, "remaining length longer than four bytes");
}

Result<Publish> decode_publish(const FrameHeader& header, Bytes body, Version version) {
    if (body.size() != header.remaining_length) {
        return fail(kMalformed, 0, "body size differs from remaining length");
    }
    return decode_publish_body(header.flags(), body, version);
}

Result<void> decode_publish_into(const FrameHeader& header, Bytes body, Version version, Publish& out) {
    if (body.size() != header.remaining_length) {
        return fail(kMalformed, 0, "body size differs from remaining length");
    }
    return decode_publish_fields(header.flags(), body, version, out);
}

Result<Packet> decode_packet(const FrameHeader& header, Bytes body, Version version) {
    // §2.1.4: the Remaining Length counts exactly the bytes of the body.
    if (body.size() != header.remaining_length) {
        return fail(kMalformed, 0, "body size differs from remaining length");
    }
    const bool v5 = version == Version::V5;
    switch (header.type()) {
        case PacketType::Connect: return decode_connect(body);
        case PacketType::Connack: return decode_connack(body, version);
        case PacketType::Publish: {
            auto p = decode_publish_body(header.flags(), body, version);
            if (!p) return std::unexpected(p.error());
            return Packet{std::move(*p)};
        }
        case PacketType::Puback:
        case PacketType::Pubrec:
        case PacketType::Pubrel:
        case PacketType::Pubcomp: return decode_ack(header.type(), body, version);
        case PacketType::Subscribe: return decode_subscribe(body, version);
        case PacketType::Suback: return decode_suback(body, version);
        case PacketType::Unsubscribe: return decode_unsubscribe(body, version);
        case PacketType::Unsuback: return decode_unsuback(body, version);
        case PacketType::Pingreq:
        case PacketType::Pingresp:
            // §3.12 / §3.13: no variable header and no payload.
            if (!body.empty()) return fail(kMalformed, 0, "PINGREQ/PINGRESP with a body");
            if (header.type() == PacketType::Pingreq) return Pingreq{};
            return Pingresp{};
        case PacketType::Disconnect: return decode_disconnect(body, version);
        case PacketType::Auth:
            // 3.1.1 §2.2.1: type 15 is reserved before 5.0.
            if (!v5) return fail(kMalformed, 0, "AUTH before MQTT 5.0");
            return decode_auth(body);
    }
    return fail(kMalformed, 0, "packet type 0 is reserved");
}

Result<std::optional<Packet>> decode_one(Bytes buf, Version version, std::size_t& consumed) {
    auto header = decode_frame_header(buf);
    if (!header) return std::unexpected(header.error());
    if (!*header) return std::optional<Packet>{};
    const FrameHeader h = **header;
    if (buf.size() < h.total_size()) return std::optional<Packet>{};
    auto packet = decode_packet(h, buf.subspan(h.header_size, h.remaining_length), version);
    if (!packet) {
        Error e = packet.error();
        e.offset += h.header_size;
        return std::unexpected(e);
    }
    consumed = h.total_size();
    return std::optional<Packet>{std::move(*packet)};
}

}  // namespace ib::mqtt::codec
