// OPC UA values to the device layer's and back: every built-in type a tag can
// hold, arrays, and the range checks a write makes before it reaches a server.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "drivers/opcua/variant_value.hpp"

namespace ib::drivers::opcua {
namespace {

Value value_of(const Variant& v) {
    auto r = to_value(v);
    EXPECT_TRUE(r) << r.error();
    return r ? *r : Value{};
}

TEST(OpcuaVariantValue, ScalarsMapToTheDeviceLayersValues) {
    EXPECT_EQ(value_of(Variant::scalar<BuiltinType::Boolean>(true)), Value{true});
    EXPECT_EQ(value_of(Variant::scalar<BuiltinType::SByte>(int8_t{-5})), Value{int64_t{-5}});
    EXPECT_EQ(value_of(Variant::scalar<BuiltinType::UInt32>(uint32_t{4000000000})), Value{int64_t{4000000000}});
    EXPECT_EQ(value_of(Variant::scalar<BuiltinType::UInt64>(uint64_t{0xF1E2D3C4B5A69788})),
              Value{uint64_t{0xF1E2D3C4B5A69788}});
    EXPECT_EQ(value_of(Variant::scalar<BuiltinType::Float>(1.5f)), Value{1.5});
    EXPECT_EQ(value_of(Variant::scalar<BuiltinType::String>(std::string("x"))), Value{std::string("x")});
    EXPECT_EQ(value_of(Variant::scalar<BuiltinType::DateTime>(from_unix_ms(1704164645678))),
              Value{int64_t{1704164645678}});
    const ByteString bytes{std::byte{1}, std::byte{254}};
    EXPECT_EQ(value_of(Variant::scalar<BuiltinType::ByteString>(bytes)), Value(std::vector<uint8_t>{1, 254}));
    const Guid g{0x72962b91, 0xfa75, 0x4ae6, {0x8d, 0x28, 0xb4, 0x04, 0xdc, 0x7d, 0xaf, 0x63}};
    EXPECT_EQ(value_of(Variant::scalar<BuiltinType::Guid>(g)), Value{std::string("72962b91-fa75-4ae6-8d28-b404dc7daf63")});
    EXPECT_EQ(value_of(Variant::scalar<BuiltinType::LocalizedText>(LocalizedText{"en", "Running"})),
              Value{std::string("Running")});
}

TEST(OpcuaVariantValue, ArraysBecomeJsonArrays) {
    EXPECT_EQ(value_of(Variant::array<BuiltinType::Int16>(std::vector<int16_t>{1, -2, 3})), Value{JsonArray{"[1,-2,3]"}});
    EXPECT_EQ(value_of(Variant::array<BuiltinType::String>(std::vector<std::string>{"a", "b\""})),
              Value{JsonArray{R"(["a","b\""])"}});
    EXPECT_EQ(value_of(Variant::array<BuiltinType::Double>(std::vector<double>{})), Value{JsonArray{"[]"}});
}

TEST(OpcuaVariantValue, NullAndStructuresAreErrorsNamingTheType) {
    EXPECT_FALSE(to_value(Variant{}));
    auto r = to_value(Variant::scalar<BuiltinType::ExtensionObject>(ExtensionObject{}));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("ExtensionObject"), std::string::npos) << r.error();
}

TEST(OpcuaVariantValue, WritesTakeTheNodesTypeWithinItsRange) {
    EXPECT_EQ(to_variant(Value{int64_t{-100}}, BuiltinType::SByte).value(), Variant::scalar<BuiltinType::SByte>(int8_t{-100}));
    EXPECT_EQ(to_variant(Value{42.0}, BuiltinType::UInt16).value(), Variant::scalar<BuiltinType::UInt16>(uint16_t{42}));
    EXPECT_EQ(to_variant(Value{int64_t{1}}, BuiltinType::Boolean).value(), Variant::scalar<BuiltinType::Boolean>(true));
    EXPECT_EQ(to_variant(Value{int64_t{3}}, BuiltinType::Double).value(), Variant::scalar<BuiltinType::Double>(3.0));
    EXPECT_EQ(to_variant(Value{uint64_t{0xF000000000000001}}, BuiltinType::UInt64).value(),
              Variant::scalar<BuiltinType::UInt64>(uint64_t{0xF000000000000001}));
    EXPECT_EQ(to_variant(Value{int64_t{1704164645678}}, BuiltinType::DateTime).value(),
              Variant::scalar<BuiltinType::DateTime>(from_unix_ms(1704164645678)));
    const Guid g{0x72962b91, 0xfa75, 0x4ae6, {0x8d, 0x28, 0xb4, 0x04, 0xdc, 0x7d, 0xaf, 0x63}};
    EXPECT_EQ(to_variant(Value{std::string("72962b91-fa75-4ae6-8d28-b404dc7daf63")}, BuiltinType::Guid).value(),
              Variant::scalar<BuiltinType::Guid>(g));

    for (auto [value, type] : std::vector<std::pair<Value, BuiltinType>>{
             {Value{int64_t{300}}, BuiltinType::Byte},
             {Value{int64_t{-1}}, BuiltinType::UInt32},
             {Value{1.5}, BuiltinType::Int32},
             {Value{uint64_t{0x8000000000000000}}, BuiltinType::Int64},
             {Value{std::string("abc")}, BuiltinType::Double},
             {Value{true}, BuiltinType::Float},
             {Value{1e39}, BuiltinType::Float},
             {Value{int64_t{2}}, BuiltinType::Boolean},
             {Value{int64_t{1}}, BuiltinType::String},
             {Value{std::string("not-a-guid")}, BuiltinType::Guid},
             {Value{std::string("x")}, BuiltinType::ByteString},
         }) {
        auto r = to_variant(value, type);
        EXPECT_FALSE(r) << builtin_name(type);
        if (!r) {
            EXPECT_NE(r.error().find(std::string(builtin_name(type))), std::string::npos) << r.error();
        }
    }
}

TEST(OpcuaVariantValue, DataTypesOfVariablesMapToTheirBuiltinType) {
    EXPECT_EQ(builtin_of_data_type(numeric_node(0, 11)), BuiltinType::Double);
    EXPECT_EQ(builtin_of_data_type(numeric_node(0, 290)), BuiltinType::Double);     // Duration
    EXPECT_EQ(builtin_of_data_type(numeric_node(0, 294)), BuiltinType::DateTime);   // UtcTime
    EXPECT_EQ(builtin_of_data_type(numeric_node(0, 29)), BuiltinType::Int32);       // Enumeration
    EXPECT_FALSE(builtin_of_data_type(numeric_node(0, 22)));                        // Structure
    EXPECT_FALSE(builtin_of_data_type(numeric_node(3, 3002)));                      // a server's own type
}

}  // namespace
}  // namespace ib::drivers::opcua
