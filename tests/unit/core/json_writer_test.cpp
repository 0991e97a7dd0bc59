#include "core/json_writer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace ib {
namespace {

TEST(JsonWriter, WritesCommasOnlyBetweenValues) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("a", 1).key("b").begin_array().number(1).string("x").begin_object().end_object();
    w.end_array().key("c").begin_object().field("d", true).end_object().key("e").null().end_object();
    EXPECT_EQ(out, R"({"a":1,"b":[1,"x",{}],"c":{"d":true},"e":null})");
}

TEST(JsonWriter, EscapesKeysAndStrings) {
    std::string out;
    JsonWriter(out).begin_object().field("k\"\n", "v\\\x01").end_object();
    EXPECT_EQ(out, R"({"k\"\n":"v\\\u0001"})");
}

TEST(JsonWriter, NumbersAreShortestOrFixedAndNonFiniteIsNull) {
    std::string out;
    JsonWriter w(out);
    w.begin_array().number(21.5).number(int64_t{-3}).number(std::numeric_limits<uint64_t>::max()).fixed(0.1234, 3);
    w.number(std::numeric_limits<double>::infinity()).number(std::nan("")).end_array();
    EXPECT_EQ(out, "[21.5,-3,18446744073709551615,0.123,null,null]");
}

// Found by write_request_fuzz: the shortest text of this double is a 22-digit
// integer, which JSON parsers refuse as out of range.
TEST(JsonWriter, HugeIntegralDoublesKeepAnExponent) {
    std::string out;
    JsonWriter(out).begin_array().number(1844674408446773711650.95).number(123456789012345680.0).end_array();
    EXPECT_EQ(out, "[1.8446744084467737e+21,123456789012345680]");
}

TEST(JsonWriter, RawAndAppendedValuesAreSeparatedLikeAnyOther) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().raw_field("a", R"({"x":1})").key("b").appended([](std::string& o) { o += "42"; });
    w.field("c", false).end_object();
    EXPECT_EQ(out, R"({"a":{"x":1},"b":42,"c":false})");
}

TEST(JsonWriter, AppendsToWhatTheStringHolds) {
    std::string out = "prefix:";
    JsonWriter(out).begin_array().end_array();
    EXPECT_EQ(out, "prefix:[]");
}

}  // namespace
}  // namespace ib
