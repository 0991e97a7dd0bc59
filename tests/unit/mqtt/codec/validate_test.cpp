// UTF-8 (§1.5.4) and topic name / filter (§4.7) checks, and the user
// property helpers of Properties.
#include "codec_test_util.hpp"

namespace ib::mqtt::codec::test {
namespace {

TEST(Utf8Validate, AcceptsAsciiAndMultibyte) {
    EXPECT_TRUE(valid_utf8(""));
    EXPECT_TRUE(valid_utf8("plain ascii text that is longer than eight bytes"));
    EXPECT_TRUE(valid_utf8("temp \xC2\xB0" "C"));                  // U+00B0
    EXPECT_TRUE(valid_utf8("\xE2\x82\xAC"));                       // U+20AC
    EXPECT_TRUE(valid_utf8("\xEF\xBB\xBF"));                       // U+FEFF is allowed
    EXPECT_TRUE(valid_utf8("\xF4\x8F\xBF\xBF"));                   // U+10FFFF, the last
}

// [MQTT-1.5.4-2] U+0000, found by the eight-byte fast path too.
TEST(Utf8Validate, RejectsNullCharacterAnywhere) {
    using namespace std::string_view_literals;
    EXPECT_FALSE(valid_utf8("\0"sv));
    EXPECT_FALSE(valid_utf8("abcdefgh\0ijklmnop"sv));
    EXPECT_FALSE(valid_utf8("abc\0efghijkl"sv));
}

// [MQTT-1.5.4-1] U+D800..U+DFFF are not allowed.
TEST(Utf8Validate, RejectsSurrogates) {
    EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));  // U+D800
    EXPECT_FALSE(valid_utf8("\xED\xBF\xBF"));  // U+DFFF
    EXPECT_TRUE(valid_utf8("\xED\x9F\xBF"));   // U+D7FF, just below
}

// [MQTT-1.5.4-1] overlong forms are ill-formed UTF-8.
TEST(Utf8Validate, RejectsOverlongForms) {
    EXPECT_FALSE(valid_utf8("\xC0\x80"));          // U+0000 in two bytes
    EXPECT_FALSE(valid_utf8("\xC1\xBF"));
    EXPECT_FALSE(valid_utf8("\xE0\x80\xAF"));      // '/' in three bytes
    EXPECT_FALSE(valid_utf8("\xF0\x80\x80\xAF"));  // '/' in four bytes
}

TEST(Utf8Validate, RejectsBeyondU10FFFFAndInvalidBytes) {
    EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // U+110000
    EXPECT_FALSE(valid_utf8("\xF5\x80\x80\x80"));
    EXPECT_FALSE(valid_utf8("\xFF"));
    EXPECT_FALSE(valid_utf8("\x80"));  // a lone continuation byte
}

TEST(Utf8Validate, RejectsTruncatedSequences) {
    EXPECT_FALSE(valid_utf8("\xC3"));
    EXPECT_FALSE(valid_utf8("\xE2\x82"));
    EXPECT_FALSE(valid_utf8("\xF0\x9F\x98"));
    EXPECT_FALSE(valid_utf8("\xE2\x28\xA1"));  // second byte not a continuation
}

TEST(TopicNameValidate, AcceptsOrdinaryNames) {
    EXPECT_TRUE(valid_topic_name("ib/data/plc1/fast"));
    EXPECT_TRUE(valid_topic_name("/"));
    EXPECT_TRUE(valid_topic_name("$SYS/broker/uptime"));
}

// [MQTT-4.7.3-1] non-empty; [MQTT-3.3.2-2] no wildcards.
TEST(TopicNameValidate, RejectsEmptyAndWildcards) {
    EXPECT_FALSE(valid_topic_name(""));
    EXPECT_FALSE(valid_topic_name("a/+/b"));
    EXPECT_FALSE(valid_topic_name("a/#"));
    EXPECT_FALSE(valid_topic_name("a+b"));
}

TEST(TopicNameValidate, FindsAWildcardAtEveryPositionOfALongTopic) {
    // The check reads eight bytes at a time: a wildcard in each word and in the tail.
    const std::string plain(21, 'a');
    EXPECT_FALSE(has_wildcard(plain));
    for (std::size_t at = 0; at < plain.size(); ++at) {
        for (char w : {'+', '#'}) {
            std::string t = plain;
            t[at] = w;
            EXPECT_TRUE(has_wildcard(t)) << t;
        }
    }
    // Bytes one above or below the wildcards, and high bytes, are not wildcards.
    EXPECT_FALSE(has_wildcard("********,,,,,,,,\"\"\"\"$$$$\xAB\xA3\xAB\xA3"));
}

TEST(TopicFilterValidate, AcceptsWellPlacedWildcards) {
    for (std::string_view f : {"#", "+", "+/+", "a/#", "a/+/b", "/+", "+/", "a//b", "$SYS/#"}) {
        EXPECT_TRUE(valid_topic_filter(f)) << f;
    }
}

// §4.7.1.2 and §4.7.1.3.
TEST(TopicFilterValidate, RejectsMisplacedWildcards) {
    for (std::string_view f : {"", "a#", "#/a", "a/#/b", "a+", "+a", "a/b+/c", "##", "++"}) {
        EXPECT_FALSE(valid_topic_filter(f)) << f;
    }
}

TEST(PropertiesEmpty, TrueOnlyWhenNothingIsSet) {
    Properties p;
    EXPECT_TRUE(p.empty());
    p.subscription_id_count = 1;
    EXPECT_FALSE(p.empty());
    p = {};
    const Buf raw = bytes({0x26, 0, 1, 'k', 0, 1, 'v'});
    p.user_properties_raw = raw;
    EXPECT_FALSE(p.empty());
    p = {};
    p.maximum_qos = 0;  // present with value 0 still counts
    EXPECT_FALSE(p.empty());
}

TEST(UserProperties, DecodesInOrderWithDuplicateKeys) {
    Buf raw;
    append_user_property(raw, "k", "1");
    append_user_property(raw, "k", "2");
    append_user_property(raw, "", "");
    auto list = user_properties(raw);
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list[0].key, "k");
    EXPECT_EQ(list[0].value, "1");
    EXPECT_EQ(list[1].value, "2");
    EXPECT_EQ(list[2].key, "");
}

TEST(UserProperties, DecoderKeepsContiguousRunVerbatim) {
    const Buf wire = frame(0x30, {0x00, 0x01, 't', 0x0E, 0x26, 0, 1, 'a', 0, 1, 'b',
                                  0x26, 0, 1, 'c', 0, 1, 'd', 'P'});
    auto p = decode_as<Publish>(wire, Version::V5);
    EXPECT_EQ(p.properties.user_properties_raw.size(), 14u);
    EXPECT_EQ(p.properties.user_properties_raw.data(), wire.data() + 6);  // a view, no copy
    auto list = user_properties(p.properties.user_properties_raw);
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[1].key, "c");
    EXPECT_EQ(str(p.payload), "P");
}

// §2.2.2.2 fixes no order, so other properties may sit between user properties:
// the run then includes them, and both readers and the encoder skip them.
TEST(UserProperties, InterleavedPropertyIsSkippedAndNotEncodedTwice) {
    const Buf wire = frame(0x30, {0x00, 0x01, 't', 0x13, 0x26, 0, 1, 'a', 0, 1, 'b', 0x02, 0, 0, 0,
                                  7, 0x26, 0, 1, 'c', 0, 1, 'd'});
    auto p = decode_as<Publish>(wire, Version::V5);
    EXPECT_EQ(p.properties.message_expiry_interval, 7u);
    auto list = user_properties(p.properties.user_properties_raw);
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].key, "a");
    EXPECT_EQ(list[1].key, "c");
    Buf out;
    encode(out, p, Version::V5);
    EXPECT_EQ(out.size(), encoded_size(p, Version::V5));
    EXPECT_EQ(out.size(), wire.size());  // same properties, reordered, none duplicated
    auto again = decode_as<Publish>(out, Version::V5);
    EXPECT_EQ(again.properties.message_expiry_interval, 7u);
    EXPECT_EQ(user_properties(again.properties.user_properties_raw).size(), 2u);
    EXPECT_EQ(again.properties.user_properties_raw.size(), 14u);  // now contiguous
}

// [MQTT-1.5.4-1] user property strings are UTF-8 too.
TEST(UserProperties, DecoderRejectsInvalidUtf8ValueWithMalformed) {
    expect_refused(frame(0x30, {0x00, 0x01, 't', 0x07, 0x26, 0, 1, 'a', 0, 1, 0xFF}), Version::V5,
                   reason::kMalformedPacket);
}

// §3.3.2.3.8: more Subscription Identifiers than Properties keeps are dropped.
TEST(SubscriptionIds, PublishKeepsTheFirstEight) {
    Buf body = bytes({0x00, 0x01, 't', 20});
    for (int i = 1; i <= 10; ++i) {
        body.push_back(std::byte{0x0B});
        body.push_back(static_cast<std::byte>(i));
    }
    Buf wire = bytes({0x30});
    encode_varint(wire, static_cast<uint32_t>(body.size()));
    wire.insert(wire.end(), body.begin(), body.end());
    auto p = decode_as<Publish>(wire, Version::V5);
    ASSERT_EQ(p.properties.subscription_id_count, Properties::kMaxSubscriptionIds);
    EXPECT_EQ(p.properties.subscription_ids[7], 8u);
}

}  // namespace
}  // namespace ib::mqtt::codec::test
