// The NodeId string forms of OPC 10000-6 §5.3.1.10/§5.3.1.11 and the ids seen in
// the field (Siemens quoted DB names, B&R colons, two-digit namespaces).
#include <gtest/gtest.h>

#include <vector>

#include "drivers/opcua/node_id.hpp"

namespace ib::drivers::opcua {
namespace {

NodeId parsed(std::string_view s) {
    auto v = parse_node_id(s);
    EXPECT_TRUE(v) << s << ": " << (v ? "" : v.error().message);
    return v ? *v : NodeId{};
}

TEST(OpcuaNodeIdText, ParsesNumericIdsWithAndWithoutANamespace) {
    EXPECT_EQ(parsed("i=85"), numeric_node(0, 85));
    EXPECT_EQ(parsed("ns=3;i=1001"), numeric_node(3, 1001));
    EXPECT_EQ(parsed("ns=12;i=4294967295"), numeric_node(12, 4294967295u));
    EXPECT_EQ(parsed("ns=65535;i=0"), numeric_node(65535, 0));
}

TEST(OpcuaNodeIdText, TakesEverythingAfterSEqualsAsTheStringIdentifier) {
    EXPECT_EQ(parsed("ns=2;s=Line1.Temp"), (NodeId{2, std::string("Line1.Temp")}));
    EXPECT_EQ(parsed("ns=3;s=\"DB_Line\".\"Temp\""), (NodeId{3, std::string("\"DB_Line\".\"Temp\"")}));
    EXPECT_EQ(parsed("ns=6;s=::AsGlobalPV:gMotor.speed"), (NodeId{6, std::string("::AsGlobalPV:gMotor.speed")}));
    EXPECT_EQ(parsed("ns=2;s=a;b=c;i=1"), (NodeId{2, std::string("a;b=c;i=1")}));
    EXPECT_EQ(parsed("s=1001"), (NodeId{0, std::string("1001")}));  // a numeric-looking string
}

TEST(OpcuaNodeIdText, ParsesGuidsInEitherCase) {
    const Guid g{0x72962B91, 0xFA75, 0x4AE6, {0x8D, 0x28, 0xB4, 0x04, 0xDC, 0x7D, 0xAF, 0x63}};
    EXPECT_EQ(parsed("ns=4;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63"), (NodeId{4, g}));
    EXPECT_EQ(parsed("ns=4;g=72962b91-fa75-4ae6-8d28-b404dc7daf63"), (NodeId{4, g}));
    EXPECT_EQ(to_string(NodeId{4, g}), "ns=4;g=72962b91-fa75-4ae6-8d28-b404dc7daf63");
}

TEST(OpcuaNodeIdText, ParsesOpaqueIdsAsBase64) {
    EXPECT_EQ(parsed("ns=1;b=M/RbKBsRVkePCePcx24oRA=="),
              (NodeId{1, ByteString{std::byte{0x33}, std::byte{0xF4}, std::byte{0x5B}, std::byte{0x28},
                                    std::byte{0x1B}, std::byte{0x11}, std::byte{0x56}, std::byte{0x47},
                                    std::byte{0x8F}, std::byte{0x09}, std::byte{0xE3}, std::byte{0xDC},
                                    std::byte{0xC7}, std::byte{0x6E}, std::byte{0x28}, std::byte{0x44}}}));
    EXPECT_EQ(parsed("b=AQI="), (NodeId{0, ByteString{std::byte{1}, std::byte{2}}}));
    EXPECT_EQ(parsed("b=AQID"), (NodeId{0, ByteString{std::byte{1}, std::byte{2}, std::byte{3}}}));
}

TEST(OpcuaNodeIdText, FormatsWhatItParses) {
    for (std::string_view s : {"i=85", "ns=3;i=1001", "ns=2;s=Line1.Temp", "ns=3;s=\"DB1\".\"x\"", "ns=1;b=AQI=",
                               "ns=1;b=AQID", "b=AQIDBA==", "ns=4;g=72962b91-fa75-4ae6-8d28-b404dc7daf63"}) {
        EXPECT_EQ(to_string(parsed(s)), s);
    }
}

TEST(OpcuaNodeIdText, ParsesNamespaceUrisAndServerIndexesAsExpandedNodeIds) {
    auto e = parse_expanded_node_id("nsu=urn:factory:line1;s=Temp");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->namespace_uri, "urn:factory:line1");
    EXPECT_EQ(e->node, (NodeId{0, std::string("Temp")}));
    auto s = parse_expanded_node_id("svr=2;ns=1;i=7");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->server_index, 2u);
    EXPECT_EQ(s->node, numeric_node(1, 7));
    EXPECT_EQ(to_string(*s), "svr=2;ns=1;i=7");
}

// §5.3.1.11: "the character ';' would be replaced by '%3B'"; '%' is reserved too.
TEST(OpcuaNodeIdText, PercentDecodesTheReservedCharactersOfANamespaceUri) {
    auto e = parse_expanded_node_id("nsu=http://x/a%3Bb%25c;i=5");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->namespace_uri, "http://x/a;b%c");
    EXPECT_EQ(to_string(*e), "nsu=http://x/a%3Bb%25c;i=5");
}

TEST(OpcuaNodeIdText, ResolvesANamespaceUriAgainstTheNamespaceArray) {
    const std::vector<std::string> table{"http://opcfoundation.org/UA/", "urn:server", "urn:factory:line1"};
    auto e = parse_expanded_node_id("nsu=urn:factory:line1;s=Temp");
    ASSERT_TRUE(e);
    EXPECT_EQ(resolve(*e, table).value(), (NodeId{2, std::string("Temp")}));
    auto missing = parse_expanded_node_id("nsu=urn:other;i=1");
    ASSERT_TRUE(missing);
    auto r = resolve(*missing, table);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, static_cast<uint8_t>(NodeIdErrc::NamespaceUnknown));
}

struct Bad {
    std::string_view text;
    std::size_t offset;
};

TEST(OpcuaNodeIdText, RejectsMalformedStringsNamingWhere) {
    for (const Bad& b : std::vector<Bad>{
             {"", 0},                     // nothing
             {"85", 0},                   // no identifier type
             {"x=1", 0},                  // unknown type
             {"i=", 2},                   // empty number
             {"i=-1", 2},                 // sign
             {"i=4294967296", 2},         // beyond UInt32
             {"i=12a", 2},                // trailing junk
             {"ns=65536;i=1", 3},         // beyond UInt16
             {"ns=;i=1", 3},              // empty index
             {"ns=x;i=1", 3},             // not a number
             {"ns=2", 0},                 // no identifier
             {"ns=2;", 5},                // no identifier
             {"ns=2;s=", 7},              // empty string id
             {"g=72962b91-fa75-4ae6-8d28", 2},
             {"g=72962b91-fa75-4ae6-8d28-b404dc7daf6z", 2},
             {"b=AQI", 2},                // not a multiple of 4
             {"b=A!I=", 2},               // not base64
             {"b=", 2},
         }) {
        auto v = parse_node_id(b.text);
        ASSERT_FALSE(v) << b.text;
        EXPECT_EQ(v.error().offset, b.offset) << b.text << ": " << v.error().message;
        EXPECT_NE(std::string_view(v.error().message), "");
    }
}

TEST(OpcuaNodeIdText, RefusesNsuAndSvrWhereOnlyANodeIdFits) {
    EXPECT_FALSE(parse_node_id("nsu=urn:x;i=1"));
    EXPECT_FALSE(parse_node_id("svr=1;i=1"));
    EXPECT_FALSE(parse_expanded_node_id("nsu=;i=1"));
    EXPECT_FALSE(parse_expanded_node_id("nsu=urn%3;i=1"));
    EXPECT_FALSE(parse_expanded_node_id("svr=x;i=1"));
}

}  // namespace
}  // namespace ib::drivers::opcua
