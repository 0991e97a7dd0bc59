#include "drivers/modbus/modbus_address.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace ib::drivers::modbus {
namespace {

constexpr std::string_view kExpectedForm =
    "; expected UNIT!AREA ADDRESS[.BIT|.LEN[H|L]][#ORDER], e.g. 1!400001, 1!400001#BB, 1!400010.15, 1!400020.10H";

constexpr ByteOrder kBB{false, false};
constexpr ByteOrder kBL{false, true};
constexpr ByteOrder kLB{true, false};
constexpr ByteOrder kLL{true, true};

AddressOptions options_with(int base, ByteOrder default_order = kBB) {
    AddressOptions options;
    options.base = base;
    options.default_order = default_order;
    return options;
}

// ModbusAddress has no operator==; every field is compared, with its name in the failure.
void expect_same(const ModbusAddress& actual, const ModbusAddress& expected, std::string_view context) {
    SCOPED_TRACE(std::string(context));
    EXPECT_EQ(actual.unit, expected.unit);
    EXPECT_EQ(actual.area, expected.area);
    EXPECT_EQ(actual.address, expected.address);
    EXPECT_EQ(actual.bit, expected.bit);
    EXPECT_EQ(actual.length, expected.length);
    EXPECT_EQ(actual.string_low_byte_first, expected.string_low_byte_first);
    EXPECT_EQ(actual.order, expected.order);
    EXPECT_EQ(actual.type, expected.type);
}

struct Accepted {
    std::string_view text;
    DataType type;
    int base;
    ByteOrder default_order;
    // Expected fields.
    uint8_t unit;
    Area area;
    uint16_t address;
    std::optional<uint8_t> bit;
    uint16_t length;
    bool string_low_byte_first;
    ByteOrder order;
};

const Accepted kAccepted[] = {
    // Six digits and five digits name the same register.
    {"1!400001", DataType::Uint16, 1, kBB, 1, Area::HoldingRegister, 0, {}, 0, false, kBB},
    {"1!40001", DataType::Uint16, 1, kBB, 1, Area::HoldingRegister, 0, {}, 0, false, kBB},
    {"1!40", DataType::Uint16, 0, kBB, 1, Area::HoldingRegister, 0, {}, 0, false, kBB},
    {"1!465536", DataType::Uint16, 1, kBB, 1, Area::HoldingRegister, 65535, {}, 0, false, kBB},
    {"0!300001", DataType::Int16, 1, kBB, 0, Area::InputRegister, 0, {}, 0, false, kBB},
    {"255!400010", DataType::Int16, 1, kBB, 255, Area::HoldingRegister, 9, {}, 0, false, kBB},
    {"007!400010", DataType::Int16, 1, kBB, 7, Area::HoldingRegister, 9, {}, 0, false, kBB},
    // Coils and discrete inputs.
    {"1!000001", DataType::Bool, 1, kBB, 1, Area::Coil, 0, {}, 0, false, kBB},
    {"1!100100", DataType::Bool, 1, kLL, 1, Area::DiscreteInput, 99, {}, 0, false, kBB},
    {"1!065536", DataType::Bool, 1, kBB, 1, Area::Coil, 65535, {}, 0, false, kBB},
    // A bit of a register.
    {"1!400010.15", DataType::Bool, 1, kBB, 1, Area::HoldingRegister, 9, 15, 0, false, kBB},
    {"1!300001.0", DataType::Bool, 1, kLL, 1, Area::InputRegister, 0, 0, 0, false, kBB},
    // 16-bit: #B/#L, else the default's byte order only.
    {"1!400001#L", DataType::Int16, 1, kBB, 1, Area::HoldingRegister, 0, {}, 0, false, kBL},
    {"1!400001#B", DataType::Uint16, 1, kLL, 1, Area::HoldingRegister, 0, {}, 0, false, kBB},
    {"1!400001", DataType::Uint16, 1, kLL, 1, Area::HoldingRegister, 0, {}, 0, false, kBL},
    {"1!400001", DataType::Int16, 1, kLB, 1, Area::HoldingRegister, 0, {}, 0, false, kBB},
    // 32/64-bit: the four orders, else the default.
    {"1!400001#BB", DataType::Float32, 1, kLL, 1, Area::HoldingRegister, 0, {}, 0, false, kBB},
    {"1!400001#BL", DataType::Int32, 1, kBB, 1, Area::HoldingRegister, 0, {}, 0, false, kBL},
    {"1!400001#LB", DataType::Uint32, 1, kBB, 1, Area::HoldingRegister, 0, {}, 0, false, kLB},
    {"1!400001#LL", DataType::Float64, 1, kBB, 1, Area::HoldingRegister, 0, {}, 0, false, kLL},
    {"1!400001", DataType::Int64, 1, kLB, 1, Area::HoldingRegister, 0, {}, 0, false, kLB},
    {"1!300001", DataType::Uint64, 1, kBL, 1, Area::InputRegister, 0, {}, 0, false, kBL},
    {"1!465535", DataType::Float32, 1, kBB, 1, Area::HoldingRegister, 65534, {}, 0, false, kBB},
    {"1!465533", DataType::Float64, 1, kBB, 1, Area::HoldingRegister, 65532, {}, 0, false, kBB},
    // 8-bit, String and Bytes take no order: the default does not leak into them.
    {"1!400001", DataType::Int8, 1, kLL, 1, Area::HoldingRegister, 0, {}, 0, false, kBB},
    {"1!300002", DataType::Uint8, 1, kLL, 1, Area::InputRegister, 1, {}, 0, false, kBB},
    {"1!400020.10H", DataType::String, 1, kLL, 1, Area::HoldingRegister, 19, {}, 10, false, kBB},
    {"1!400020.10L", DataType::String, 1, kBB, 1, Area::HoldingRegister, 19, {}, 10, true, kBB},
    {"1!400020.10", DataType::String, 1, kBB, 1, Area::HoldingRegister, 19, {}, 10, false, kBB},
    {"1!400001.125", DataType::Bytes, 1, kBB, 1, Area::HoldingRegister, 0, {}, 125, false, kBB},
    {"1!465412.125", DataType::Bytes, 1, kBB, 1, Area::HoldingRegister, 65411, {}, 125, false, kBB},
    // Base 0: number 0 is the first register.
    {"1!400000", DataType::Uint16, 0, kBB, 1, Area::HoldingRegister, 0, {}, 0, false, kBB},
    {"1!40000", DataType::Uint16, 0, kBB, 1, Area::HoldingRegister, 0, {}, 0, false, kBB},
    {"1!465535", DataType::Uint16, 0, kBB, 1, Area::HoldingRegister, 65535, {}, 0, false, kBB},
    {"1!000000", DataType::Bool, 0, kBB, 1, Area::Coil, 0, {}, 0, false, kBB},
    {"1!465532#LL", DataType::Uint64, 0, kBB, 1, Area::HoldingRegister, 65532, {}, 0, false, kLL},
};

TEST(ParseAddress, AcceptsEveryDocumentedFormWithItsFields) {
    for (const auto& c : kAccepted) {
        auto parsed = parse_address(c.text, c.type, options_with(c.base, c.default_order));
        ASSERT_TRUE(parsed.has_value()) << c.text << ": " << parsed.error();
        ModbusAddress expected;
        expected.unit = c.unit;
        expected.area = c.area;
        expected.address = c.address;
        expected.bit = c.bit;
        expected.length = c.length;
        expected.string_low_byte_first = c.string_low_byte_first;
        expected.order = c.order;
        expected.type = c.type;
        expect_same(*parsed, expected, std::string(c.text) + " as " + std::string(data_type_name(c.type)));
    }
}

struct Refused {
    std::string_view text;
    DataType type;
    int base;
    std::string_view problem;  // a substring of the message
};

const Refused kRefused[] = {
    // Unit.
    {"400001", DataType::Uint16, 1, "missing the unit and '!'"},
    {"", DataType::Uint16, 1, "missing the unit and '!'"},
    {"!400001", DataType::Uint16, 1, "the unit before '!' must be a number 0..255"},
    {"256!400001", DataType::Uint16, 1, "the unit before '!' must be a number 0..255"},
    {"x!400001", DataType::Uint16, 1, "the unit before '!' must be a number 0..255"},
    {"-1!400001", DataType::Uint16, 1, "the unit before '!' must be a number 0..255"},
    {" 1!400001", DataType::Uint16, 1, "the unit before '!' must be a number 0..255"},
    {"99999999999999999999!400001", DataType::Uint16, 1, "the unit before '!' must be a number 0..255"},
    // Area and number.
    {"1!", DataType::Uint16, 1, "missing the area digit (0 coil, 1 discrete input, 3 input register, 4 holding"},
    {"1!#BB", DataType::Float32, 1, "missing the area digit"},
    {"1!200001", DataType::Uint16, 1, "unknown area '2'"},
    {"1!x00001", DataType::Uint16, 1, "unknown area 'x'"},
    {"1!!400001", DataType::Uint16, 1, "unknown area '!'"},
    {"1!4", DataType::Uint16, 1, "missing the address number after the area digit"},
    {"1!4.3", DataType::Bool, 1, "missing the address number after the area digit"},
    {"1!4x0001", DataType::Uint16, 1, "the address number must be digits"},
    {"1!40001 ", DataType::Uint16, 1, "the address number must be digits"},
    {"1!4-0001", DataType::Uint16, 1, "the address number must be digits"},
    {"1!4000001", DataType::Uint16, 1, "the address number has more than 5 digits"},
    // Range, for the base and the span.
    {"1!400000", DataType::Uint16, 1, "address number 0 does not exist with address_base 1 (the first is 1)"},
    {"1!40", DataType::Uint16, 1, "address number 0 does not exist"},
    {"1!000000", DataType::Bool, 1, "address number 0 does not exist"},
    {"1!465537", DataType::Uint16, 1, "address number 65537 goes past the last address, 65536 with address_base 1"},
    {"1!099999", DataType::Bool, 1, "address number 99999 goes past the last address, 65536 with address_base 1"},
    {"1!465536", DataType::Uint16, 0, "address number 65536 goes past the last address, 65535 with address_base 0"},
    {"1!465536", DataType::Float32, 1, "address number 65536 with its 2 registers goes past the last address"},
    {"1!465534", DataType::Float64, 1, "address number 65534 with its 4 registers goes past"},
    {"1!465533", DataType::Float64, 0, "address number 65533 with its 4 registers goes past"},
    {"1!465413.125", DataType::String, 1, "address number 65413 with its 125 registers goes past"},
    // Type against area.
    {"1!000001", DataType::Int16, 1, "an int16 tag cannot be a coil; coils and discrete inputs hold only bool tags"},
    {"1!100001", DataType::Float32, 1, "a float32 tag cannot be a discrete input"},
    {"1!000001.10", DataType::String, 1, "a string tag cannot be a coil"},
    // .BIT
    {"1!000001.1", DataType::Bool, 1, "a coil is a single bit and takes no .BIT"},
    {"1!100001.1", DataType::Bool, 1, "a discrete input is a single bit and takes no .BIT"},
    {"1!400001", DataType::Bool, 1, "a bool tag in a register area is one bit of a register: add .BIT (0..15)"},
    {"1!300001", DataType::Bool, 1, "add .BIT (0..15)"},
    {"1!400001#B", DataType::Bool, 1, "add .BIT (0..15)"},
    {"1!400001.16", DataType::Bool, 1, ".BIT must be a number 0..15"},
    {"1!400001.", DataType::Bool, 1, ".BIT must be a number 0..15"},
    {"1!400001.x", DataType::Bool, 1, ".BIT must be a number 0..15"},
    {"1!400001.1.2", DataType::Bool, 1, ".BIT must be a number 0..15"},
    {"1!400001.-1", DataType::Bool, 1, ".BIT must be a number 0..15"},
    {"1!400001.1", DataType::Uint16, 1, "a uint16 tag takes no '.' suffix (.BIT is for bool tags in a register"},
    {"1!400001.2", DataType::Float32, 1, "a float32 tag takes no '.' suffix"},
    // .LEN
    {"1!400001", DataType::String, 1, "a string tag needs .LEN, its length in registers (1..125)"},
    {"1!400001#BB", DataType::Bytes, 1, "a bytes tag needs .LEN"},
    {"1!400001.0", DataType::String, 1, ".LEN must be a number of registers 1..125"},
    {"1!400001.126", DataType::Bytes, 1, ".LEN must be a number of registers 1..125"},
    {"1!400001.", DataType::String, 1, ".LEN must be a number of registers 1..125"},
    {"1!400001.H", DataType::String, 1, ".LEN must be a number of registers 1..125"},
    {"1!400001.10X", DataType::String, 1, "unexpected text \"X\" after .LEN"},
    {"1!400001.10HL", DataType::String, 1, "unexpected text \"L\" after .LEN"},
    {"1!400001.10h", DataType::String, 1, "unexpected text \"h\" after .LEN"},
    // #ORDER
    {"1!400001#BB", DataType::Int16, 1, "an int16 tag takes #B or #L (the byte order in its register), not #BB"},
    {"1!400001#X", DataType::Uint16, 1, "a uint16 tag takes #B or #L"},
    {"1!400001#", DataType::Uint16, 1, "a uint16 tag takes #B or #L"},
    {"1!400001#B", DataType::Float32, 1, "a float32 tag takes #BB, #BL, #LB or #LL, not #B"},
    {"1!400001#ABCD", DataType::Int32, 1, "an int32 tag takes #BB, #BL, #LB or #LL, not #ABCD"},
    {"1!400001#bb", DataType::Uint64, 1, "not #bb"},
    {"1!400001#", DataType::Float64, 1, "a float64 tag takes #BB, #BL, #LB or #LL, not #"},
    {"1!400001#BB ", DataType::Float32, 1, "not #BB "},
    {"1!400001#BB#BB", DataType::Float32, 1, "not #BB#BB"},
    {"1!400001.1#B", DataType::Bool, 1, "a bool tag takes no #ORDER"},
    {"1!000001#B", DataType::Bool, 1, "a bool tag takes no #ORDER"},
    {"1!400001#B", DataType::Int8, 1, "an int8 tag takes no #ORDER"},
    {"1!400001#BB", DataType::Uint8, 1, "a uint8 tag takes no #ORDER"},
    {"1!400001.4#BB", DataType::String, 1, "a string tag takes no #ORDER"},
    {"1!400001.4H#B", DataType::String, 1, "a string tag takes no #ORDER"},
    {"1!400001.4#LL", DataType::Bytes, 1, "a bytes tag takes no #ORDER"},
};

TEST(ParseAddress, RefusesMalformedFormsNamingTheProblemAndShowingTheForm) {
    for (const auto& c : kRefused) {
        auto parsed = parse_address(c.text, c.type, options_with(c.base));
        ASSERT_FALSE(parsed.has_value()) << c.text << " as " << data_type_name(c.type) << " was accepted";
        const std::string& message = parsed.error();
        EXPECT_NE(message.find(c.problem), std::string::npos)
            << c.text << " as " << data_type_name(c.type) << ": " << message;
        // Every message quotes the address first and ends with the form and examples.
        const std::string quoted_text = "\"" + std::string(c.text) + "\": ";
        EXPECT_EQ(message.rfind(quoted_text, 0), 0u) << message;
        EXPECT_TRUE(message.ends_with(kExpectedForm)) << message;
    }
}

TEST(ParseAddress, ErrorMessageMatchesTheHeaderExample) {
    auto parsed = parse_address("1!4x0001", DataType::Uint16, AddressOptions{});
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error(),
              "\"1!4x0001\": the address number must be digits; expected UNIT!AREA ADDRESS[.BIT|.LEN[H|L]][#ORDER], "
              "e.g. 1!400001, 1!400001#BB, 1!400010.15, 1!400020.10H");
}

TEST(ParseAddress, QuotesControlCharactersInTheAddressEscaped) {
    auto parsed = parse_address("1!4\n0001", DataType::Uint16, AddressOptions{});
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().rfind("\"1!4\\n0001\": the address number must be digits", 0), 0u) << parsed.error();
}

TEST(ParseAddress, BaseOneAndBaseZeroDifferByOneOnTheWire) {
    auto one = parse_address("1!400100", DataType::Uint16, options_with(1));
    auto zero = parse_address("1!400100", DataType::Uint16, options_with(0));
    ASSERT_TRUE(one && zero);
    EXPECT_EQ(one->address, 99);
    EXPECT_EQ(zero->address, 100);
}

TEST(ParseAddress, DefaultsToBaseOneAndBigEndian) {
    auto parsed = parse_address("1!400001", DataType::Float32, AddressOptions{});
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->address, 0);
    EXPECT_EQ(parsed->order, kBB);
}

TEST(ByteOrder, ParsesTheFourTwoLetterNames) {
    EXPECT_EQ(parse_byte_order("BB"), kBB);
    EXPECT_EQ(parse_byte_order("BL"), kBL);
    EXPECT_EQ(parse_byte_order("LB"), kLB);
    EXPECT_EQ(parse_byte_order("LL"), kLL);
}

TEST(ByteOrder, RefusesAnythingElse) {
    for (std::string_view text : {"", "B", "L", "bb", "BBB", "AB", "ABCD", " BB", "B L"}) {
        EXPECT_FALSE(parse_byte_order(text).has_value()) << text;
    }
}

TEST(ByteOrder, NamesRoundTrip) {
    for (ByteOrder order : {kBB, kBL, kLB, kLL}) {
        EXPECT_EQ(parse_byte_order(byte_order_name(order)), order) << byte_order_name(order);
    }
    EXPECT_EQ(byte_order_name(kBL), "BL");
    EXPECT_EQ(byte_order_name(kLB), "LB");
}

TEST(ModbusAddressSpan, CountsRegistersPerTypeAndOneBitInBitAreas) {
    auto span_of = [](std::string_view text, DataType type) {
        auto parsed = parse_address(text, type, AddressOptions{});
        EXPECT_TRUE(parsed.has_value()) << text << ": " << parsed.error();
        return parsed ? parsed->span() : uint16_t{0};
    };
    EXPECT_EQ(span_of("1!000001", DataType::Bool), 1);
    EXPECT_EQ(span_of("1!100001", DataType::Bool), 1);
    EXPECT_EQ(span_of("1!400001.3", DataType::Bool), 1);
    EXPECT_EQ(span_of("1!400001", DataType::Int8), 1);
    EXPECT_EQ(span_of("1!400001", DataType::Uint8), 1);
    EXPECT_EQ(span_of("1!400001", DataType::Int16), 1);
    EXPECT_EQ(span_of("1!400001", DataType::Uint16), 1);
    EXPECT_EQ(span_of("1!400001", DataType::Int32), 2);
    EXPECT_EQ(span_of("1!400001", DataType::Uint32), 2);
    EXPECT_EQ(span_of("1!400001", DataType::Float32), 2);
    EXPECT_EQ(span_of("1!400001", DataType::Int64), 4);
    EXPECT_EQ(span_of("1!400001", DataType::Uint64), 4);
    EXPECT_EQ(span_of("1!400001", DataType::Float64), 4);
    EXPECT_EQ(span_of("1!400001.7", DataType::String), 7);
    EXPECT_EQ(span_of("1!400001.125", DataType::Bytes), 125);
}

TEST(ModbusAddress, OnlyCoilsAndHoldingRegistersAreWritable) {
    ModbusAddress a;
    a.area = Area::Coil;
    EXPECT_TRUE(a.writable());
    EXPECT_TRUE(a.is_bit_area());
    a.area = Area::DiscreteInput;
    EXPECT_FALSE(a.writable());
    EXPECT_TRUE(a.is_bit_area());
    a.area = Area::InputRegister;
    EXPECT_FALSE(a.writable());
    EXPECT_FALSE(a.is_bit_area());
    a.area = Area::HoldingRegister;
    EXPECT_TRUE(a.writable());
    EXPECT_FALSE(a.is_bit_area());
}

TEST(FormatAddress, WritesSixDigitsAndAnExplicitOrder) {
    auto text_of = [](std::string_view text, DataType type, int base, ByteOrder default_order = kBB) {
        auto parsed = parse_address(text, type, options_with(base, default_order));
        EXPECT_TRUE(parsed.has_value()) << text << ": " << parsed.error();
        return parsed ? format_address(*parsed, base) : std::string();
    };
    EXPECT_EQ(text_of("1!40001", DataType::Uint16, 1), "1!400001#B");
    EXPECT_EQ(text_of("1!40001", DataType::Uint16, 1, kLL), "1!400001#L");
    EXPECT_EQ(text_of("1!40001", DataType::Float32, 1, kLB), "1!400001#LB");
    EXPECT_EQ(text_of("1!400000", DataType::Uint16, 0), "1!400000#B");
    EXPECT_EQ(text_of("1!465536", DataType::Int16, 1), "1!465536#B");
    EXPECT_EQ(text_of("17!300010.15", DataType::Bool, 1), "17!300010.15");
    EXPECT_EQ(text_of("1!00001", DataType::Bool, 1), "1!000001");
    EXPECT_EQ(text_of("1!400020.10H", DataType::String, 1), "1!400020.10");
    EXPECT_EQ(text_of("1!400020.10L", DataType::String, 1), "1!400020.10L");
    EXPECT_EQ(text_of("1!400020.3", DataType::Bytes, 1), "1!400020.3");
    EXPECT_EQ(text_of("1!400002", DataType::Int8, 1, kLL), "1!400002");
}

TEST(FormatAddress, RoundTripsThroughParseAddressWhateverTheDefaultOrder) {
    const struct {
        std::string_view text;
        DataType type;
    } cases[] = {
        {"1!400001", DataType::Uint16},   {"1!40001#L", DataType::Int16},     {"0!300001#BB", DataType::Float32},
        {"255!465534#LL", DataType::Float32}, {"1!400001#BL", DataType::Int32}, {"1!400001#LB", DataType::Uint64},
        {"1!465532#LL", DataType::Float64}, {"1!000001", DataType::Bool},     {"1!165536", DataType::Bool},
        {"1!400010.15", DataType::Bool},  {"1!300010.0", DataType::Bool},     {"1!400001", DataType::Int8},
        {"1!300009", DataType::Uint8},    {"1!400020.10H", DataType::String}, {"1!400020.10L", DataType::String},
        {"1!465411.125", DataType::Bytes},
    };
    for (int base : {0, 1}) {
        for (const auto& c : cases) {
            if (base == 0 && c.text.ends_with("65536")) continue;  // past the last address with base 0
            auto first = parse_address(c.text, c.type, options_with(base, kLL));
            ASSERT_TRUE(first.has_value()) << c.text << ": " << first.error();
            const std::string formatted = format_address(*first, base);
            // A different default must not change what the formatted text means.
            auto second = parse_address(formatted, c.type, options_with(base, kBB));
            ASSERT_TRUE(second.has_value()) << formatted << ": " << second.error();
            expect_same(*second, *first, std::string(c.text) + " -> " + formatted + " base " + std::to_string(base));
        }
    }
}

}  // namespace
}  // namespace ib::drivers::modbus
