// Byte-exact tests against the examples of the 3.1.1 and 5.0 specifications,
// written out by hand, in both directions (decode the bytes, encode the fields).
#include "codec_test_util.hpp"

namespace ib::mqtt::codec::test {
namespace {

// §1.5.5 (5.0) / §2.2.3 (3.1.1): the table of Variable Byte Integer sizes.
TEST(VarintEncode, MatchesSpecTableBoundaries) {
    struct Case {
        uint32_t value;
        Buf wire;
    };
    const Case cases[] = {
        {0, bytes({0x00})},
        {127, bytes({0x7F})},
        {128, bytes({0x80, 0x01})},
        {16'383, bytes({0xFF, 0x7F})},
        {16'384, bytes({0x80, 0x80, 0x01})},
        {2'097'151, bytes({0xFF, 0xFF, 0x7F})},
        {2'097'152, bytes({0x80, 0x80, 0x80, 0x01})},
        {268'435'455, bytes({0xFF, 0xFF, 0xFF, 0x7F})},
    };
    for (const auto& c : cases) {
        Buf out;
        encode_varint(out, c.value);
        EXPECT_EQ(out, c.wire) << c.value;
        EXPECT_EQ(varint_size(c.value), c.wire.size()) << c.value;
        // The same bytes as a Remaining Length, after a PUBLISH first byte.
        Buf frame = bytes({0x30});
        frame.insert(frame.end(), c.wire.begin(), c.wire.end());
        auto h = decode_frame_header(frame);
        ASSERT_TRUE(h && *h) << c.value;
        EXPECT_EQ((*h)->remaining_length, c.value);
        EXPECT_EQ((*h)->header_size, 1 + c.wire.size());
    }
}

// 5.0 §1.5.4 example: "A" followed by U+2A6D4 is 00 05 41 F0 AA 9B 94.
TEST(PublishDecode, SpecUtf8ExampleTopic) {
    const Buf wire = bytes({0x30, 0x07, 0x00, 0x05, 0x41, 0xF0, 0xAA, 0x9B, 0x94});
    auto p = decode_as<Publish>(wire, Version::V311);
    EXPECT_EQ(p.topic, "A\xF0\xAA\x9B\x94");
}

// 3.1.1 Figure 3.6: protocol name, level 4, flags 0xCE (user name, password,
// will QoS 1, will flag, clean session), keep alive 10.
TEST(ConnectDecode, V311SpecVariableHeaderExample) {
    const Buf wire = bytes({0x10, 0x1E,                                   // fixed header
                            0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xCE, 0x00, 0x0A,
                            0x00, 0x01, 'c',                              // client id
                            0x00, 0x03, 'w', '/', 't',                    // will topic
                            0x00, 0x02, 'b', 'y',                         // will payload
                            0x00, 0x02, 'u', '1',                         // user name
                            0x00, 0x02, 'p', 'w'});                       // password
    auto c = decode_as<Connect>(wire, Version::V311);
    EXPECT_EQ(c.version, Version::V311);
    EXPECT_TRUE(c.clean_start);
    EXPECT_EQ(c.keep_alive, 10);
    EXPECT_EQ(c.client_id, "c");
    ASSERT_TRUE(c.will);
    EXPECT_EQ(c.will->qos, 1);
    EXPECT_FALSE(c.will->retain);
    EXPECT_EQ(c.will->topic, "w/t");
    EXPECT_EQ(c.username, "u1");
    Buf out;
    encode(out, c);
    EXPECT_EQ(out, wire);
}

// 5.0 Figure 3-6: as above at level 5, with Property Length 5 holding Session
// Expiry Interval 10 (0x11 00 00 00 0A).
TEST(ConnectDecode, V5SpecVariableHeaderExample) {
    const Buf wire = bytes({0x10, 0x25,
                            0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0xCE, 0x00, 0x0A,
                            0x05, 0x11, 0x00, 0x00, 0x00, 0x0A,           // properties
                            0x00, 0x01, 'c',                              // client id
                            0x00,                                         // will properties
                            0x00, 0x03, 'w', '/', 't',
                            0x00, 0x02, 'b', 'y',
                            0x00, 0x02, 'u', '1',
                            0x00, 0x02, 'p', 'w'});
    auto c = decode_as<Connect>(wire, Version::V5);
    EXPECT_EQ(c.version, Version::V5);
    EXPECT_EQ(c.properties.session_expiry_interval, 10u);
    ASSERT_TRUE(c.will);
    EXPECT_TRUE(c.will->properties.empty());
    Buf out;
    encode(out, c);
    EXPECT_EQ(out, wire);
}

// 3.1.1 Figure 3.11: topic "a/b", packet identifier 10.
TEST(PublishDecode, V311SpecVariableHeaderExample) {
    const Buf wire = bytes({0x32, 0x07, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A});
    auto p = decode_as<Publish>(wire, Version::V311);
    EXPECT_EQ(p.qos, 1);
    EXPECT_EQ(p.topic, "a/b");
    EXPECT_EQ(p.packet_id, 10);
    Buf out;
    encode(out, p, Version::V311);
    EXPECT_EQ(out, wire);
}

// 5.0 Figure 3-9: the same with Property Length 0.
TEST(PublishDecode, V5SpecVariableHeaderExample) {
    const Buf wire = bytes({0x32, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 0x00});
    auto p = decode_as<Publish>(wire, Version::V5);
    EXPECT_EQ(p.topic, "a/b");
    EXPECT_EQ(p.packet_id, 10);
    EXPECT_TRUE(p.properties.empty());
    Buf out;
    encode(out, p, Version::V5);
    EXPECT_EQ(out, wire);
}

// 3.1.1 Figure 3.22: "a/b" at QoS 1 and "c/d" at QoS 2.
TEST(SubscribeDecode, V311SpecPayloadExample) {
    const Buf wire = bytes({0x82, 0x0E, 0x00, 0x01, 0x00, 0x03, 'a', '/', 'b', 0x01,
                            0x00, 0x03, 'c', '/', 'd', 0x02});
    auto s = decode_as<Subscribe>(wire, Version::V311);
    ASSERT_EQ(s.topics.size(), 2u);
    EXPECT_EQ(s.topics[0].filter, "a/b");
    EXPECT_EQ(s.topics[0].qos, 1);
    EXPECT_EQ(s.topics[1].filter, "c/d");
    EXPECT_EQ(s.topics[1].qos, 2);
    Buf out;
    encode(out, s, Version::V311);
    EXPECT_EQ(out, wire);
}

// 3.1.1 Figure 3.26: granted QoS 0, granted QoS 2, failure.
TEST(SubackDecode, V311SpecPayloadExample) {
    const Buf wire = bytes({0x90, 0x05, 0x00, 0x01, 0x00, 0x02, 0x80});
    auto s = decode_as<Suback>(wire, Version::V311);
    EXPECT_EQ(s.reason_codes, (std::vector<uint8_t>{0x00, 0x02, 0x80}));
    Buf out;
    encode(out, s, Version::V311);
    EXPECT_EQ(out, wire);
}

// 3.1.1 Figure 3.30: unsubscribe "a/b" and "c/d".
TEST(UnsubscribeDecode, V311SpecPayloadExample) {
    const Buf wire = bytes({0xA2, 0x0C, 0x00, 0x01, 0x00, 0x03, 'a', '/', 'b',
                            0x00, 0x03, 'c', '/', 'd'});
    auto u = decode_as<Unsubscribe>(wire, Version::V311);
    ASSERT_EQ(u.filters.size(), 2u);
    EXPECT_EQ(u.filters[1], "c/d");
    Buf out;
    encode(out, u, Version::V311);
    EXPECT_EQ(out, wire);
}

TEST(ConnackEncode, V311AcceptedIsFourBytes) {
    Buf out;
    encode(out, Connack{}, Version::V311);
    EXPECT_EQ(out, bytes({0x20, 0x02, 0x00, 0x00}));
}

TEST(ConnackEncode, V5UnsupportedVersionWithNoProperties) {
    Connack c;
    c.reason_code = reason::kUnsupportedProtocolVersion;
    Buf out;
    encode(out, c, Version::V5);
    EXPECT_EQ(out, bytes({0x20, 0x03, 0x00, 0x84, 0x00}));
}

}  // namespace
}  // namespace ib::mqtt::codec::test
