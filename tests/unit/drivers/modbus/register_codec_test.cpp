#include "drivers/modbus/register_codec.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace ib::drivers::modbus {
namespace {

using Bytes = std::vector<uint8_t>;

ModbusAddress address_of(std::string_view text, DataType type) {
    auto parsed = parse_address(text, type, AddressOptions{});
    EXPECT_TRUE(parsed.has_value()) << text << ": " << parsed.error();
    return parsed.value_or(ModbusAddress{});
}

// The registers as they go on the wire: big-endian, two bytes each.
Bytes wire_of(const Registers& registers) {
    Bytes out;
    for (uint16_t word : registers.view()) {
        out.push_back(static_cast<uint8_t>(word >> 8));
        out.push_back(static_cast<uint8_t>(word & 0xFF));
    }
    return out;
}

std::string describe(const Value& v) {
    switch (v.index()) {
        case 0:
            return std::get<bool>(v) ? "true" : "false";
        case 1:
            return "int64 " + std::to_string(std::get<int64_t>(v));
        case 2:
            return "uint64 " + std::to_string(std::get<uint64_t>(v));
        case 3:
            return "double " + std::to_string(std::get<double>(v));
        case 4:
            return "string \"" + std::get<std::string>(v) + "\"";
        default:
            return "bytes of " + std::to_string(std::get<Bytes>(v).size());
    }
}

const double kFloat123 = static_cast<double>(123.456f);

// A value and the bytes it is on the wire for one address; `symmetric` when
// encoding the value gives back exactly these bytes.
struct Vector {
    std::string_view address;
    DataType type;
    Bytes wire;
    Value value;
    bool symmetric = true;
};

const std::vector<Vector>& known_vectors() {
    static const std::vector<Vector> vectors = {
        // Float32 123.456 = 0x42F6E979 in each of the four orders.
        {"1!400001#BB", DataType::Float32, {0x42, 0xF6, 0xE9, 0x79}, kFloat123},
        {"1!400001#BL", DataType::Float32, {0xF6, 0x42, 0x79, 0xE9}, kFloat123},
        {"1!400001#LB", DataType::Float32, {0xE9, 0x79, 0x42, 0xF6}, kFloat123},
        {"1!400001#LL", DataType::Float32, {0x79, 0xE9, 0xF6, 0x42}, kFloat123},
        {"1!400001#BB", DataType::Float32, {0xBF, 0xC0, 0x00, 0x00}, -1.5},
        {"1!400001#BB", DataType::Float32, {0x00, 0x00, 0x00, 0x00}, 0.0},
        // Float64 123.456 = 0x405EDD2F1A9FBE77.
        {"1!400001#BB", DataType::Float64, {0x40, 0x5E, 0xDD, 0x2F, 0x1A, 0x9F, 0xBE, 0x77}, 123.456},
        {"1!400001#BL", DataType::Float64, {0x5E, 0x40, 0x2F, 0xDD, 0x9F, 0x1A, 0x77, 0xBE}, 123.456},
        {"1!400001#LB", DataType::Float64, {0xBE, 0x77, 0x1A, 0x9F, 0xDD, 0x2F, 0x40, 0x5E}, 123.456},
        {"1!400001#LL", DataType::Float64, {0x77, 0xBE, 0x9F, 0x1A, 0x2F, 0xDD, 0x5E, 0x40}, 123.456},
        {"1!400001#BB", DataType::Float64, {0xC0, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, -2.25},
        // Int32 0x12345678 and -2; Uint32 0xDEADBEEF.
        {"1!400001#BB", DataType::Int32, {0x12, 0x34, 0x56, 0x78}, int64_t{0x12345678}},
        {"1!400001#BL", DataType::Int32, {0x34, 0x12, 0x78, 0x56}, int64_t{0x12345678}},
        {"1!400001#LB", DataType::Int32, {0x56, 0x78, 0x12, 0x34}, int64_t{0x12345678}},
        {"1!400001#LL", DataType::Int32, {0x78, 0x56, 0x34, 0x12}, int64_t{0x12345678}},
        {"1!400001#BB", DataType::Int32, {0xFF, 0xFF, 0xFF, 0xFE}, int64_t{-2}},
        {"1!400001#LB", DataType::Int32, {0xFF, 0xFE, 0xFF, 0xFF}, int64_t{-2}},
        {"1!400001#BB", DataType::Int32, {0x80, 0x00, 0x00, 0x00}, int64_t{INT32_MIN}},
        {"1!400001#BB", DataType::Uint32, {0xDE, 0xAD, 0xBE, 0xEF}, int64_t{0xDEADBEEF}},
        {"1!400001#BL", DataType::Uint32, {0xAD, 0xDE, 0xEF, 0xBE}, int64_t{0xDEADBEEF}},
        {"1!400001#LB", DataType::Uint32, {0xBE, 0xEF, 0xDE, 0xAD}, int64_t{0xDEADBEEF}},
        {"1!400001#LL", DataType::Uint32, {0xEF, 0xBE, 0xAD, 0xDE}, int64_t{0xDEADBEEF}},
        {"1!400001#BB", DataType::Uint32, {0xFF, 0xFF, 0xFF, 0xFF}, int64_t{UINT32_MAX}},
        // Int64 0x0102030405060708 and the extremes; Uint64 above INT64_MAX stays uint64_t.
        {"1!400001#BB", DataType::Int64, {1, 2, 3, 4, 5, 6, 7, 8}, int64_t{0x0102030405060708}},
        {"1!400001#BL", DataType::Int64, {2, 1, 4, 3, 6, 5, 8, 7}, int64_t{0x0102030405060708}},
        {"1!400001#LB", DataType::Int64, {7, 8, 5, 6, 3, 4, 1, 2}, int64_t{0x0102030405060708}},
        {"1!400001#LL", DataType::Int64, {8, 7, 6, 5, 4, 3, 2, 1}, int64_t{0x0102030405060708}},
        {"1!400001#BB", DataType::Int64, {0x80, 0, 0, 0, 0, 0, 0, 0}, std::numeric_limits<int64_t>::min()},
        {"1!400001#BB", DataType::Int64, {0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
         std::numeric_limits<int64_t>::max()},
        {"1!400001#LL", DataType::Int64, {0, 0, 0, 0, 0, 0, 0, 0x80}, std::numeric_limits<int64_t>::min()},
        {"1!400001#BB", DataType::Int64, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, int64_t{-1}},
        {"1!400001#BB", DataType::Uint64, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
         std::numeric_limits<uint64_t>::max()},
        {"1!400001#BB", DataType::Uint64, {0x80, 0, 0, 0, 0, 0, 0, 0}, uint64_t{0x8000000000000000}},
        {"1!400001#LB", DataType::Uint64, {0, 0, 0, 0, 0, 0, 0x80, 0}, uint64_t{0x8000000000000000}},
        {"1!400001#BL", DataType::Uint64, {2, 1, 4, 3, 6, 5, 8, 7}, uint64_t{0x0102030405060708}},
        {"1!400001#BB", DataType::Uint64, {0, 0, 0, 0, 0, 0, 0, 0}, uint64_t{0}},
        // 16-bit: #B and #L.
        {"1!400001#B", DataType::Int16, {0x12, 0x34}, int64_t{0x1234}},
        {"1!400001#L", DataType::Int16, {0x34, 0x12}, int64_t{0x1234}},
        {"1!400001#B", DataType::Int16, {0xFF, 0xFE}, int64_t{-2}},
        {"1!400001#L", DataType::Int16, {0xFE, 0xFF}, int64_t{-2}},
        {"1!400001#B", DataType::Int16, {0x80, 0x00}, int64_t{INT16_MIN}},
        {"1!400001#B", DataType::Uint16, {0xFF, 0xFE}, int64_t{0xFFFE}},
        {"1!400001#L", DataType::Uint16, {0xFE, 0xFF}, int64_t{0xFFFE}},
        {"1!400001#B", DataType::Uint16, {0x00, 0x01}, int64_t{1}},
        {"1!400001#L", DataType::Uint16, {0x01, 0x00}, int64_t{1}},
        // 8-bit: the register's low byte (the second on the wire); encoding fills
        // the high byte by sign (Int8) or zero (Uint8) extension.
        {"1!400001", DataType::Int8, {0x12, 0xFE}, int64_t{-2}, false},
        {"1!400001", DataType::Int8, {0xFF, 0xFE}, int64_t{-2}},
        {"1!400001", DataType::Int8, {0xFF, 0x80}, int64_t{-128}},
        {"1!400001", DataType::Int8, {0x00, 0x7F}, int64_t{127}},
        {"1!400001", DataType::Uint8, {0x12, 0xFE}, int64_t{254}, false},
        {"1!400001", DataType::Uint8, {0x00, 0xFE}, int64_t{254}},
        {"1!400001", DataType::Uint8, {0x00, 0xFF}, int64_t{255}},
        // Strings: high byte first (H) or low byte first (L), NUL padded.
        {"1!400001.4H", DataType::String, {'H', 'E', 'L', 'L', 'O', 0, 0, 0}, std::string("HELLO")},
        {"1!400001.4L", DataType::String, {'E', 'H', 'L', 'L', 0, 'O', 0, 0}, std::string("HELLO")},
        {"1!400001.2", DataType::String, {'A', 'B', 'C', 'D'}, std::string("ABCD")},
        {"1!400001.2L", DataType::String, {'B', 'A', 'D', 'C'}, std::string("ABCD")},
        {"1!400001.2", DataType::String, {0, 0, 0, 0}, std::string()},
        {"1!400001.3", DataType::String, {0xC3, 0xA9, 't', 0xC3, 0xA9, 0}, std::string("\xC3\xA9t\xC3\xA9")},
        {"1!400001.3L", DataType::String, {0xA9, 0xC3, 0xC3, 't', 0, 0xA9}, std::string("\xC3\xA9t\xC3\xA9")},
        // The text stops at the first NUL.
        {"1!400001.3", DataType::String, {'A', 'B', 0, 'C', 'D', 0}, std::string("AB"), false},
        {"1!400001.3L", DataType::String, {'B', 'A', 0, 'C', 'E', 'D'}, std::string("ABC"), false},
        // Bytes: raw, in wire order.
        {"1!400001.2", DataType::Bytes, {0x01, 0x00, 0xFF, 0x7F}, Bytes{0x01, 0x00, 0xFF, 0x7F}},
        {"1!400001.1", DataType::Bytes, {0, 0}, Bytes{0, 0}},
    };
    return vectors;
}

TEST(DecodeRegisters, GivesTheKnownValueOfEveryTypeAndOrder) {
    for (const auto& v : known_vectors()) {
        const ModbusAddress address = address_of(v.address, v.type);
        auto decoded = decode_registers(v.wire, address);
        ASSERT_TRUE(decoded.has_value())
            << v.address << " " << data_type_name(v.type) << ": " << decoded.error().message;
        EXPECT_EQ(*decoded, v.value) << v.address << " " << data_type_name(v.type) << ": got " << describe(*decoded)
                                     << ", expected " << describe(v.value);
    }
}

TEST(EncodeRegisters, GivesTheKnownBytesOfEveryTypeAndOrder) {
    for (const auto& v : known_vectors()) {
        if (!v.symmetric) continue;
        const ModbusAddress address = address_of(v.address, v.type);
        auto encoded = encode_registers(v.value, address);
        ASSERT_TRUE(encoded.has_value()) << v.address << " " << describe(v.value) << ": " << encoded.error().message;
        EXPECT_EQ(encoded->count, address.span()) << v.address;
        EXPECT_EQ(wire_of(*encoded), v.wire) << v.address << " " << data_type_name(v.type) << " "
                                             << describe(v.value);
    }
}

TEST(DecodeRegisters, ReadsABitOfARegisterCountingFromItsLeastSignificantBit) {
    const Bytes wire = {0x81, 0x02};  // 1000 0001 0000 0010
    const std::pair<uint8_t, bool> bits[] = {{0, false}, {1, true},  {2, false}, {7, false},
                                             {8, true},  {9, false}, {14, false}, {15, true}};
    for (auto [bit, on] : bits) {
        const ModbusAddress address = address_of("1!400001." + std::to_string(bit), DataType::Bool);
        auto decoded = decode_registers(wire, address);
        ASSERT_TRUE(decoded.has_value());
        EXPECT_EQ(*decoded, Value{on}) << "bit " << int{bit};
    }
}

TEST(DecodeRegisters, UsesOnlyTheTagsSpanOfALongerBuffer) {
    const Bytes wire = {0x00, 0x2A, 0xFF, 0xFF};
    auto decoded = decode_registers(wire, address_of("1!400001", DataType::Uint16));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, Value{int64_t{42}});
    auto bytes = decode_registers(wire, address_of("1!400001.1", DataType::Bytes));
    ASSERT_TRUE(bytes.has_value());
    EXPECT_EQ(*bytes, (Value{Bytes{0x00, 0x2A}}));
}

TEST(DecodeRegisters, RefusesNanAndInfinityAsDecodeErrors) {
    const struct {
        std::string_view address;
        DataType type;
        Bytes wire;
        std::string_view message;
    } cases[] = {
        {"1!400001#BB", DataType::Float32, {0x7F, 0xC0, 0x00, 0x00}, "float32 is NaN (0x7FC00000)"},
        {"1!400001#LL", DataType::Float32, {0x00, 0x00, 0xC0, 0x7F}, "float32 is NaN (0x7FC00000)"},
        {"1!400001#BB", DataType::Float32, {0x7F, 0x80, 0x00, 0x00}, "float32 is infinite (0x7F800000)"},
        {"1!400001#BB", DataType::Float32, {0xFF, 0x80, 0x00, 0x00}, "float32 is infinite (0xFF800000)"},
        {"1!400001#BB", DataType::Float64, {0x7F, 0xF8, 0, 0, 0, 0, 0, 0}, "float64 is NaN (0x7FF8000000000000)"},
        {"1!400001#BB", DataType::Float64, {0x7F, 0xF0, 0, 0, 0, 0, 0, 1}, "float64 is NaN (0x7FF0000000000001)"},
        {"1!400001#BB", DataType::Float64, {0x7F, 0xF0, 0, 0, 0, 0, 0, 0}, "float64 is infinite (0x7FF0000000000000)"},
        {"1!400001#LB", DataType::Float64, {0, 0, 0, 0, 0, 0, 0xFF, 0xF0}, "float64 is infinite (0xFFF0000000000000)"},
    };
    for (const auto& c : cases) {
        auto decoded = decode_registers(c.wire, address_of(c.address, c.type));
        ASSERT_FALSE(decoded.has_value()) << c.address << " decoded " << describe(*decoded);
        EXPECT_EQ(decoded.error().code, static_cast<uint16_t>(TagErrc::Decode));
        EXPECT_EQ(decoded.error().message, c.message);
    }
}

TEST(DecodeRegisters, RefusesAStringThatIsNotUtf8) {
    const struct {
        Bytes wire;
        std::string_view message;
    } cases[] = {
        {{0xFF, 'A', 0, 0}, "the string is not valid UTF-8 (byte 0)"},
        {{'A', 0xC3, 0, 0}, "the string is not valid UTF-8 (byte 1)"},            // truncated by the NUL
        {{'A', 0xC3, 'B', 0}, "the string is not valid UTF-8 (byte 1)"},          // bad continuation
        {{0xC0, 0x80, 0, 0}, "the string is not valid UTF-8 (byte 0)"},           // overlong NUL
        {{0xE0, 0x80, 0x80, 0}, "the string is not valid UTF-8 (byte 0)"},        // overlong
        {{0xED, 0xA0, 0x80, 0}, "the string is not valid UTF-8 (byte 0)"},        // a UTF-16 surrogate
        {{0xF4, 0x90, 0x80, 0x80}, "the string is not valid UTF-8 (byte 0)"},     // above U+10FFFF
        {{0xF5, 0x80, 0x80, 0x80}, "the string is not valid UTF-8 (byte 0)"},
        {{'a', 'b', 0x80, 0}, "the string is not valid UTF-8 (byte 2)"},          // a lone continuation
    };
    const ModbusAddress address = address_of("1!400001.2", DataType::String);
    for (const auto& c : cases) {
        auto decoded = decode_registers(c.wire, address);
        ASSERT_FALSE(decoded.has_value()) << c.message;
        EXPECT_EQ(decoded.error().code, static_cast<uint16_t>(TagErrc::Decode));
        EXPECT_EQ(decoded.error().message, c.message);
    }
}

TEST(DecodeRegisters, AcceptsUtf8UpToFourBytes) {
    const std::string text = "\xF0\x9F\x98\x80\xE2\x82\xAC\xC3\xA9" "A";  // U+1F600, €, é, A
    Bytes wire(text.begin(), text.end());
    auto decoded = decode_registers(wire, address_of("1!400001.5", DataType::String));
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
    EXPECT_EQ(*decoded, Value{text});
}

TEST(DecodeRegisters, RefusesFewerBytesThanTheTagSpansAsABadReply) {
    const Bytes wire = {0x42, 0xF6};
    auto decoded = decode_registers(wire, address_of("1!400001", DataType::Float32));
    ASSERT_FALSE(decoded.has_value());
    EXPECT_EQ(decoded.error().code, static_cast<uint16_t>(TagErrc::BadReply));
    EXPECT_EQ(decoded.error().message, "expected 2 registers (4 bytes), got 2 bytes");
}

// Every type in every order it takes: what is encoded decodes to the same value.
TEST(EncodeRegisters, RoundTripsThroughDecodeForEveryTypeAndOrder) {
    const struct {
        DataType type;
        std::vector<Value> values;
    } cases[] = {
        {DataType::Int8, {int64_t{-128}, int64_t{-1}, int64_t{0}, int64_t{127}}},
        {DataType::Uint8, {int64_t{0}, int64_t{1}, int64_t{255}}},
        {DataType::Int16, {int64_t{INT16_MIN}, int64_t{-1}, int64_t{0}, int64_t{0x1234}, int64_t{INT16_MAX}}},
        {DataType::Uint16, {int64_t{0}, int64_t{0x1234}, int64_t{UINT16_MAX}}},
        {DataType::Int32, {int64_t{INT32_MIN}, int64_t{-1}, int64_t{0x12345678}, int64_t{INT32_MAX}}},
        {DataType::Uint32, {int64_t{0}, int64_t{0xDEADBEEF}, int64_t{UINT32_MAX}}},
        {DataType::Int64,
         {std::numeric_limits<int64_t>::min(), int64_t{-1}, int64_t{0x0102030405060708},
          std::numeric_limits<int64_t>::max()}},
        {DataType::Uint64, {uint64_t{0}, uint64_t{0x0102030405060708}, std::numeric_limits<uint64_t>::max()}},
        {DataType::Float32,
         {kFloat123, -1.5, 0.0, static_cast<double>(std::numeric_limits<float>::max()),
          static_cast<double>(std::numeric_limits<float>::denorm_min())}},
        {DataType::Float64,
         {123.456, -2.25, 0.0, std::numeric_limits<double>::max(), std::numeric_limits<double>::denorm_min()}},
    };
    const std::string_view wide_orders[] = {"#BB", "#BL", "#LB", "#LL"};
    const std::string_view narrow_orders[] = {"#B", "#L"};
    for (const auto& c : cases) {
        const ModbusAddress probe = address_of("1!400001", c.type);
        std::vector<std::string> addresses;
        if (probe.span() == 1 && (c.type == DataType::Int16 || c.type == DataType::Uint16)) {
            for (auto o : narrow_orders) addresses.push_back("1!400001" + std::string(o));
        } else if (probe.span() == 1) {
            addresses.push_back("1!400001");
        } else {
            for (auto o : wide_orders) addresses.push_back("1!400001" + std::string(o));
        }
        for (const auto& text : addresses) {
            const ModbusAddress address = address_of(text, c.type);
            for (const auto& value : c.values) {
                auto encoded = encode_registers(value, address);
                ASSERT_TRUE(encoded.has_value()) << text << " " << describe(value) << ": " << encoded.error().message;
                auto decoded = decode_registers(wire_of(*encoded), address);
                ASSERT_TRUE(decoded.has_value()) << text << " " << describe(value) << ": " << decoded.error().message;
                EXPECT_EQ(*decoded, value) << text << " " << data_type_name(c.type) << ": " << describe(value)
                                           << " came back as " << describe(*decoded);
            }
        }
    }
}

TEST(EncodeRegisters, RoundTripsStringsAndBytesPaddedToTheirLength) {
    for (std::string_view text : {"1!400001.5H", "1!400001.5L"}) {
        const ModbusAddress address = address_of(text, DataType::String);
        for (std::string s : {std::string(), std::string("a"), std::string("odd"), std::string("0123456789"),
                              std::string("\xC3\xA9t\xC3\xA9")}) {
            auto encoded = encode_registers(s, address);
            ASSERT_TRUE(encoded.has_value()) << s;
            EXPECT_EQ(encoded->count, 5);
            auto decoded = decode_registers(wire_of(*encoded), address);
            ASSERT_TRUE(decoded.has_value()) << s;
            EXPECT_EQ(*decoded, Value{s}) << text;
        }
    }
    const ModbusAddress bytes = address_of("1!400001.3", DataType::Bytes);
    auto encoded = encode_registers(Bytes{1, 2, 3}, bytes);
    ASSERT_TRUE(encoded.has_value());
    EXPECT_EQ(wire_of(*encoded), (Bytes{1, 2, 3, 0, 0, 0}));
}

TEST(EncodeRegisters, PadsAStringWithNulsInItsByteOrder) {
    auto high_first = encode_registers(std::string("ABC"), address_of("1!400001.3H", DataType::String));
    ASSERT_TRUE(high_first.has_value());
    EXPECT_EQ(wire_of(*high_first), (Bytes{'A', 'B', 'C', 0, 0, 0}));
    auto low_first = encode_registers(std::string("ABC"), address_of("1!400001.3L", DataType::String));
    ASSERT_TRUE(low_first.has_value());
    EXPECT_EQ(wire_of(*low_first), (Bytes{'B', 'A', 0, 'C', 0, 0}));
}

TEST(EncodeRegisters, AcceptsEveryNumericKindThatFitsTheType) {
    const struct {
        std::string_view address;
        DataType type;
        Value value;
        Bytes wire;
    } cases[] = {
        {"1!400001#B", DataType::Int16, -5.0, {0xFF, 0xFB}},
        {"1!400001#B", DataType::Int16, uint64_t{32767}, {0x7F, 0xFF}},
        {"1!400001#B", DataType::Uint16, uint64_t{65535}, {0xFF, 0xFF}},
        {"1!400001#B", DataType::Uint16, -0.0, {0x00, 0x00}},
        {"1!400001", DataType::Int8, -128.0, {0xFF, 0x80}},
        {"1!400001", DataType::Uint8, uint64_t{200}, {0x00, 0xC8}},
        {"1!400001#BB", DataType::Uint32, 4294967295.0, {0xFF, 0xFF, 0xFF, 0xFF}},
        {"1!400001#BB", DataType::Int64, -9223372036854775808.0, {0x80, 0, 0, 0, 0, 0, 0, 0}},
        {"1!400001#BB", DataType::Int64, uint64_t{0x7FFFFFFFFFFFFFFF},
         {0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
        {"1!400001#BB", DataType::Uint64, int64_t{1}, {0, 0, 0, 0, 0, 0, 0, 1}},
        // The largest double below 2^64.
        {"1!400001#BB", DataType::Uint64, 18446744073709549568.0, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF8, 0x00}},
        {"1!400001#BB", DataType::Float32, int64_t{3}, {0x40, 0x40, 0x00, 0x00}},
        {"1!400001#BB", DataType::Float32, 123.456, {0x42, 0xF6, 0xE9, 0x79}},
        {"1!400001#BB", DataType::Float64, uint64_t{1}, {0x3F, 0xF0, 0, 0, 0, 0, 0, 0}},
    };
    for (const auto& c : cases) {
        auto encoded = encode_registers(c.value, address_of(c.address, c.type));
        ASSERT_TRUE(encoded.has_value()) << c.address << " " << describe(c.value) << ": " << encoded.error().message;
        EXPECT_EQ(wire_of(*encoded), c.wire) << c.address << " " << data_type_name(c.type) << " " << describe(c.value);
    }
}

TEST(EncodeRegisters, RefusesValuesThatDoNotFitSayingWhy) {
    const struct {
        std::string_view address;
        DataType type;
        Value value;
        std::string_view message;
    } cases[] = {
        // Integer ranges.
        {"1!400001", DataType::Int16, int64_t{70000}, "70000 is out of range for int16"},
        {"1!400001", DataType::Int16, int64_t{-32769}, "-32769 is out of range for int16"},
        {"1!400001", DataType::Int16, int64_t{32768}, "32768 is out of range for int16"},
        {"1!400001", DataType::Uint16, int64_t{-1}, "-1 is out of range for uint16"},
        {"1!400001", DataType::Uint16, int64_t{65536}, "65536 is out of range for uint16"},
        {"1!400001", DataType::Int8, int64_t{128}, "128 is out of range for int8"},
        {"1!400001", DataType::Int8, int64_t{-129}, "-129 is out of range for int8"},
        {"1!400001", DataType::Uint8, int64_t{256}, "256 is out of range for uint8"},
        {"1!400001", DataType::Uint8, int64_t{-1}, "-1 is out of range for uint8"},
        {"1!400001", DataType::Int32, int64_t{2147483648}, "2147483648 is out of range for int32"},
        {"1!400001", DataType::Int32, int64_t{-2147483649}, "-2147483649 is out of range for int32"},
        {"1!400001", DataType::Uint32, int64_t{4294967296}, "4294967296 is out of range for uint32"},
        {"1!400001", DataType::Uint32, uint64_t{4294967296}, "4294967296 is out of range for uint32"},
        {"1!400001", DataType::Int64, uint64_t{0x8000000000000000}, "9223372036854775808 is out of range for int64"},
        {"1!400001", DataType::Uint64, int64_t{-1}, "-1 is out of range for uint64"},
        {"1!400001", DataType::Int16, uint64_t{0xFFFFFFFFFFFFFFFF}, "18446744073709551615 is out of range for int16"},
        // Doubles for integer types.
        {"1!400001", DataType::Int16, 42.5, "42.5 is not an integer"},
        {"1!400001", DataType::Uint64, 0.1, "0.1 is not an integer"},
        {"1!400001", DataType::Int16, 1e20, "1e+20 is out of range for int16"},
        {"1!400001", DataType::Int16, 40000.0, "40000 is out of range for int16"},
        {"1!400001", DataType::Uint16, -1.0, "-1 is out of range for uint16"},
        {"1!400001", DataType::Int64, 9223372036854775808.0, "9223372036854775808 is out of range for int64"},
        {"1!400001", DataType::Int64, -1e19, "-1e+19 is out of range for int64"},
        {"1!400001", DataType::Uint64, 18446744073709551616.0, "18446744073709551616 is out of range for uint64"},
        {"1!400001", DataType::Int16, std::numeric_limits<double>::quiet_NaN(), "nan is not a number"},
        {"1!400001", DataType::Int16, std::numeric_limits<double>::infinity(), "inf is out of range for int16"},
        {"1!400001", DataType::Uint32, -std::numeric_limits<double>::infinity(), "-inf is out of range for uint32"},
        // Floats.
        {"1!400001", DataType::Float32, 1e39, "1e+39 is out of range for float32"},
        {"1!400001", DataType::Float32, -1e39, "-1e+39 is out of range for float32"},
        {"1!400001", DataType::Float32, std::numeric_limits<double>::quiet_NaN(), "nan is not a number"},
        {"1!400001", DataType::Float64, std::numeric_limits<double>::infinity(), "inf is out of range for float64"},
        // Wrong kinds of value.
        {"1!400001", DataType::Int16, true, "a bool is not a value for an int16 tag"},
        {"1!400001", DataType::Uint16, std::string("42"), "a string is not a value for a uint16 tag"},
        {"1!400001", DataType::Float32, std::string("1.5"), "a string is not a value for a float32 tag"},
        {"1!400001", DataType::Float64, false, "a bool is not a value for a float64 tag"},
        {"1!400001", DataType::Int32, Bytes{1}, "bytes are not a value for an int32 tag"},
        {"1!400001.6", DataType::String, int64_t{1}, "a number is not a value for a string tag"},
        {"1!400001.6", DataType::String, Bytes{'a'}, "bytes are not a value for a string tag"},
        {"1!400001.2", DataType::Bytes, std::string("ab"), "a string is not a value for a bytes tag"},
        {"1!400001.2", DataType::Bytes, 1.0, "a number is not a value for a bytes tag"},
        // Too long.
        {"1!400001.6", DataType::String, std::string("thirteen byte"),
         "a string of 13 bytes does not fit in 6 registers"},
        {"1!400001.1", DataType::String, std::string("abc"), "a string of 3 bytes does not fit in 1 register"},
        {"1!400001.6", DataType::Bytes, Bytes(13, 0), "13 bytes do not fit in 6 registers"},
        // A bit of a register is set by the driver, not here.
        {"1!400001.3", DataType::Bool, true, "a bool in a register is written by setting its bit"},
    };
    for (const auto& c : cases) {
        auto encoded = encode_registers(c.value, address_of(c.address, c.type));
        ASSERT_FALSE(encoded.has_value()) << c.address << " " << data_type_name(c.type) << " " << describe(c.value)
                                          << " was accepted";
        EXPECT_EQ(encoded.error().code, static_cast<uint16_t>(TagErrc::BadValue));
        EXPECT_EQ(encoded.error().message.find(c.message), 0u)
            << data_type_name(c.type) << " " << describe(c.value) << ": " << encoded.error().message;
    }
}

TEST(EncodeRegisters, FillsExactlyTheLengthOfAFullString) {
    auto encoded = encode_registers(std::string("twelve bytes"), address_of("1!400001.6", DataType::String));
    ASSERT_TRUE(encoded.has_value());
    EXPECT_EQ(encoded->count, 6);
    auto decoded = decode_registers(wire_of(*encoded), address_of("1!400001.6", DataType::String));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, Value{std::string("twelve bytes")});
}

TEST(WithBit, SetsAndClearsOneBitLeavingTheOthers) {
    EXPECT_EQ(with_bit(0x0000, 0, true), 0x0001);
    EXPECT_EQ(with_bit(0x0000, 15, true), 0x8000);
    EXPECT_EQ(with_bit(0xFFFF, 15, false), 0x7FFF);
    EXPECT_EQ(with_bit(0x1234, 4, true), 0x1234);
    EXPECT_EQ(with_bit(0x1234, 4, false), 0x1224);
}

}  // namespace
}  // namespace ib::drivers::modbus
