// One test per receiver check: each feeds a packet that breaks one rule and
// expects the error code the 5.0 wording gives (0x81 Malformed Packet, 0x82
// Protocol Error, 0x84 Unsupported Protocol Version).
#include "codec_test_util.hpp"

namespace ib::mqtt::codec::test {
namespace {

constexpr uint8_t kMal = reason::kMalformedPacket;
constexpr uint8_t kProto = reason::kProtocolError;
constexpr auto V311 = Version::V311;
constexpr auto V5 = Version::V5;

// ------------------------------------------------------------ fixed header

// §2.1.2: packet type 0 is reserved.
TEST(FrameHeaderDecode, RejectsPacketType0WithMalformed) {
    auto r = decode_frame_header(bytes({0x00, 0x00}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, kMal);
}

// [MQTT-2.1.3-1] CONNACK's flags are reserved as 0.
TEST(FrameHeaderDecode, RejectsReservedFlagsOnConnackWithMalformed) {
    auto r = decode_frame_header(bytes({0x21, 0x02, 0x00, 0x00}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, kMal);
    EXPECT_EQ(r.error().offset, 0u);
}

// [MQTT-2.1.3-1] / [MQTT-3.6.1-1] PUBREL's flags are 0b0010.
TEST(FrameHeaderDecode, RejectsPubrelWithFlagsZeroWithMalformed) {
    auto r = decode_frame_header(bytes({0x60, 0x02, 0x00, 0x01}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, kMal);
}

// [MQTT-3.8.1-1] SUBSCRIBE's flags are 0b0010.
TEST(FrameHeaderDecode, RejectsSubscribeWithFlagsZeroWithMalformed) {
    EXPECT_FALSE(decode_frame_header(bytes({0x80, 0x00})));
}

// [MQTT-3.10.1-1] UNSUBSCRIBE's flags are 0b0010.
TEST(FrameHeaderDecode, RejectsUnsubscribeWithFlagsThreeWithMalformed) {
    EXPECT_FALSE(decode_frame_header(bytes({0xA3, 0x00})));
}

// [MQTT-2.1.3-1] PINGREQ's flags are reserved as 0.
TEST(FrameHeaderDecode, RejectsPingreqWithFlagsWithMalformed) {
    EXPECT_FALSE(decode_frame_header(bytes({0xC8, 0x00})));
}

// §1.5.5: at most four bytes; a fourth with the continuation bit is refused
// before a fifth arrives.
TEST(FrameHeaderDecode, RejectsVarintLongerThanFourBytesWithMalformed) {
    auto r = decode_frame_header(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, kMal);
    EXPECT_EQ(r.error().offset, 1u);
}

// [MQTT-1.5.5-1] the minimum number of bytes: 0x80 0x00 encodes 0 in two.
TEST(FrameHeaderDecode, RejectsNonMinimalVarintWithMalformed) {
    auto r = decode_frame_header(bytes({0x30, 0x80, 0x00}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, kMal);
}

TEST(FrameHeaderDecode, IncompleteVarintNeedsMoreBytes) {
    auto r = decode_frame_header(bytes({0x30, 0xFF, 0xFF}));
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r);
}

TEST(FrameHeaderDecode, ReadsLargestRemainingLength) {
    auto r = decode_frame_header(bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}));
    ASSERT_TRUE(r && *r);
    EXPECT_EQ((*r)->remaining_length, kMaxRemainingLength);
    EXPECT_EQ((*r)->total_size(), 5u + kMaxRemainingLength);
}

// §2.1.4: the body handed to decode_packet must be exactly Remaining Length.
TEST(PacketDecode, RejectsBodyShorterThanRemainingLengthWithMalformed) {
    const Buf wire = bytes({0x30, 0x05, 0x00, 0x01, 't'});
    auto h = decode_frame_header(wire);
    ASSERT_TRUE(h && *h);
    auto r = decode_packet(**h, Bytes(wire).subspan(2), V311);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, kMal);
}

// ----------------------------------------------------------------- PUBLISH

// [MQTT-3.3.1-4] both QoS bits set is a Malformed Packet.
TEST(PublishDecode, RejectsQos3WithMalformed) {
    expect_refused(frame(0x36, {0x00, 0x01, 't', 0x00, 0x01}), V311, kMal);
}

// [MQTT-3.3.2-2] no wildcards in a Topic Name.
TEST(PublishDecode, RejectsPlusWildcardInTopicWithProtocolError) {
    expect_refused(frame(0x30, {0x00, 0x03, 'a', '/', '+'}), V311, kProto);
}

// [MQTT-3.3.2-2] no wildcards in a Topic Name.
TEST(PublishDecode, RejectsHashWildcardInTopicWithProtocolError) {
    expect_refused(frame(0x30, {0x00, 0x01, '#'}), V5, kProto);
}

// The broker decodes PUBLISH with decode_publish (no Packet variant): the same
// answers as decode_packet, accepted or refused.
TEST(PublishDecode, DecodePublishAgreesWithDecodePacket) {
    const std::vector<std::pair<Buf, Version>> wires = {
        {frame(0x32, {0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 'h', 'i'}), V311},
        {frame(0x30, {0x00, 0x01, 't', 0x00, 'p'}), V5},
        {frame(0x30, {0x00, 0x03, 'a', '/', '+'}), V311},
        {frame(0x36, {0x00, 0x01, 't', 0x00, 0x01}), V311},
        {frame(0x30, {0x00, 0x00, 'x'}), V311},
    };
    for (const auto& [wire, version] : wires) {
        auto h = decode_frame_header(wire);
        ASSERT_TRUE(h && *h);
        const Bytes body = Bytes(wire).subspan((*h)->header_size, (*h)->remaining_length);
        auto direct = decode_publish(**h, body, version);
        auto general = decode_packet(**h, body, version);
        ASSERT_EQ(direct.has_value(), general.has_value());
        if (!direct) {
            EXPECT_EQ(direct.error().code, general.error().code);
            continue;
        }
        const auto& p = std::get<Publish>(*general);
        EXPECT_EQ(direct->topic, p.topic);
        EXPECT_EQ(str(direct->payload), str(p.payload));
        EXPECT_EQ(direct->qos, p.qos);
        EXPECT_EQ(direct->packet_id, p.packet_id);
    }
}

// The broker decodes every 3.1.1 PUBLISH of a shard into one reused Publish
// (decode_publish_into): nothing of the packet before may show through, a QoS 1
// packet identifier or a retain or DUP flag included.
TEST(PublishDecode, DecodeIntoAReusedPublishGivesWhatDecodePublishGives) {
    const std::vector<Buf> wires = {
        frame(0x3B, {0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 'h', 'i'}),  // QoS 1, DUP, retain, id 7
        frame(0x30, {0x00, 0x01, 't', 'p'}),                             // QoS 0
        frame(0x34, {0x00, 0x02, 'x', 'y', 0x01, 0x02}),                  // QoS 2, id 258, no payload
        frame(0x31, {0x00, 0x01, 'r'}),                                  // retained, QoS 0
    };
    Publish reused;
    for (const auto& wire : wires) {
        auto h = decode_frame_header(wire);
        ASSERT_TRUE(h && *h);
        const Bytes body = Bytes(wire).subspan((*h)->header_size, (*h)->remaining_length);
        auto fresh = decode_publish(**h, body, V311);
        ASSERT_TRUE(fresh);
        ASSERT_TRUE(decode_publish_into(**h, body, V311, reused));
        EXPECT_EQ(reused.topic, fresh->topic);
        EXPECT_EQ(str(reused.payload), str(fresh->payload));
        EXPECT_EQ(reused.qos, fresh->qos);
        EXPECT_EQ(reused.packet_id, fresh->packet_id);
        EXPECT_EQ(reused.retain, fresh->retain);
        EXPECT_EQ(reused.dup, fresh->dup);
        EXPECT_TRUE(reused.properties.empty());
    }
    // A refused packet says so through the reused one too.
    const Buf bad = frame(0x30, {0x00, 0x03, 'a', '/', '+'});
    auto h = decode_frame_header(bad);
    ASSERT_TRUE(h && *h);
    auto refused = decode_publish_into(**h, Bytes(bad).subspan((*h)->header_size), V311, reused);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, kProto);
}

// 3.1.1 [MQTT-4.7.3-1] topic names are at least one character.
TEST(PublishDecode, V311RejectsZeroLengthTopicWithProtocolError) {
    expect_refused(frame(0x30, {0x00, 0x00, 'x'}), V311, kProto);
}

// 5.0 §3.3.2.3.4: a zero-length Topic Name needs a Topic Alias.
TEST(PublishDecode, V5RejectsZeroLengthTopicWithoutAliasWithProtocolError) {
    expect_refused(frame(0x30, {0x00, 0x00, 0x00, 'x'}), V5, kProto);
}

TEST(PublishDecode, V5AcceptsZeroLengthTopicWithAlias) {
    const Buf wire = frame(0x30, {0x00, 0x00, 0x03, 0x23, 0x00, 0x05, 'x'});
    auto p = decode_as<Publish>(wire, V5);
    EXPECT_EQ(p.topic, "");
    EXPECT_EQ(p.properties.topic_alias, 5);
    EXPECT_EQ(str(p.payload), "x");
}

// [MQTT-2.2.1-3] QoS > 0 needs a non-zero Packet Identifier.
TEST(PublishDecode, RejectsPacketId0AtQos1WithProtocolError) {
    expect_refused(frame(0x32, {0x00, 0x01, 't', 0x00, 0x00}), V311, kProto);
}

TEST(PublishDecode, RejectsTruncatedPacketIdWithMalformed) {
    expect_refused(frame(0x34, {0x00, 0x01, 't', 0x00}), V311, kMal);
}

// [MQTT-1.5.4-1] 0xFF never appears in UTF-8.
TEST(PublishDecode, RejectsInvalidUtf8TopicWithMalformed) {
    const Error e = decode_error(frame(0x30, {0x00, 0x02, 'a', 0xFF}), V311);
    EXPECT_EQ(e.code, kMal);
    EXPECT_EQ(e.offset, 2u);  // the string's length field, after the 2-byte fixed header
}

// [MQTT-1.5.4-2] U+0000 is not allowed in a UTF-8 Encoded String.
TEST(PublishDecode, RejectsNullCharacterInTopicWithMalformed) {
    expect_refused(frame(0x30, {0x00, 0x03, 'a', 0x00, 'b'}), V311, kMal);
}

// [MQTT-1.5.4-1] U+D800 (ED A0 80) is a surrogate.
TEST(PublishDecode, RejectsSurrogateInTopicWithMalformed) {
    expect_refused(frame(0x30, {0x00, 0x03, 0xED, 0xA0, 0x80}), V5, kMal);
}

// [MQTT-1.5.4-1] C0 AF is an overlong '/'.
TEST(PublishDecode, RejectsOverlongEncodingInTopicWithMalformed) {
    expect_refused(frame(0x30, {0x00, 0x02, 0xC0, 0xAF}), V311, kMal);
}

// §2.1.4: the topic's length runs past the Remaining Length.
TEST(PublishDecode, RejectsTopicOverrunningPacketWithMalformed) {
    expect_refused(frame(0x30, {0x00, 0x09, 'a', 'b'}), V311, kMal);
}

// [MQTT-3.3.2-8] a Topic Alias of 0 is a Protocol Error (§3.3.2.3.4).
TEST(PublishDecode, V5RejectsTopicAlias0WithProtocolError) {
    expect_refused(frame(0x30, {0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00}), V5, kProto);
}

// 5.0 §3.3.2.3.8: a Subscription Identifier of 0 is a Protocol Error.
TEST(PublishDecode, V5RejectsSubscriptionId0WithProtocolError) {
    expect_refused(frame(0x30, {0x00, 0x01, 't', 0x02, 0x0B, 0x00}), V5, kProto);
}

// §2.2.2.2: Session Expiry Interval is not a PUBLISH property.
TEST(PublishDecode, V5RejectsPropertyNotAllowedInPublishWithMalformed) {
    const Error e =
        decode_error(frame(0x30, {0x00, 0x01, 't', 0x05, 0x11, 0x00, 0x00, 0x00, 0x01}), V5);
    EXPECT_EQ(e.code, kMal);
    EXPECT_EQ(e.offset, 6u);  // the identifier byte
}

// §3.3.2.3.3: Message Expiry Interval more than once is a Protocol Error.
TEST(PublishDecode, V5RejectsRepeatedPropertyWithProtocolError) {
    expect_refused(frame(0x30, {0x00, 0x01, 't', 0x0A, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2}), V5,
                   kProto);
}

// §2.2.2.1: the Property Length runs past the packet.
TEST(PublishDecode, V5RejectsPropertyLengthOverrunningWithMalformed) {
    expect_refused(frame(0x30, {0x00, 0x01, 't', 0x09, 0x23, 0x00, 0x01}), V5, kMal);
}

// A property whose value runs past the Property Length (but not the packet).
TEST(PublishDecode, V5RejectsPropertyValueOverrunningPropertyLengthWithMalformed) {
    expect_refused(frame(0x30, {0x00, 0x01, 't', 0x02, 0x23, 0x00, 0x01, 'p'}), V5, kMal);
}

// §2.2.2.2: an identifier with no meaning is a Malformed Packet.
TEST(PublishDecode, V5RejectsUnknownPropertyIdentifierWithMalformed) {
    expect_refused(frame(0x30, {0x00, 0x01, 't', 0x02, 0x7F, 0x00}), V5, kMal);
}

// §3.3.4: a server's PUBLISH carries one Subscription Identifier per match.
TEST(PublishDecode, V5AcceptsRepeatedSubscriptionIdentifiers) {
    auto p = decode_as<Publish>(frame(0x30, {0x00, 0x01, 't', 0x05, 0x0B, 0x01, 0x0B, 0x80, 0x01}), V5);
    ASSERT_EQ(p.properties.subscription_id_count, 2);
    EXPECT_EQ(p.properties.subscription_ids[0], 1u);
    EXPECT_EQ(p.properties.subscription_ids[1], 128u);
}

// [MQTT-3.3.2-14] the Response Topic must not contain wildcards.
TEST(PublishDecode, V5RejectsResponseTopicWithWildcardWithProtocolError) {
    expect_refused(frame(0x30, {0x00, 0x01, 't', 0x04, 0x08, 0x00, 0x01, '#'}), V5, kProto);
}

// §3.3.2.3.2: the Payload Format Indicator is 0 or 1.
TEST(PublishDecode, V5RejectsPayloadFormatIndicator2WithProtocolError) {
    expect_refused(frame(0x30, {0x00, 0x01, 't', 0x02, 0x01, 0x02}), V5, kProto);
}

// ----------------------------------------------------------------- CONNECT

Buf connect_v311(int flags, std::initializer_list<int> payload) {
    Buf body = bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, flags, 0x00, 0x3C});
    for (int b : payload) body.push_back(static_cast<std::byte>(b));
    Buf out = bytes({0x10});
    encode_varint(out, static_cast<uint32_t>(body.size()));
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

Buf connect_v5(int flags, std::initializer_list<int> props, std::initializer_list<int> payload) {
    Buf body = bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, flags, 0x00, 0x3C});
    encode_varint(body, static_cast<uint32_t>(props.size()));
    for (int b : props) body.push_back(static_cast<std::byte>(b));
    for (int b : payload) body.push_back(static_cast<std::byte>(b));
    Buf out = bytes({0x10});
    encode_varint(out, static_cast<uint32_t>(body.size()));
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

TEST(ConnectDecode, AcceptsMinimalV311) {
    const Buf wire = connect_v311(0x02, {0x00, 0x01, 'c'});
    auto c = decode_as<Connect>(wire, V311);
    EXPECT_EQ(c.client_id, "c");
    EXPECT_EQ(c.keep_alive, 60);
}

// [MQTT-3.1.2-3] the reserved flag is 0, else a Malformed Packet.
TEST(ConnectDecode, RejectsReservedFlagWithMalformed) {
    const Error e = decode_error(connect_v311(0x03, {0x00, 0x01, 'c'}), V311);
    EXPECT_EQ(e.code, kMal);
    EXPECT_EQ(e.offset, 9u);  // the flags byte
}

// 5.0 [MQTT-3.1.2-11] / 3.1.1 [MQTT-3.1.2-13]: Will QoS 0 without a will.
TEST(ConnectDecode, RejectsWillQosWithoutWillFlagWithMalformed) {
    expect_refused(connect_v311(0x0A, {0x00, 0x01, 'c'}), V311, kMal);
}

// 5.0 [MQTT-3.1.2-13] / 3.1.1 [MQTT-3.1.2-15]: Will Retain 0 without a will.
TEST(ConnectDecode, RejectsWillRetainWithoutWillFlagWithMalformed) {
    expect_refused(connect_v5(0x22, {}, {0x00, 0x01, 'c'}), V5, kMal);
}

// 5.0 [MQTT-3.1.2-12] / 3.1.1 [MQTT-3.1.2-14]: Will QoS 3 is a Malformed Packet.
TEST(ConnectDecode, RejectsWillQos3WithMalformed) {
    expect_refused(connect_v311(0x1E, {0x00, 0x01, 'c', 0x00, 0x01, 't', 0x00, 0x00}), V311, kMal);
}

// 3.1.1 [MQTT-3.1.2-22]: a password needs a user name.
TEST(ConnectDecode, V311RejectsPasswordWithoutUserNameWithProtocolError) {
    expect_refused(connect_v311(0x42, {0x00, 0x01, 'c', 0x00, 0x01, 'p'}), V311, kProto);
}

// 5.0 §3.1.2.9 lifted that rule.
TEST(ConnectDecode, V5AcceptsPasswordWithoutUserName) {
    const Buf wire = connect_v5(0x42, {}, {0x00, 0x01, 'c', 0x00, 0x01, 'p'});
    auto c = decode_as<Connect>(wire, V5);
    EXPECT_FALSE(c.username);
    ASSERT_TRUE(c.password);
    EXPECT_EQ(str(*c.password), "p");
}

// [MQTT-3.1.2-1] a protocol name other than "MQTT" / "MQIsdp": the server
// MAY answer CONNACK 0x84, so the error carries that code.
TEST(ConnectDecode, RejectsUnknownProtocolNameWithUnsupportedVersion) {
    expect_refused(frame(0x10, {0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02, 0x00, 0x3C,
                                0x00, 0x01, 'c'}),
                   V311, reason::kUnsupportedProtocolVersion);
}

// [MQTT-3.1.2-2] an unsupported level: the broker answers CONNACK 0x84 / return code 1.
TEST(ConnectDecode, RejectsUnknownProtocolLevelWithUnsupportedVersion) {
    const Error e = decode_error(
        frame(0x10, {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c'}),
        V311);
    EXPECT_EQ(e.code, reason::kUnsupportedProtocolVersion);
    EXPECT_EQ(e.offset, 8u);  // the level byte
}

// 3.1's name goes with level 3 only.
TEST(ConnectDecode, RejectsMQIsdpAtLevel4WithUnsupportedVersion) {
    expect_refused(frame(0x10, {0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, 0x00,
                                0x3C, 0x00, 0x01, 'c'}),
                   V311, reason::kUnsupportedProtocolVersion);
}

TEST(ConnectDecode, AcceptsMQIsdpAtLevel3) {
    auto c = decode_as<Connect>(frame(0x10, {0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03,
                                             0x02, 0x00, 0x3C, 0x00, 0x01, 'c'}),
                                V311);
    EXPECT_EQ(c.version, Version::V31);
}

// §2.1.4: the Remaining Length covers bytes the flags did not announce.
TEST(ConnectDecode, RejectsTrailingBytesWithMalformed) {
    expect_refused(connect_v311(0x02, {0x00, 0x01, 'c', 0x00, 0x01, 'u'}), V311, kMal);
}

TEST(ConnectDecode, RejectsTruncatedClientIdWithMalformed) {
    expect_refused(connect_v311(0x02, {0x00, 0x05, 'c'}), V311, kMal);
}

// [MQTT-3.1.3-4] / [MQTT-1.5.4-1]: the Client Identifier is valid UTF-8.
TEST(ConnectDecode, RejectsInvalidUtf8ClientIdWithMalformed) {
    expect_refused(connect_v311(0x02, {0x00, 0x02, 0xC3, 0x28}), V311, kMal);
}

// [MQTT-3.1.3-11] the Will Topic is a topic name: no wildcards.
TEST(ConnectDecode, RejectsWillTopicWithWildcardWithProtocolError) {
    expect_refused(connect_v311(0x06, {0x00, 0x01, 'c', 0x00, 0x01, '+', 0x00, 0x00}), V311, kProto);
}

// §3.1.3.2: Session Expiry Interval is not a Will Property.
TEST(ConnectDecode, V5RejectsPropertyNotAllowedInWillWithMalformed) {
    expect_refused(connect_v5(0x06, {}, {0x00, 0x01, 'c', 0x05, 0x11, 0, 0, 0, 1, 0x00, 0x01, 't',
                                         0x00, 0x00}),
                   V5, kMal);
}

TEST(ConnectDecode, V5AcceptsWillDelayInWillProperties) {
    auto c = decode_as<Connect>(
        connect_v5(0x06, {}, {0x00, 0x01, 'c', 0x05, 0x18, 0, 0, 0, 9, 0x00, 0x01, 't', 0x00, 0x00}),
        V5);
    ASSERT_TRUE(c.will);
    EXPECT_EQ(c.will->properties.will_delay_interval, 9u);
}

// §3.1.2.11.10: Authentication Data without Authentication Method.
TEST(ConnectDecode, V5RejectsAuthenticationDataWithoutMethodWithProtocolError) {
    expect_refused(connect_v5(0x02, {0x16, 0x00, 0x01, 'x'}, {0x00, 0x01, 'c'}), V5, kProto);
}

// §3.1.2.11.3: a Receive Maximum of 0 is a Protocol Error.
TEST(ConnectDecode, V5RejectsReceiveMaximum0WithProtocolError) {
    expect_refused(connect_v5(0x02, {0x21, 0x00, 0x00}, {0x00, 0x01, 'c'}), V5, kProto);
}

// §3.1.2.11.4: a Maximum Packet Size of 0 is a Protocol Error.
TEST(ConnectDecode, V5RejectsMaximumPacketSize0WithProtocolError) {
    expect_refused(connect_v5(0x02, {0x27, 0, 0, 0, 0}, {0x00, 0x01, 'c'}), V5, kProto);
}

// §3.1.2.11.7: Request Problem Information other than 0 or 1.
TEST(ConnectDecode, V5RejectsRequestProblemInformation2WithProtocolError) {
    expect_refused(connect_v5(0x02, {0x17, 0x02}, {0x00, 0x01, 'c'}), V5, kProto);
}

// §3.1.2.11.2: Session Expiry Interval more than once.
TEST(ConnectDecode, V5RejectsRepeatedSessionExpiryWithProtocolError) {
    expect_refused(connect_v5(0x02, {0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2}, {0x00, 0x01, 'c'}), V5,
                   kProto);
}

// ----------------------------------------------------------------- CONNACK

// 5.0 [MQTT-3.2.2-1]: bits 7-1 of the Connect Acknowledge Flags are 0.
TEST(ConnackDecode, RejectsReservedAcknowledgeFlagsWithMalformed) {
    expect_refused(frame(0x20, {0x02, 0x00}), V311, kMal);
}

// 3.1.1 §3.2.2.3: return codes 6-255 are reserved.
TEST(ConnackDecode, V311RejectsReservedReturnCodeWithProtocolError) {
    expect_refused(frame(0x20, {0x00, 0x06}), V311, kProto);
}

// 5.0 §3.2.2.2: only the listed reason codes.
TEST(ConnackDecode, V5RejectsUnlistedReasonCodeWithProtocolError) {
    expect_refused(frame(0x20, {0x00, 0x10, 0x00}), V5, kProto);
}

// 3.1.1 §3.2: Remaining Length is 2.
TEST(ConnackDecode, V311RejectsExtraBytesWithMalformed) {
    expect_refused(frame(0x20, {0x00, 0x00, 0x00}), V311, kMal);
}

// 5.0 §3.2.2.3.4: Maximum QoS other than 0 or 1.
TEST(ConnackDecode, V5RejectsMaximumQos2WithProtocolError) {
    expect_refused(frame(0x20, {0x00, 0x00, 0x02, 0x24, 0x02}), V5, kProto);
}

// ---------------------------------------------------------------- the acks

// [MQTT-2.2.1-3]: the acknowledged packet had a non-zero identifier.
TEST(AckDecode, RejectsPacketId0WithProtocolError) {
    expect_refused(frame(0x40, {0x00, 0x00}), V311, kProto);
}

// 3.1.1 §3.4.1: Remaining Length is 2.
TEST(AckDecode, V311RejectsRemainingLength3WithMalformed) {
    expect_refused(frame(0x50, {0x00, 0x01, 0x00}), V311, kMal);
}

TEST(AckDecode, RejectsTruncatedPacketIdWithMalformed) {
    expect_refused(frame(0x70, {0x01}), V5, kMal);
}

// 5.0 §3.6.2.1: PUBREL's reason is 0x00 or 0x92.
TEST(AckDecode, V5RejectsPubrelReasonNotListedWithProtocolError) {
    expect_refused(frame(0x62, {0x00, 0x01, 0x80}), V5, kProto);
}

// §2.2.2.2: Topic Alias is not a PUBACK property.
TEST(AckDecode, V5RejectsPropertyNotAllowedInPubackWithMalformed) {
    expect_refused(frame(0x40, {0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01}), V5, kMal);
}

// §3.4.2.2.2: Reason String more than once.
TEST(AckDecode, V5RejectsRepeatedReasonStringWithProtocolError) {
    expect_refused(frame(0x40, {0x00, 0x01, 0x00, 0x08, 0x1F, 0x00, 0x01, 'a', 0x1F, 0x00, 0x01, 'b'}),
                   V5, kProto);
}

// --------------------------------------------------------------- SUBSCRIBE

// 5.0 [MQTT-3.8.3-2] / 3.1.1 [MQTT-3.8.3-3]: at least one Topic Filter.
TEST(SubscribeDecode, RejectsNoTopicsWithProtocolError) {
    expect_refused(frame(0x82, {0x00, 0x01}), V311, kProto);
    expect_refused(frame(0x82, {0x00, 0x01, 0x00}), V5, kProto);
}

// [MQTT-2.2.1-3] a non-zero Packet Identifier.
TEST(SubscribeDecode, RejectsPacketId0WithProtocolError) {
    expect_refused(frame(0x82, {0x00, 0x00, 0x00, 0x01, 'a', 0x00}), V311, kProto);
}

// 5.0 [MQTT-3.8.3-5]: reserved option bits 6-7 set is malformed.
TEST(SubscribeDecode, V5RejectsReservedOptionBitsWithMalformed) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40}), V5, kMal);
}

// 5.0 §3.8.3.1: Retain Handling 3 is a Protocol Error.
TEST(SubscribeDecode, V5RejectsRetainHandling3WithProtocolError) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30}), V5, kProto);
}

// 5.0 §3.8.3.1: Maximum QoS 3 is a Protocol Error.
TEST(SubscribeDecode, V5RejectsQos3WithProtocolError) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x03}), V5, kProto);
}

// 3.1.1 [MQTT-3-8.3-4]: reserved bits 7-2 set is malformed.
TEST(SubscribeDecode, V311RejectsReservedOptionBitsWithMalformed) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x00, 0x01, 'a', 0x04}), V311, kMal);
}

// 3.1.1 [MQTT-3-8.3-4]: QoS 3 is malformed.
TEST(SubscribeDecode, V311RejectsQos3WithMalformed) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x00, 0x01, 'a', 0x03}), V311, kMal);
}

// §4.7.1.2: '#' is last.
TEST(SubscribeDecode, RejectsHashNotLastWithProtocolError) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x00, 0x03, '#', '/', 'a', 0x00}), V311, kProto);
}

// §4.7.1.3: '+' fills a whole level.
TEST(SubscribeDecode, RejectsPlusSharingALevelWithProtocolError) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x00, 0x03, 'a', '+', 'b', 0x00}), V311, kProto);
}

// [MQTT-4.7.3-1] at least one character.
TEST(SubscribeDecode, RejectsEmptyFilterWithProtocolError) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x00, 0x00, 0x00}), V311, kProto);
}

// 5.0 [MQTT-3.8.3-4]: No Local on a Shared Subscription.
TEST(SubscribeDecode, V5RejectsNoLocalOnSharedSubscriptionWithProtocolError) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x00, 0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/',
                                'g', '/', 't', 0x04}),
                   V5, kProto);
}

// 5.0 [MQTT-4.8.2-1]: a Share Name has at least one character.
TEST(SubscribeDecode, V5RejectsEmptyShareNameWithProtocolError) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x00, 0x00, 0x09, '$', 's', 'h', 'a', 'r', 'e', '/',
                                '/', 't', 0x00}),
                   V5, kProto);
}

// 5.0 §3.8.2.1.2: Subscription Identifier more than once.
TEST(SubscribeDecode, V5RejectsTwoSubscriptionIdentifiersWithProtocolError) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 'a', 0x00}), V5,
                   kProto);
}

TEST(SubscribeDecode, RejectsMissingOptionsByteWithMalformed) {
    expect_refused(frame(0x82, {0x00, 0x01, 0x00, 0x01, 'a'}), V311, kMal);
}

// ------------------------------------------------------------------ SUBACK

// 3.1.1 [MQTT-3.9.3-2]: only 0x00, 0x01, 0x02 and 0x80.
TEST(SubackDecode, V311RejectsReturnCode3WithProtocolError) {
    expect_refused(frame(0x90, {0x00, 0x01, 0x03}), V311, kProto);
}

TEST(SubackDecode, RejectsNoReasonCodesWithProtocolError) {
    expect_refused(frame(0x90, {0x00, 0x01}), V311, kProto);
}

// 5.0 §3.9.3: only the listed reason codes.
TEST(SubackDecode, V5RejectsUnlistedReasonCodeWithProtocolError) {
    expect_refused(frame(0x90, {0x00, 0x01, 0x00, 0x10}), V5, kProto);
}

// ------------------------------------------------------------- UNSUBSCRIBE

// [MQTT-3.10.3-2]: at least one Topic Filter.
TEST(UnsubscribeDecode, RejectsNoTopicsWithProtocolError) {
    expect_refused(frame(0xA2, {0x00, 0x01}), V311, kProto);
}

// [MQTT-2.2.1-3] a non-zero Packet Identifier.
TEST(UnsubscribeDecode, RejectsPacketId0WithProtocolError) {
    expect_refused(frame(0xA2, {0x00, 0x00, 0x00, 0x01, 'a'}), V311, kProto);
}

// §4.7.1 wildcard placement.
TEST(UnsubscribeDecode, RejectsInvalidFilterWithProtocolError) {
    expect_refused(frame(0xA2, {0x00, 0x01, 0x00, 0x00, 0x02, 'a', '#'}), V5, kProto);
}

// [MQTT-3.10.3-1] the Topic Filter is valid UTF-8.
TEST(UnsubscribeDecode, RejectsInvalidUtf8FilterWithMalformed) {
    expect_refused(frame(0xA2, {0x00, 0x01, 0x00, 0x01, 0x80}), V311, kMal);
}

// ---------------------------------------------------------------- UNSUBACK

// 3.1.1 §3.11.1: Remaining Length is 2.
TEST(UnsubackDecode, V311RejectsExtraBytesWithMalformed) {
    expect_refused(frame(0xB0, {0x00, 0x01, 0x00}), V311, kMal);
}

// 5.0 §3.11.3: only the listed reason codes.
TEST(UnsubackDecode, V5RejectsUnlistedReasonCodeWithProtocolError) {
    expect_refused(frame(0xB0, {0x00, 0x01, 0x00, 0x01}), V5, kProto);
}

// ------------------------------------------------- PINGREQ DISCONNECT AUTH

// §3.12: PINGREQ has no variable header and no payload.
TEST(PingDecode, RejectsPingreqWithBodyWithMalformed) {
    expect_refused(frame(0xC0, {0x00}), V311, kMal);
}

// 3.1.1 §3.14: DISCONNECT has no variable header and no payload.
TEST(DisconnectDecode, V311RejectsBodyWithMalformed) {
    expect_refused(frame(0xE0, {0x00}), V311, kMal);
}

// 5.0 §3.14.2.2.1: the Property Length may be left out.
TEST(DisconnectDecode, V5AcceptsReasonWithoutPropertyLength) {
    auto d = decode_as<Disconnect>(frame(0xE0, {0x8B}), V5);
    EXPECT_EQ(d.reason_code, reason::kServerShuttingDown);
}

// 5.0 §3.14.2.1: only the listed reason codes.
TEST(DisconnectDecode, V5RejectsUnlistedReasonCodeWithProtocolError) {
    expect_refused(frame(0xE0, {0x01}), V5, kProto);
}

// §2.2.2.2: Topic Alias is not a DISCONNECT property.
TEST(DisconnectDecode, V5RejectsPropertyNotAllowedWithMalformed) {
    expect_refused(frame(0xE0, {0x00, 0x03, 0x23, 0x00, 0x01}), V5, kMal);
}

// Before 5.0, packet type 15 is reserved (3.1.1 §2.2.1).
TEST(AuthDecode, V311RejectsAuthPacketTypeWithMalformed) {
    expect_refused(frame(0xF0, {}), V311, kMal);
}

// 5.0 §3.15.2.1: with a Reason Code, the Property Length follows.
TEST(AuthDecode, V5RejectsReasonWithoutPropertyLengthWithMalformed) {
    expect_refused(frame(0xF0, {0x18}), V5, kMal);
}

// 5.0 §3.15.2.1: 0x00, 0x18 and 0x19 only.
TEST(AuthDecode, V5RejectsUnlistedReasonCodeWithProtocolError) {
    expect_refused(frame(0xF0, {0x80, 0x00}), V5, kProto);
}

// §3.15.2.2.3: Authentication Data needs an Authentication Method.
TEST(AuthDecode, V5RejectsAuthenticationDataWithoutMethodWithProtocolError) {
    expect_refused(frame(0xF0, {0x18, 0x04, 0x16, 0x00, 0x01, 'x'}), V5, kProto);
}

}  // namespace
}  // namespace ib::mqtt::codec::test
