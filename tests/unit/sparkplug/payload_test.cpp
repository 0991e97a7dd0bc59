#include "sparkplug/payload.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace ib::sparkplug {
namespace {

std::vector<std::byte> encode(const Payload& p) {
    PayloadEncoder encoder;
    std::vector<std::byte> out;
    encoder.encode(p, out);
    return out;
}

Metric metric(std::string name, DataType type, MetricValue value) {
    Metric m;
    m.name = std::move(name);
    m.alias = 7;
    m.timestamp = 1700000000000;
    m.datatype = type;
    m.value = std::move(value);
    return m;
}

TEST(SparkplugPayload, EveryScalarDatatypeRoundTrips) {
    Payload p;
    p.timestamp = 1700000000123;
    p.seq = 255;
    p.metrics = {metric("i8", DataType::Int8, int64_t{-5}),
                 metric("i16", DataType::Int16, int64_t{-300}),
                 metric("i32", DataType::Int32, int64_t{-70000}),
                 metric("i64", DataType::Int64, int64_t{-5000000000}),
                 metric("u8", DataType::UInt8, uint64_t{200}),
                 metric("u16", DataType::UInt16, uint64_t{60000}),
                 metric("u32", DataType::UInt32, uint64_t{4000000000}),
                 metric("u64", DataType::UInt64, uint64_t{18446744073709551615ull}),
                 metric("f", DataType::Float, 21.5f),
                 metric("d", DataType::Double, 1234.5678),
                 metric("b", DataType::Boolean, true),
                 metric("s", DataType::String, std::string("héllo")),
                 metric("t", DataType::DateTime, uint64_t{1700000000000}),
                 metric("bytes", DataType::Bytes, std::vector<uint8_t>{0, 1, 255}),
                 metric("null", DataType::Int32, std::monostate{})};
    p.metrics[9].eng_unit = "degC";
    auto decoded = decode_payload(encode(p));
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(decoded->timestamp, p.timestamp);
    EXPECT_EQ(decoded->seq, p.seq);
    ASSERT_EQ(decoded->metrics.size(), p.metrics.size());
    for (std::size_t i = 0; i < p.metrics.size(); ++i) {
        const Metric& want = p.metrics[i];
        const Metric& got = decoded->metrics[i];
        EXPECT_EQ(got.name, want.name);
        EXPECT_EQ(got.alias, want.alias);
        EXPECT_EQ(got.timestamp, want.timestamp);
        EXPECT_EQ(got.datatype, want.datatype) << want.name;
        EXPECT_EQ(got.value, want.value) << want.name;
        EXPECT_EQ(got.eng_unit, want.eng_unit);
    }
}

TEST(SparkplugPayload, NdeathHasNoSeqAndADataMessageNoNames) {
    Payload p;
    p.metrics.push_back(Metric{"", 3, std::nullopt, DataType::UInt16, uint64_t{7}, {}});
    auto decoded = decode_payload(encode(p));
    ASSERT_TRUE(decoded);
    EXPECT_FALSE(decoded->seq);
    EXPECT_FALSE(decoded->timestamp);
    EXPECT_EQ(decoded->metrics[0].name, "");
    EXPECT_EQ(decoded->metrics[0].alias, 3u);
}

// Eclipse Tahu's JavaScript and Java libraries put UInt32 in long_value
// (field 11), Sparkplug 3.0 in int_value (field 10): a command is read either way.
TEST(SparkplugPayload, UInt32InLongValueIsAccepted) {
    // Payload{ metrics: [ { name: "u", datatype: 7, long_value: 4000000000 } ] }, by hand.
    const unsigned char bytes[] = {0x12, 0x0B, 0x0A, 0x01, 'u', 0x20, 0x07, 0x58, 0x80, 0xD0, 0xAC, 0xF3, 0x0E};
    auto decoded = decode_payload(std::as_bytes(std::span(bytes)));
    ASSERT_TRUE(decoded) << decoded.error().message;
    ASSERT_EQ(decoded->metrics.size(), 1u);
    EXPECT_EQ(decoded->metrics[0].value, MetricValue(uint64_t{4000000000}));
}

// Negative Int8/Int16 arrive sign-extended to 32 bits (Tahu) or in their own
// width; both read back as the same number.
TEST(SparkplugPayload, SignedNarrowIntegersInEitherForm) {
    // { datatype: 1 (Int8), int_value: 0xFB }
    const unsigned char narrow[] = {0x12, 0x05, 0x20, 0x01, 0x50, 0xFB, 0x01};
    auto a = decode_payload(std::as_bytes(std::span(narrow)));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->metrics[0].value, MetricValue(int64_t{-5}));
    Payload p;
    p.metrics.push_back(Metric{"x", std::nullopt, std::nullopt, DataType::Int8, int64_t{-5}, {}});
    auto b = decode_payload(encode(p));
    ASSERT_TRUE(b);
    EXPECT_EQ(b->metrics[0].value, MetricValue(int64_t{-5}));
}

// A value is cut to its datatype's width when encoded, so one value has one
// encoding (found by sparkplug_decode_fuzz: an Int16 metric carrying a
// long_value re-encoded differently each time), and a float out of an
// integer's range saturates instead of being undefined behaviour.
TEST(SparkplugPayload, ValuesAreCutToTheirDatatypesWidth) {
    Payload p;
    p.metrics.push_back(Metric{"a", std::nullopt, std::nullopt, DataType::Int8, int64_t{300}, {}});
    p.metrics.push_back(Metric{"b", std::nullopt, std::nullopt, DataType::Int16, uint64_t{4000000000}, {}});
    p.metrics.push_back(Metric{"c", std::nullopt, std::nullopt, DataType::UInt8, int64_t{-1}, {}});
    p.metrics.push_back(Metric{"d", std::nullopt, std::nullopt, DataType::Int64, 1e300, {}});
    auto first = encode(p);
    auto decoded = decode_payload(first);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->metrics[0].value, MetricValue(int64_t{44}));
    EXPECT_EQ(decoded->metrics[1].value, MetricValue(int64_t{static_cast<int16_t>(4000000000u & 0xFFFF)}));
    EXPECT_EQ(decoded->metrics[2].value, MetricValue(uint64_t{255}));
    EXPECT_EQ(decoded->metrics[3].value, MetricValue(int64_t{INT64_MAX}));
    EXPECT_EQ(encode(*decoded), first);
}

TEST(SparkplugPayload, GarbageIsAnErrorNotACrash) {
    const unsigned char bytes[] = {0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00};
    auto decoded = decode_payload(std::as_bytes(std::span(bytes)));
    ASSERT_FALSE(decoded);
    EXPECT_NE(decoded.error().message.find("not a Sparkplug B payload"), std::string::npos);
}

TEST(SparkplugPayload, EncoderReusesItsMessageAcrossCalls) {
    PayloadEncoder encoder;
    std::vector<std::byte> first, second;
    Payload big;
    for (int i = 0; i < 10; ++i) big.metrics.push_back(metric("m" + std::to_string(i), DataType::Double, 1.0 * i));
    encoder.encode(big, first);
    Payload small;
    small.metrics.push_back(metric("x", DataType::Boolean, false));
    encoder.encode(small, second);
    auto decoded = decode_payload(second);
    ASSERT_TRUE(decoded);
    ASSERT_EQ(decoded->metrics.size(), 1u) << "nothing of the earlier payload is left";
    EXPECT_EQ(decoded->metrics[0].name, "x");
}

}  // namespace
}  // namespace ib::sparkplug
