// Encode -> decode -> compare, for every packet type in 3.1.1 and 5.0 (and
// CONNECT in 3.1), plus encoded_size and the short 5.0 acknowledgement forms.
#include <memory>

#include "codec_test_util.hpp"

namespace ib::mqtt::codec::test {
namespace {

// Decoded packets view the encoded bytes, so those are kept alive for the
// rest of the test run.
Buf& keep_alive() {
    static std::vector<std::unique_ptr<Buf>> buffers;
    return *buffers.emplace_back(std::make_unique<Buf>());
}

template <typename T, typename... Args>
T round_trip(const T& in, Version version, Args&&... encode_args) {
    Buf& out = keep_alive();
    encode(out, in, std::forward<Args>(encode_args)...);
    return decode_as<T>(out, version);
}

// Storage for user properties, which Properties only views.
const Buf& sample_user_props() {
    static const Buf raw = [] {
        Buf b;
        append_user_property(b, "site", "plant-7");
        append_user_property(b, "line", "3");
        return b;
    }();
    return raw;
}

TEST(ConnectRoundTrip, V311WithWillUserAndPassword) {
    Connect c;
    c.version = Version::V311;
    c.clean_start = false;
    c.keep_alive = 60;
    c.client_id = "plc-gateway-1";
    Will w;
    w.topic = "ib/status/plc1";
    const Buf payload = bytes("offline");
    w.payload = payload;
    w.qos = 1;
    w.retain = true;
    c.will = w;
    c.username = "alice";
    const Buf pw = bytes("s3cret");
    c.password = Bytes(pw);
    Buf out;
    encode(out, c);
    auto d = decode_as<Connect>(out, Version::V311);
    EXPECT_EQ(d.version, Version::V311);
    EXPECT_EQ(d.protocol_name, "MQTT");
    EXPECT_FALSE(d.clean_start);
    EXPECT_EQ(d.keep_alive, 60);
    EXPECT_EQ(d.client_id, "plc-gateway-1");
    ASSERT_TRUE(d.will);
    EXPECT_EQ(d.will->topic, "ib/status/plc1");
    EXPECT_EQ(str(d.will->payload), "offline");
    EXPECT_EQ(d.will->qos, 1);
    EXPECT_TRUE(d.will->retain);
    EXPECT_EQ(d.username, "alice");
    ASSERT_TRUE(d.password);
    EXPECT_EQ(str(*d.password), "s3cret");
}

TEST(ConnectRoundTrip, V31UsesMQIsdpName) {
    Connect c;
    c.version = Version::V31;
    c.client_id = "old-client";
    c.keep_alive = 10;
    Buf out;
    encode(out, c);
    // The version argument is ignored for CONNECT, which carries its own.
    auto d = decode_as<Connect>(out, Version::V5);
    EXPECT_EQ(d.version, Version::V31);
    EXPECT_EQ(d.protocol_name, "MQIsdp");
    EXPECT_EQ(d.client_id, "old-client");
    EXPECT_FALSE(d.will);
    EXPECT_FALSE(d.username);
}

TEST(ConnectRoundTrip, V5WithPropertiesAndWillProperties) {
    Connect c;
    c.version = Version::V5;
    c.client_id = "";
    c.keep_alive = 0;
    c.properties.session_expiry_interval = 3600;
    c.properties.receive_maximum = 20;
    c.properties.maximum_packet_size = 1 << 20;
    c.properties.topic_alias_maximum = 10;
    c.properties.request_problem_information = 0;
    c.properties.request_response_information = 1;
    c.properties.authentication_method = "SCRAM-SHA-1";
    const Buf auth = bytes({1, 2, 3});
    c.properties.authentication_data = Bytes(auth);
    c.properties.user_properties_raw = sample_user_props();
    Will w;
    w.topic = "ib/status/x";
    w.qos = 2;
    w.properties.will_delay_interval = 5;
    w.properties.payload_format_indicator = 1;
    w.properties.message_expiry_interval = 99;
    w.properties.content_type = "text/plain";
    w.properties.response_topic = "reply/here";
    const Buf corr = bytes({9, 8});
    w.properties.correlation_data = Bytes(corr);
    c.will = w;
    // 5.0 allows a password without a user name (§3.1.2.9).
    const Buf pw = bytes("token");
    c.password = Bytes(pw);
    Buf out;
    encode(out, c);
    auto d = decode_as<Connect>(out, Version::V5);
    EXPECT_EQ(d.version, Version::V5);
    EXPECT_TRUE(d.clean_start);
    EXPECT_EQ(d.client_id, "");
    expect_same(d.properties, c.properties);
    ASSERT_TRUE(d.will);
    EXPECT_EQ(d.will->qos, 2);
    expect_same(d.will->properties, w.properties);
    EXPECT_FALSE(d.username);
    ASSERT_TRUE(d.password);
    EXPECT_EQ(str(*d.password), "token");
}

TEST(ConnackRoundTrip, V311SessionPresent) {
    Connack c;
    c.session_present = true;
    c.reason_code = v3_connack::kAccepted;
    auto d = round_trip(c, Version::V311, Version::V311);
    EXPECT_TRUE(d.session_present);
    EXPECT_EQ(d.reason_code, 0);
}

TEST(ConnackRoundTrip, V311RefusedReturnCode) {
    Connack c;
    c.reason_code = v3_connack::kNotAuthorized;
    auto d = round_trip(c, Version::V311, Version::V311);
    EXPECT_FALSE(d.session_present);
    EXPECT_EQ(d.reason_code, v3_connack::kNotAuthorized);
}

TEST(ConnackRoundTrip, V5WithServerProperties) {
    Connack c;
    c.reason_code = reason::kSuccess;
    c.properties.assigned_client_identifier = "auto-1234";
    c.properties.server_keep_alive = 30;
    c.properties.maximum_qos = 1;
    c.properties.retain_available = 1;
    c.properties.wildcard_subscription_available = 1;
    c.properties.subscription_identifier_available = 0;
    c.properties.shared_subscription_available = 1;
    c.properties.topic_alias_maximum = 16;
    c.properties.receive_maximum = 100;
    c.properties.response_information = "resp/";
    c.properties.server_reference = "other:1883";
    c.properties.reason_string = "welcome";
    c.properties.session_expiry_interval = 0;
    c.properties.maximum_packet_size = 65536;
    c.properties.user_properties_raw = sample_user_props();
    auto d = round_trip(c, Version::V5, Version::V5);
    EXPECT_EQ(d.reason_code, 0);
    expect_same(d.properties, c.properties);
}

TEST(PublishRoundTrip, V311Qos0) {
    Publish p;
    p.topic = "ib/data/plc1/fast";
    const Buf payload = bytes(R"({"ts":1,"values":{"t":21.5}})");
    p.payload = payload;
    auto d = round_trip(p, Version::V311, Version::V311);
    EXPECT_EQ(d.qos, 0);
    EXPECT_EQ(d.packet_id, 0);
    EXPECT_EQ(d.topic, "ib/data/plc1/fast");
    EXPECT_EQ(str(d.payload), str(p.payload));
    EXPECT_TRUE(d.properties.empty());
}

TEST(PublishRoundTrip, V311Qos1RetainDup) {
    Publish p;
    p.topic = "a/b";
    p.qos = 1;
    p.retain = true;
    p.dup = true;
    p.packet_id = 42;
    auto d = round_trip(p, Version::V311, Version::V311);
    EXPECT_EQ(d.qos, 1);
    EXPECT_TRUE(d.retain);
    EXPECT_TRUE(d.dup);
    EXPECT_EQ(d.packet_id, 42);
    EXPECT_TRUE(d.payload.empty());
}

TEST(PublishRoundTrip, V311Qos2) {
    Publish p;
    p.topic = "x";
    p.qos = 2;
    p.packet_id = 65535;
    const Buf payload(1000, std::byte{0xAB});
    p.payload = payload;
    auto d = round_trip(p, Version::V311, Version::V311);
    EXPECT_EQ(d.qos, 2);
    EXPECT_EQ(d.packet_id, 65535);
    EXPECT_EQ(d.payload.size(), 1000u);
}

TEST(PublishRoundTrip, V5WithAllPublishProperties) {
    Publish p;
    p.topic = "ib/write/plc1";
    p.qos = 1;
    p.packet_id = 7;
    const Buf payload = bytes(R"({"id":"r-17"})");
    p.payload = payload;
    p.properties.payload_format_indicator = 1;
    p.properties.message_expiry_interval = 120;
    p.properties.content_type = "application/json";
    p.properties.response_topic = "ib/write/plc1/result";
    const Buf corr = bytes({0xde, 0xad});
    p.properties.correlation_data = Bytes(corr);
    p.properties.topic_alias = 3;
    p.properties.subscription_ids[0] = 1;
    p.properties.subscription_ids[1] = 268'435'455;
    p.properties.subscription_id_count = 2;
    p.properties.user_properties_raw = sample_user_props();
    auto d = round_trip(p, Version::V5, Version::V5);
    EXPECT_EQ(d.topic, p.topic);
    EXPECT_EQ(d.packet_id, 7);
    EXPECT_EQ(str(d.payload), str(p.payload));
    expect_same(d.properties, p.properties);
}

TEST(PublishRoundTrip, V5EmptyTopicWithTopicAlias) {
    Publish p;
    p.topic = "";
    p.properties.topic_alias = 1;
    auto d = round_trip(p, Version::V5, Version::V5);
    EXPECT_EQ(d.topic, "");
    EXPECT_EQ(d.properties.topic_alias, 1);
}

TEST(PublishEncode, EncodedSizeMatchesEncode) {
    Publish p;
    p.topic = "ib/data/dev/group";
    p.qos = 1;
    p.packet_id = 9;
    for (std::size_t len : {0u, 100u, 127u, 200u, 16'383u, 20'000u}) {
        const Buf payload(len, std::byte{1});
        p.payload = payload;
        for (Version v : {Version::V311, Version::V5}) {
            p.properties = {};
            if (v == Version::V5) {
                p.properties.message_expiry_interval = 5;
                p.properties.user_properties_raw = sample_user_props();
            }
            Buf out = bytes({0xFF});  // encode appends; existing bytes stay
            encode(out, p, v);
            EXPECT_EQ(out.size() - 1, encoded_size(p, v)) << "payload " << len;
        }
    }
}

TEST(PublishEncode, WithoutPropertiesAppendsTheSpecBytesAfterWhatTheBufferHolds) {
    Publish p;
    p.topic = "a/b";
    p.qos = 1;
    p.packet_id = 7;
    const Buf payload = bytes("hi");
    p.payload = payload;
    Buf out = bytes({0xFF});
    encode(out, p, Version::V5);
    encode(out, p, Version::V311);
    // §3.3: fixed header, topic with its length, packet identifier, (5.0) a
    // Property Length of 0, then the payload.
    const Buf v5 = bytes({0x32, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 0x00, 'h', 'i'});
    const Buf v311 = bytes({0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 'h', 'i'});
    Buf expected = bytes({0xFF});
    expected.insert(expected.end(), v5.begin(), v5.end());
    expected.insert(expected.end(), v311.begin(), v311.end());
    EXPECT_EQ(out, expected);
    EXPECT_EQ(encoded_size(p, Version::V5), v5.size());
}

void ack_round_trip(PacketType type, Version version, uint8_t reason_code, bool with_props) {
    Ack a;
    a.type = type;
    a.packet_id = 1234;
    a.reason_code = reason_code;
    if (with_props) {
        a.properties.reason_string = "why";
        a.properties.user_properties_raw = sample_user_props();
    }
    auto d = round_trip(a, version, version);
    EXPECT_EQ(d.type, type);
    EXPECT_EQ(d.packet_id, 1234);
    if (version == Version::V5) {
        EXPECT_EQ(d.reason_code, reason_code);
        expect_same(d.properties, a.properties);
    }
}

TEST(AckRoundTrip, V311AllFourTypes) {
    for (auto t : {PacketType::Puback, PacketType::Pubrec, PacketType::Pubrel, PacketType::Pubcomp}) {
        ack_round_trip(t, Version::V311, 0, false);
    }
}

TEST(AckRoundTrip, V5AllFourTypesWithReasonAndProperties) {
    ack_round_trip(PacketType::Puback, Version::V5, reason::kNoMatchingSubscribers, true);
    ack_round_trip(PacketType::Pubrec, Version::V5, reason::kQuotaExceeded, true);
    ack_round_trip(PacketType::Pubrel, Version::V5, reason::kPacketIdentifierNotFound, true);
    ack_round_trip(PacketType::Pubcomp, Version::V5, reason::kSuccess, true);
}

TEST(AckRoundTrip, V5ReasonWithoutProperties) {
    ack_round_trip(PacketType::Puback, Version::V5, reason::kNotAuthorized, false);
}

TEST(AckEncode, V5SuccessWithoutPropertiesUsesTwoByteForm) {
    Ack a;
    a.type = PacketType::Puback;
    a.packet_id = 0x0102;
    Buf out;
    encode(out, a, Version::V5);
    EXPECT_EQ(out, bytes({0x40, 0x02, 0x01, 0x02}));
}

TEST(AckEncode, V5ReasonWithoutPropertiesUsesThreeByteForm) {
    Ack a;
    a.type = PacketType::Pubrec;
    a.packet_id = 5;
    a.reason_code = reason::kUnspecifiedError;
    Buf out;
    encode(out, a, Version::V5);
    EXPECT_EQ(out, bytes({0x50, 0x03, 0x00, 0x05, 0x80}));
}

TEST(AckEncode, PubrelCarriesFlagsTwo) {
    Ack a;
    a.type = PacketType::Pubrel;
    a.packet_id = 1;
    Buf out;
    encode(out, a, Version::V311);
    EXPECT_EQ(out, bytes({0x62, 0x02, 0x00, 0x01}));
}

TEST(AckDecode, V5AcceptsTwoByteForm) {
    auto a = decode_as<Ack>(bytes({0x70, 0x02, 0x00, 0x09}), Version::V5);
    EXPECT_EQ(a.type, PacketType::Pubcomp);
    EXPECT_EQ(a.packet_id, 9);
    EXPECT_EQ(a.reason_code, 0);
    EXPECT_TRUE(a.properties.empty());
}

TEST(AckDecode, V5AcceptsThreeByteForm) {
    auto a = decode_as<Ack>(bytes({0x40, 0x03, 0x00, 0x09, 0x10}), Version::V5);
    EXPECT_EQ(a.reason_code, reason::kNoMatchingSubscribers);
    EXPECT_TRUE(a.properties.empty());
}

TEST(AckDecode, V5AcceptsEmptyPropertyList) {
    auto a = decode_as<Ack>(bytes({0x40, 0x04, 0x00, 0x09, 0x00, 0x00}), Version::V5);
    EXPECT_EQ(a.reason_code, 0);
    EXPECT_TRUE(a.properties.empty());
}

TEST(SubscribeRoundTrip, V311SeveralFilters) {
    Subscribe s;
    s.packet_id = 10;
    s.topics = {{"ib/data/+/fast", 1}, {"$SYS/#", 0}, {"a/b/c", 2}};
    auto d = round_trip(s, Version::V311, Version::V311);
    EXPECT_EQ(d.packet_id, 10);
    ASSERT_EQ(d.topics.size(), 3u);
    EXPECT_EQ(d.topics[0].filter, "ib/data/+/fast");
    EXPECT_EQ(d.topics[0].qos, 1);
    EXPECT_EQ(d.topics[1].filter, "$SYS/#");
    EXPECT_EQ(d.topics[2].qos, 2);
}

TEST(SubscribeRoundTrip, V5OptionsAndSubscriptionId) {
    Subscribe s;
    s.packet_id = 11;
    s.properties.subscription_ids[0] = 77;
    s.properties.subscription_id_count = 1;
    s.properties.user_properties_raw = sample_user_props();
    SubscribeTopic t{"ib/#", 2, true, true, 2};
    SubscribeTopic shared{"$share/group1/ib/data/+", 1, false, false, 1};
    s.topics = {t, shared};
    auto d = round_trip(s, Version::V5, Version::V5);
    ASSERT_EQ(d.topics.size(), 2u);
    EXPECT_EQ(d.topics[0].filter, "ib/#");
    EXPECT_EQ(d.topics[0].qos, 2);
    EXPECT_TRUE(d.topics[0].no_local);
    EXPECT_TRUE(d.topics[0].retain_as_published);
    EXPECT_EQ(d.topics[0].retain_handling, 2);
    EXPECT_EQ(d.topics[1].filter, "$share/group1/ib/data/+");
    EXPECT_EQ(d.topics[1].retain_handling, 1);
    expect_same(d.properties, s.properties);
}

TEST(SubackRoundTrip, V311) {
    Suback s;
    s.packet_id = 10;
    s.reason_codes = {0, 1, 2, 0x80};
    auto d = round_trip(s, Version::V311, Version::V311);
    EXPECT_EQ(d.packet_id, 10);
    EXPECT_EQ(d.reason_codes, s.reason_codes);
}

TEST(SubackRoundTrip, V5WithReasonString) {
    Suback s;
    s.packet_id = 10;
    s.reason_codes = {reason::kGrantedQos1, reason::kTopicFilterInvalid,
                      reason::kSharedSubscriptionsNotSupported};
    s.properties.reason_string = "partly";
    auto d = round_trip(s, Version::V5, Version::V5);
    EXPECT_EQ(d.reason_codes, s.reason_codes);
    expect_same(d.properties, s.properties);
}

TEST(UnsubscribeRoundTrip, V311) {
    Unsubscribe u;
    u.packet_id = 12;
    u.filters = {"a/+", "b/#"};
    auto d = round_trip(u, Version::V311, Version::V311);
    EXPECT_EQ(d.packet_id, 12);
    ASSERT_EQ(d.filters.size(), 2u);
    EXPECT_EQ(d.filters[0], "a/+");
    EXPECT_EQ(d.filters[1], "b/#");
}

TEST(UnsubscribeRoundTrip, V5WithUserProperties) {
    Unsubscribe u;
    u.packet_id = 12;
    u.filters = {"$share/g/x"};
    u.properties.user_properties_raw = sample_user_props();
    auto d = round_trip(u, Version::V5, Version::V5);
    ASSERT_EQ(d.filters.size(), 1u);
    EXPECT_EQ(d.filters[0], "$share/g/x");
    expect_same(d.properties, u.properties);
}

TEST(UnsubackRoundTrip, V311HasNoReasonCodes) {
    Unsuback u;
    u.packet_id = 13;
    Buf out;
    encode(out, u, Version::V311);
    EXPECT_EQ(out, bytes({0xB0, 0x02, 0x00, 0x0D}));
    auto d = decode_as<Unsuback>(out, Version::V311);
    EXPECT_EQ(d.packet_id, 13);
    EXPECT_TRUE(d.reason_codes.empty());
}

TEST(UnsubackRoundTrip, V5WithReasonCodes) {
    Unsuback u;
    u.packet_id = 13;
    u.reason_codes = {reason::kSuccess, reason::kNoSubscriptionExisted};
    u.properties.reason_string = "ok";
    auto d = round_trip(u, Version::V5, Version::V5);
    EXPECT_EQ(d.reason_codes, u.reason_codes);
    expect_same(d.properties, u.properties);
}

TEST(PingRoundTrip, PingreqAndPingrespBothVersions) {
    for (Version v : {Version::V311, Version::V5}) {
        Buf out;
        encode(out, Pingreq{});
        encode(out, Pingresp{});
        EXPECT_EQ(out, bytes({0xC0, 0x00, 0xD0, 0x00}));
        std::size_t consumed = 0;
        auto first = decode_one(out, v, consumed);
        ASSERT_TRUE(first && *first);
        EXPECT_TRUE(std::holds_alternative<Pingreq>(**first));
        auto second = decode_one(Bytes(out).subspan(consumed), v, consumed);
        ASSERT_TRUE(second && *second);
        EXPECT_TRUE(std::holds_alternative<Pingresp>(**second));
    }
}

TEST(DisconnectRoundTrip, V311IsTwoBytes) {
    Buf out;
    encode(out, Disconnect{}, Version::V311);
    EXPECT_EQ(out, bytes({0xE0, 0x00}));
    auto d = decode_as<Disconnect>(out, Version::V311);
    EXPECT_EQ(d.reason_code, 0);
}

TEST(DisconnectRoundTrip, V5WithReasonAndProperties) {
    Disconnect d;
    d.reason_code = reason::kServerMoved;
    d.properties.server_reference = "edge-2:1883";
    d.properties.reason_string = "maintenance";
    d.properties.session_expiry_interval = 10;
    auto r = round_trip(d, Version::V5, Version::V5);
    EXPECT_EQ(r.reason_code, reason::kServerMoved);
    expect_same(r.properties, d.properties);
}

TEST(DisconnectEncode, V5ShortForms) {
    Buf out;
    encode(out, Disconnect{}, Version::V5);
    EXPECT_EQ(out, bytes({0xE0, 0x00}));
    out.clear();
    encode(out, Disconnect{reason::kDisconnectWithWill, {}}, Version::V5);
    EXPECT_EQ(out, bytes({0xE0, 0x01, 0x04}));
    EXPECT_EQ(decode_as<Disconnect>(out, Version::V5).reason_code, reason::kDisconnectWithWill);
}

TEST(AuthRoundTrip, V5ContinueAuthentication) {
    Auth a;
    a.reason_code = 0x18;
    a.properties.authentication_method = "SCRAM-SHA-256";
    const Buf data = bytes({0x01, 0x02});
    a.properties.authentication_data = Bytes(data);
    a.properties.reason_string = "step 2";
    Buf out;
    encode(out, a);
    auto d = decode_as<Auth>(out, Version::V5);
    EXPECT_EQ(d.reason_code, 0x18);
    expect_same(d.properties, a.properties);
}

TEST(AuthEncode, SuccessWithoutPropertiesIsTwoBytes) {
    Buf out;
    encode(out, Auth{});
    EXPECT_EQ(out, bytes({0xF0, 0x00}));
    EXPECT_EQ(decode_as<Auth>(out, Version::V5).reason_code, 0);
}

TEST(PacketEncode, VariantEncodesTheHeldPacket) {
    Packet p = Publish{0, false, false, "t", 0, {}, {}};
    Buf out;
    encode(out, p, Version::V311);
    EXPECT_EQ(out, bytes({0x30, 0x03, 0x00, 0x01, 't'}));
}

TEST(DecodeOne, NeedsMoreBytesIsNotAnError) {
    const Buf full = bytes({0x30, 0x05, 0x00, 0x01, 't', 'h', 'i'});
    for (std::size_t n = 0; n < full.size(); ++n) {
        std::size_t consumed = 99;
        auto r = decode_one(Bytes(full).first(n), Version::V311, consumed);
        ASSERT_TRUE(r.has_value()) << n;
        EXPECT_FALSE(r->has_value()) << n;
        EXPECT_EQ(consumed, 99u);
    }
}

TEST(DecodeOne, DecodesBackToBackPackets) {
    Buf out;
    Publish p;
    p.topic = "a";
    encode(out, p, Version::V311);
    encode(out, Pingreq{});
    std::size_t consumed = 0;
    auto first = decode_one(out, Version::V311, consumed);
    ASSERT_TRUE(first && *first);
    EXPECT_EQ(consumed, 5u);
    EXPECT_TRUE(std::holds_alternative<Publish>(**first));
}

}  // namespace
}  // namespace ib::mqtt::codec::test
