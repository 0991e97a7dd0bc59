// The built-in types of OPC 10000-6 §5.2.2 against the encoding examples of the
// specification (the figures of §5.2.2.2, .3, .4, .6 and .9, written out by hand),
// round trips, and every way a length or mask can be wrong.
#include <gtest/gtest.h>

#include <limits>

#include "drivers/opcua/opcua_binary.hpp"
#include "test_bytes.hpp"

namespace ib::drivers::opcua {
namespace {

using test::Buf;
using test::bytes;
using test::cat;
using test::encoded;
using test::text;

template <typename Decode>
auto decode_all(const Buf& in, Decode&& decode) {
    BinaryReader r{Bytes(in)};
    auto v = decode(r);
    if (v) {
        EXPECT_TRUE(r.empty()) << "bytes left after decoding";
    }
    return v;
}

// Every strict prefix of a valid encoding fails, and never with an offset past it.
template <typename Decode>
void expect_every_prefix_fails(const Buf& full, Decode&& decode) {
    for (std::size_t n = 0; n < full.size(); ++n) {
        Buf prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        BinaryReader r{Bytes(prefix)};
        auto v = decode(r);
        ASSERT_FALSE(v) << "a prefix of " << n << " bytes decoded";
        EXPECT_LE(v.error().offset, n);
        EXPECT_NE(std::string_view(v.error().message), "");
    }
}

// §5.2.2.2: "the value 1 000 000 000 (Hex: 3B9ACA00) shall be encoded as 00 CA 9A 3B".
TEST(OpcuaIntegers, AreLittleEndianAsInTheSpecificationExample) {
    EXPECT_EQ(encoded([](BinaryWriter& w) { w.i32(1000000000); }), bytes({0x00, 0xCA, 0x9A, 0x3B}));
    Buf in = bytes({0x00, 0xCA, 0x9A, 0x3B});
    BinaryReader r{Bytes(in)};
    EXPECT_EQ(r.i32().value(), 1000000000);
}

// §5.2.2.3: "the value -6.5 ... shall be encoded as 00 00 D0 C0".
TEST(OpcuaFloat, EncodesMinusSixAndAHalfAsTheSpecificationShows) {
    EXPECT_EQ(encoded([](BinaryWriter& w) { w.f32(-6.5f); }), bytes({0x00, 0x00, 0xD0, 0xC0}));
}

// §5.2.2.1: any non-zero byte is true; encoders write 1.
TEST(OpcuaBoolean, ReadsAnyNonZeroAsTrueAndWritesOne) {
    Buf in = bytes({0x02});
    EXPECT_TRUE(decode_all(in, decode_boolean).value());
    EXPECT_EQ(encoded([](BinaryWriter& w) { encode_boolean(w, true); }), bytes({0x01}));
}

// §5.2.2.4, Figure: the String "水Boy" is 06 00 00 00 E6 B0 B4 42 6F 79.
TEST(OpcuaString, DecodesTheSpecificationExample) {
    Buf in = bytes({0x06, 0x00, 0x00, 0x00, 0xE6, 0xB0, 0xB4, 0x42, 0x6F, 0x79});
    EXPECT_EQ(decode_all(in, decode_string).value(), "\xE6\xB0\xB4" "Boy");
    EXPECT_EQ(encoded([](BinaryWriter& w) { encode_string(w, "\xE6\xB0\xB4" "Boy"); }), in);
}

TEST(OpcuaString, ReadsNullAsEmptyAndWritesEmptyAsNull) {
    Buf null = bytes({0xFF, 0xFF, 0xFF, 0xFF});
    EXPECT_EQ(decode_all(null, decode_string).value(), "");
    Buf empty = bytes({0, 0, 0, 0});
    EXPECT_EQ(decode_all(empty, decode_string).value(), "");
    EXPECT_EQ(encoded([](BinaryWriter& w) { encode_string(w, ""); }), null);
}

TEST(OpcuaString, RejectsNegativeLengthsOtherThanMinusOne) {
    Buf in = bytes({0xFE, 0xFF, 0xFF, 0xFF});  // -2
    auto v = decode_all(in, decode_string);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, static_cast<uint8_t>(DecodeErrc::BadLength));
    EXPECT_EQ(v.error().offset, 0u);
}

TEST(OpcuaString, RejectsALengthBeyondTheBytesLeftBeforeAllocating) {
    Buf in = bytes({0xFF, 0xFF, 0xFF, 0x7F, 'a'});  // 2 GiB claimed, 1 byte present
    auto v = decode_all(in, decode_string);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, static_cast<uint8_t>(DecodeErrc::BadLength));
}

TEST(OpcuaByteString, RoundTripsAndFailsOnEveryTruncation) {
    Buf in = bytes({0x03, 0, 0, 0, 0xDE, 0xAD, 0xBE});
    auto v = decode_all(in, decode_byte_string);
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, bytes({0xDE, 0xAD, 0xBE}));
    EXPECT_EQ(encoded([&](BinaryWriter& w) { encode_byte_string(w, *v); }), in);
    expect_every_prefix_fails(in, decode_byte_string);
}

// §5.2.2.6, Figure: the Guid 72962B91-FA75-4AE6-8D28-B404DC7DAF63.
const Guid kSpecGuid{0x72962B91, 0xFA75, 0x4AE6, {0x8D, 0x28, 0xB4, 0x04, 0xDC, 0x7D, 0xAF, 0x63}};
const Buf kSpecGuidBytes = bytes({0x91, 0x2B, 0x96, 0x72, 0x75, 0xFA, 0xE6, 0x4A, 0x8D, 0x28, 0xB4, 0x04, 0xDC,
                                  0x7D, 0xAF, 0x63});

TEST(OpcuaGuid, EncodesTheSpecificationExample) {
    EXPECT_EQ(encoded([](BinaryWriter& w) { encode(w, kSpecGuid); }), kSpecGuidBytes);
    EXPECT_EQ(decode_all(kSpecGuidBytes, decode_guid).value(), kSpecGuid);
    expect_every_prefix_fails(kSpecGuidBytes, decode_guid);
}

// §5.2.2.5: 100 ns ticks since 1601-01-01; the Unix epoch is 116444736000000000.
TEST(OpcuaDateTime, ConvertsToUnixMillisecondsAndClampsBothEnds) {
    EXPECT_EQ(unix_ms(DateTime{kUnixEpochTicks}), 0);
    EXPECT_EQ(unix_ms(DateTime{kUnixEpochTicks + 17322000001230000LL}), 1732200000123);
    EXPECT_EQ(from_unix_ms(1732200000123).ticks, kUnixEpochTicks + 17322000001230000LL);
    EXPECT_EQ(unix_ms(DateTime{0}), -kUnixEpochTicks / 10000);
    EXPECT_EQ(unix_ms(DateTime{std::numeric_limits<int64_t>::max()}), std::numeric_limits<int64_t>::max());
    EXPECT_EQ(from_unix_ms(std::numeric_limits<int64_t>::max()).ticks, std::numeric_limits<int64_t>::max());
    EXPECT_EQ(from_unix_ms(std::numeric_limits<int64_t>::min()).ticks, 0);
}

// §5.2.2.9, the figures of the NodeId encodings.
TEST(OpcuaNodeId, UsesTheTwoByteFormForNamespaceZeroAndSmallIds) {
    Buf in = bytes({0x00, 0x48});  // i=72
    EXPECT_EQ(decode_all(in, decode_node_id).value(), numeric_node(0, 72));
    EXPECT_EQ(encoded([](BinaryWriter& w) { encode(w, numeric_node(0, 72)); }), in);
}

TEST(OpcuaNodeId, UsesTheFourByteFormUpToNamespace255AndId65535) {
    Buf in = bytes({0x01, 0x05, 0x01, 0x04});  // ns=5;i=1025
    EXPECT_EQ(decode_all(in, decode_node_id).value(), numeric_node(5, 1025));
    EXPECT_EQ(encoded([](BinaryWriter& w) { encode(w, numeric_node(5, 1025)); }), in);
}

TEST(OpcuaNodeId, UsesTheNumericFormBeyondThat) {
    Buf in = bytes({0x02, 0x00, 0x01, 0x40, 0x42, 0x0F, 0x00});  // ns=256;i=1000000
    EXPECT_EQ(decode_all(in, decode_node_id).value(), numeric_node(256, 1000000));
    EXPECT_EQ(encoded([](BinaryWriter& w) { encode(w, numeric_node(256, 1000000)); }), in);
}

TEST(OpcuaNodeId, DecodesTheSpecificationStringExample) {
    // ns=1;s=Hot水
    Buf in = bytes({0x03, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x48, 0x6F, 0x74, 0xE6, 0xB0, 0xB4});
    NodeId want{1, std::string("Hot\xE6\xB0\xB4")};
    EXPECT_EQ(decode_all(in, decode_node_id).value(), want);
    EXPECT_EQ(encoded([&](BinaryWriter& w) { encode(w, want); }), in);
    expect_every_prefix_fails(in, decode_node_id);
}

TEST(OpcuaNodeId, DecodesTheSpecificationGuidExample) {
    Buf in = cat({bytes({0x04, 0x04, 0x00}), kSpecGuidBytes});  // ns=4;g=72962B91-...
    NodeId want{4, kSpecGuid};
    EXPECT_EQ(decode_all(in, decode_node_id).value(), want);
    EXPECT_EQ(encoded([&](BinaryWriter& w) { encode(w, want); }), in);
}

TEST(OpcuaNodeId, RoundTripsAnOpaqueId) {
    NodeId want{2, ByteString{std::byte{1}, std::byte{2}}};
    Buf in = bytes({0x05, 0x02, 0x00, 0x02, 0, 0, 0, 0x01, 0x02});
    EXPECT_EQ(encoded([&](BinaryWriter& w) { encode(w, want); }), in);
    EXPECT_EQ(decode_all(in, decode_node_id).value(), want);
}

TEST(OpcuaNodeId, RejectsUnknownEncodingsAndExpandedFlags) {
    for (int enc : {0x06, 0x3F, 0x80, 0x40}) {
        Buf in = bytes({enc, 0, 0, 0, 0, 0, 0});
        auto v = decode_all(in, decode_node_id);
        ASSERT_FALSE(v) << enc;
        EXPECT_EQ(v.error().code, static_cast<uint8_t>(DecodeErrc::BadValue));
        EXPECT_EQ(v.error().offset, 0u);
    }
}

// §5.2.2.10: 0x80 NamespaceUri follows the NodeId, then 0x40 ServerIndex.
TEST(OpcuaExpandedNodeId, ReadsTheNamespaceUriAndServerIndexAfterTheNode) {
    Buf in = cat({bytes({0xC0, 0x2A, 0x05, 0, 0, 0}), text("urn:x"), bytes({0x07, 0, 0, 0})});
    ExpandedNodeId want{numeric_node(0, 42), "urn:x", 7};
    EXPECT_EQ(decode_all(in, decode_expanded_node_id).value(), want);
    EXPECT_EQ(encoded([&](BinaryWriter& w) { encode(w, want); }), in);
    expect_every_prefix_fails(in, decode_expanded_node_id);
}

// §5.2.2.13, §5.2.2.14
TEST(OpcuaQualifiedNameAndLocalizedText, RoundTrip) {
    Buf qn = cat({bytes({0x02, 0x00, 0x04, 0, 0, 0}), text("Temp")});
    EXPECT_EQ(decode_all(qn, decode_qualified_name).value(), (QualifiedName{2, "Temp"}));
    Buf lt = cat({bytes({0x03, 0x02, 0, 0, 0}), text("en"), bytes({0x02, 0, 0, 0}), text("Hi")});
    EXPECT_EQ(decode_all(lt, decode_localized_text).value(), (LocalizedText{"en", "Hi"}));
    EXPECT_EQ(encoded([](BinaryWriter& w) { encode(w, LocalizedText{"en", "Hi"}); }), lt);
    Buf text_only = cat({bytes({0x02, 0x02, 0, 0, 0}), text("Hi")});
    EXPECT_EQ(decode_all(text_only, decode_localized_text).value(), (LocalizedText{"", "Hi"}));
    expect_every_prefix_fails(lt, decode_localized_text);
}

// §5.2.2.15: TypeId, encoding byte, body as a ByteString kept undecoded.
TEST(OpcuaExtensionObject, KeepsABinaryBodyAsBytes) {
    Buf in = bytes({0x01, 0x00, 0x41, 0x01, 0x01, 0x03, 0, 0, 0, 0xAA, 0xBB, 0xCC});  // i=321
    auto v = decode_all(in, decode_extension_object);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->type_id, numeric_node(0, 321));
    EXPECT_EQ(v->encoding, ExtensionObject::Encoding::Binary);
    EXPECT_EQ(v->body, bytes({0xAA, 0xBB, 0xCC}));
    EXPECT_EQ(encoded([&](BinaryWriter& w) { encode(w, *v); }), in);
    expect_every_prefix_fails(in, decode_extension_object);
}

TEST(OpcuaExtensionObject, HasNoBodyWithEncodingZeroAndRejectsEncodingThree) {
    Buf none = bytes({0x00, 0x00, 0x00});
    EXPECT_TRUE(decode_all(none, decode_extension_object).value().body.empty());
    Buf bad = bytes({0x00, 0x00, 0x03, 0, 0, 0, 0});
    auto v = decode_all(bad, decode_extension_object);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().offset, 2u);
}

// §5.2.2.16: mask bits 0-5 the type, 0x80 array, 0x40 dimensions.
TEST(OpcuaVariant, DecodesAScalarInt32) {
    Buf in = bytes({0x06, 0x2A, 0, 0, 0});
    auto v = decode_all(in, decode_variant);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->type(), BuiltinType::Int32);
    EXPECT_FALSE(v->is_array);
    EXPECT_EQ(std::get<6>(v->values), std::vector<int32_t>{42});
    EXPECT_EQ(encoded([&](BinaryWriter& w) { encode(w, *v); }), in);
}

TEST(OpcuaVariant, IsNullWithAZeroMask) {
    Buf in = bytes({0x00});
    EXPECT_TRUE(decode_all(in, decode_variant).value().is_null());
}

TEST(OpcuaVariant, DecodesAnArrayOfDoubles) {
    Buf in = bytes({0x8B, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0, 0x40});
    auto v = decode_all(in, decode_variant);
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->is_array);
    EXPECT_EQ(std::get<11>(v->values), (std::vector<double>{1.0, 2.0}));
    EXPECT_EQ(encoded([&](BinaryWriter& w) { encode(w, *v); }), in);
    expect_every_prefix_fails(in, decode_variant);
}

TEST(OpcuaVariant, AcceptsArrayDimensionsAndDropsThem) {
    // A 2x1 matrix of Byte: mask 0xC3, length 2, values, dimensions [2, 1].
    Buf in = bytes({0xC3, 0x02, 0, 0, 0, 0x07, 0x08, 0x02, 0, 0, 0, 0x02, 0, 0, 0, 0x01, 0, 0, 0});
    auto v = decode_all(in, decode_variant);
    ASSERT_TRUE(v);
    EXPECT_EQ(std::get<3>(v->values), (std::vector<uint8_t>{7, 8}));
}

TEST(OpcuaVariant, ReadsANullArrayAsEmpty) {
    Buf in = bytes({0x8C, 0xFF, 0xFF, 0xFF, 0xFF});
    auto v = decode_all(in, decode_variant);
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->is_array);
    EXPECT_EQ(v->size(), 0u);
}

TEST(OpcuaVariant, RoundTripsStringsNodeIdsAndNestedVariants) {
    std::vector<Variant> inner{Variant::scalar<BuiltinType::String>(std::string("a")),
                               Variant::scalar<BuiltinType::Boolean>(true)};
    for (const Variant& v : {Variant::array<BuiltinType::String>(std::vector<std::string>{"x", "yz"}),
                             Variant::scalar<BuiltinType::NodeId>(NodeId{3, std::string("\"DB\".\"T\"")}),
                             Variant::array<BuiltinType::Variant>(inner),
                             Variant::scalar<BuiltinType::StatusCode>(StatusCode{0x80340000}),
                             Variant::scalar<BuiltinType::DateTime>(DateTime{kUnixEpochTicks}),
                             Variant::array<BuiltinType::Boolean>(std::vector<bool>{true, false, true})}) {
        Buf in = encoded([&](BinaryWriter& w) { encode(w, v); });
        EXPECT_EQ(decode_all(in, decode_variant).value(), v);
        expect_every_prefix_fails(in, decode_variant);
    }
}

TEST(OpcuaVariant, RejectsTypeIdsAbove25) {
    Buf in = bytes({26});
    auto v = decode_all(in, decode_variant);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, static_cast<uint8_t>(DecodeErrc::BadValue));
}

TEST(OpcuaVariant, RejectsDimensionsWithoutAnArrayAndArraysOfNull) {
    for (int mask : {0x46, 0x80}) {
        Buf in = bytes({mask, 0, 0, 0, 0});
        EXPECT_FALSE(decode_all(in, decode_variant)) << mask;
    }
}

TEST(OpcuaVariant, RefusesAnArrayLongerThanItsBytesCouldHold) {
    // 1000 Doubles claimed, 8 bytes present: refused at the length, offset 1.
    Buf in = bytes({0x8B, 0xE8, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    auto v = decode_all(in, decode_variant);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, static_cast<uint8_t>(DecodeErrc::BadLength));
    EXPECT_EQ(v.error().offset, 1u);
    // A negative array length other than -1.
    Buf neg = bytes({0x86, 0xFE, 0xFF, 0xFF, 0xFF});
    EXPECT_EQ(decode_all(neg, decode_variant).error().code, static_cast<uint8_t>(DecodeErrc::BadLength));
}

TEST(OpcuaVariant, RefusesNestingDeeperThanTheLimit) {
    // Variant arrays of one Variant each, 40 deep, ending in Null.
    Buf in;
    for (int i = 0; i < 40; ++i) {
        Buf level = bytes({0x98, 0x01, 0, 0, 0});
        in.insert(in.end(), level.begin(), level.end());
    }
    in.push_back(std::byte{0});
    auto v = decode_all(in, decode_variant);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, static_cast<uint8_t>(DecodeErrc::TooDeep));
}

// §5.2.2.17: mask, Value, Status, SourceTimestamp, SourcePicoseconds,
// ServerTimestamp, ServerPicoseconds, in that order.
TEST(OpcuaDataValue, ReadsTheFieldsTheMaskNamesInTheirOrder) {
    Buf in = bytes({0x3F,                                        // every field
                    0x0B, 0, 0, 0, 0, 0, 0, 0x35, 0x40,          // Double 21.0
                    0x00, 0x00, 0x94, 0x40,                      // UncertainSensorNotAccurate
                    0x01, 0, 0, 0, 0, 0, 0, 0,                   // source ts 1
                    0x05, 0x00,                                  // source ps 5
                    0x02, 0, 0, 0, 0, 0, 0, 0,                   // server ts 2
                    0x06, 0x00});                                // server ps 6
    auto v = decode_all(in, decode_data_value);
    ASSERT_TRUE(v);
    EXPECT_EQ(std::get<11>(v->value.values), std::vector<double>{21.0});
    EXPECT_EQ(v->status.value, 0x40940000u);
    EXPECT_EQ(v->source_timestamp.ticks, 1);
    EXPECT_EQ(v->source_picoseconds, 5);
    EXPECT_EQ(v->server_timestamp.ticks, 2);
    EXPECT_EQ(v->server_picoseconds, 6);
    EXPECT_EQ(encoded([&](BinaryWriter& w) { encode(w, *v); }), in);
    expect_every_prefix_fails(in, decode_data_value);
}

TEST(OpcuaDataValue, LeavesAbsentFieldsAtTheirDefaults) {
    Buf in = bytes({0x02, 0x00, 0x00, 0x34, 0x80});  // status only: BadNodeIdUnknown
    auto v = decode_all(in, decode_data_value);
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->value.is_null());
    EXPECT_EQ(v->status.value, 0x80340000u);
    EXPECT_EQ(v->source_timestamp.ticks, 0);
}

// §5.2.2.12: decoded and skipped, inner DiagnosticInfos included.
TEST(OpcuaDiagnosticInfo, SkipsEveryFieldTheMaskNamesAndInnerChains) {
    Buf in = cat({bytes({0x7F, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0x02, 0, 0, 0}), text("hi"),
                  bytes({0x00, 0x00, 0x34, 0x80}),  // inner status
                  bytes({0x41, 9, 0, 0, 0}),        // inner: symbolic id, and another inner
                  bytes({0x00})});
    EXPECT_TRUE(decode_all(in, decode_diagnostic_info));
    expect_every_prefix_fails(in, decode_diagnostic_info);
}

TEST(OpcuaDiagnosticInfo, WalksALongInnerChainWithoutRecursion) {
    Buf in(100000, std::byte{0x40});
    in.push_back(std::byte{0});
    EXPECT_TRUE(decode_all(in, decode_diagnostic_info));
}

TEST(OpcuaArray, ReadsNullAsEmptyAndRefusesImpossibleLengths) {
    auto decode_u32s = [](BinaryReader& r) {
        return decode_array<uint32_t>(r, [](BinaryReader& rr) { return rr.u32(); }, 4);
    };
    Buf null = bytes({0xFF, 0xFF, 0xFF, 0xFF});
    EXPECT_TRUE(decode_all(null, decode_u32s).value().empty());
    Buf two = bytes({0x02, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0});
    EXPECT_EQ(decode_all(two, decode_u32s).value(), (std::vector<uint32_t>{1, 2}));
    Buf big = bytes({0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0});
    EXPECT_EQ(decode_all(big, decode_u32s).error().code, static_cast<uint8_t>(DecodeErrc::BadLength));
}

TEST(OpcuaReader, NamesTheAbsoluteOffsetOfASubReader) {
    Buf in = bytes({0x01});
    BinaryReader r{Bytes(in), 100};
    auto v = r.u32();
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().offset, 100u);
    EXPECT_EQ(v.error().code, static_cast<uint8_t>(DecodeErrc::Truncated));
}

}  // namespace
}  // namespace ib::drivers::opcua
