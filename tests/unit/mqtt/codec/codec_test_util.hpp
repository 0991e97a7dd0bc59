// Helpers shared by the codec tests: byte literals, whole-buffer decoding and
// field-by-field comparison of properties (Bytes views have no operator==).
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "mqtt/codec/codec.hpp"

namespace ib::mqtt::codec::test {

using Buf = std::vector<std::byte>;

inline Buf bytes(std::initializer_list<int> v) {
    Buf out;
    for (int b : v) out.push_back(static_cast<std::byte>(b));
    return out;
}

inline Buf bytes(std::string_view s) {
    Buf out;
    for (char c : s) out.push_back(static_cast<std::byte>(c));
    return out;
}

inline std::string str(Bytes b) { return std::string(as_string_view(b)); }

// Decodes a buffer that must hold exactly one whole packet.
inline Result<Packet> decode_all(const Buf& buf, Version version) {
    std::size_t consumed = 0;
    auto r = decode_one(buf, version, consumed);
    if (!r) return std::unexpected(r.error());
    if (!*r) return fail(0, 0, "need more bytes");
    EXPECT_EQ(consumed, buf.size());
    return std::move(**r);
}

template <typename T>
T decode_as(const Buf& buf, Version version) {
    auto r = decode_all(buf, version);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    if (!r) return T{};
    EXPECT_TRUE(std::holds_alternative<T>(*r));
    if (!std::holds_alternative<T>(*r)) return T{};
    return std::get<T>(*r);
}

inline Error decode_error(const Buf& buf, Version version) {
    auto r = decode_all(buf, version);
    EXPECT_FALSE(r.has_value()) << "decoded a packet that should have been refused";
    return r ? Error{} : r.error();
}

inline void expect_same(const std::optional<Bytes>& a, const std::optional<Bytes>& b) {
    ASSERT_EQ(a.has_value(), b.has_value());
    if (a) {
        EXPECT_EQ(str(*a), str(*b));
    }
}

inline void expect_same(const Properties& a, const Properties& b) {
    EXPECT_EQ(a.payload_format_indicator, b.payload_format_indicator);
    EXPECT_EQ(a.message_expiry_interval, b.message_expiry_interval);
    EXPECT_EQ(a.content_type, b.content_type);
    EXPECT_EQ(a.response_topic, b.response_topic);
    expect_same(a.correlation_data, b.correlation_data);
    ASSERT_EQ(a.subscription_id_count, b.subscription_id_count);
    for (int i = 0; i < a.subscription_id_count; ++i) {
        EXPECT_EQ(a.subscription_ids[i], b.subscription_ids[i]);
    }
    EXPECT_EQ(a.session_expiry_interval, b.session_expiry_interval);
    EXPECT_EQ(a.assigned_client_identifier, b.assigned_client_identifier);
    EXPECT_EQ(a.server_keep_alive, b.server_keep_alive);
    EXPECT_EQ(a.authentication_method, b.authentication_method);
    expect_same(a.authentication_data, b.authentication_data);
    EXPECT_EQ(a.request_problem_information, b.request_problem_information);
    EXPECT_EQ(a.will_delay_interval, b.will_delay_interval);
    EXPECT_EQ(a.request_response_information, b.request_response_information);
    EXPECT_EQ(a.response_information, b.response_information);
    EXPECT_EQ(a.server_reference, b.server_reference);
    EXPECT_EQ(a.reason_string, b.reason_string);
    EXPECT_EQ(a.receive_maximum, b.receive_maximum);
    EXPECT_EQ(a.topic_alias_maximum, b.topic_alias_maximum);
    EXPECT_EQ(a.topic_alias, b.topic_alias);
    EXPECT_EQ(a.maximum_qos, b.maximum_qos);
    EXPECT_EQ(a.retain_available, b.retain_available);
    EXPECT_EQ(str(a.user_properties_raw), str(b.user_properties_raw));
    EXPECT_EQ(a.maximum_packet_size, b.maximum_packet_size);
    EXPECT_EQ(a.wildcard_subscription_available, b.wildcard_subscription_available);
    EXPECT_EQ(a.subscription_identifier_available, b.subscription_identifier_available);
    EXPECT_EQ(a.shared_subscription_available, b.shared_subscription_available);
}

}  // namespace ib::mqtt::codec::test

namespace ib::mqtt::codec::test {

// A whole packet from its first byte and body; the Remaining Length is computed.
inline Buf frame(int first_byte, std::initializer_list<int> body) {
    Buf out = bytes({first_byte});
    encode_varint(out, static_cast<uint32_t>(body.size()));
    for (int b : body) out.push_back(static_cast<std::byte>(b));
    return out;
}

inline void expect_refused(const Buf& wire, Version version, uint8_t code) {
    const Error e = decode_error(wire, version);
    EXPECT_EQ(e.code, code) << e.message;
    EXPECT_NE(std::string_view(e.message), "");
}

}  // namespace ib::mqtt::codec::test
