#include "core/bus.hpp"

#include <gtest/gtest.h>

namespace ib {
namespace {

TEST(BusTopics, BuildsEveryTopicUnderThePrefix) {
    BusTopics bus("plant7/line2");
    EXPECT_EQ(bus.data("plc1", "fast"), "plant7/line2/data/plc1/fast");
    EXPECT_EQ(bus.data_filter(), "plant7/line2/data/#");
    EXPECT_EQ(bus.status("plc1"), "plant7/line2/status/plc1");
    EXPECT_EQ(bus.write("plc1"), "plant7/line2/write/plc1");
    EXPECT_EQ(bus.write_result("plc1"), "plant7/line2/write/plc1/result");
    EXPECT_EQ(bus.write_filter(), "plant7/line2/write/+");
}

TEST(BusTopics, DeviceOfWriteAcceptsOnlyAWriteTopic) {
    BusTopics bus("ib");
    EXPECT_EQ(bus.device_of_write("ib/write/plc1"), "plc1");
    EXPECT_EQ(bus.device_of_write("ib/write/plc1/result"), std::nullopt);
    EXPECT_EQ(bus.device_of_write("ib/write/"), std::nullopt);
    EXPECT_EQ(bus.device_of_write("ib/data/plc1"), std::nullopt);
    EXPECT_EQ(bus.device_of_write("ibx/write/plc1"), std::nullopt);
    EXPECT_EQ(bus.device_of_write("other/write/plc1"), std::nullopt);
    EXPECT_EQ(bus.device_of_write("ib"), std::nullopt);
}

TEST(BusPrefix, RefusesWildcardsEmptyLevelsAndSysTopics) {
    EXPECT_EQ(bus_prefix_problem("ib"), "");
    EXPECT_EQ(bus_prefix_problem("plant7/line2"), "");
    EXPECT_NE(bus_prefix_problem(""), "");
    EXPECT_NE(bus_prefix_problem("a/+"), "");
    EXPECT_NE(bus_prefix_problem("a#"), "");
    EXPECT_NE(bus_prefix_problem("/a"), "");
    EXPECT_NE(bus_prefix_problem("a/"), "");
    EXPECT_NE(bus_prefix_problem("a//b"), "");
    EXPECT_NE(bus_prefix_problem("$SYS"), "");
}

TEST(WriteRequest, DecodesOneTagAndKeepsTheIdAsJson) {
    auto r = decode_write_request(R"({"id":"r-17","tag":"setpoint","value":42.5})");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->id, R"("r-17")");
    ASSERT_EQ(r->items.size(), 1u);
    EXPECT_EQ(r->items[0].tag, "setpoint");
    EXPECT_EQ(r->items[0].value, WriteValue(42.5));
}

TEST(WriteRequest, DecodesValuesInOrderAndFailsBadValuesAlone) {
    auto r = decode_write_request(R"({"id":7,"values":{"a":true,"b":[1,255],"c":null,"d":[256],"e":"x"}})");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->id, "7");
    ASSERT_EQ(r->items.size(), 5u);
    EXPECT_EQ(r->items[0].value, WriteValue(true));
    EXPECT_EQ(r->items[1].value, WriteValue(std::vector<uint8_t>{1, 255}));
    EXPECT_FALSE(r->items[2].value.has_value());
    EXPECT_FALSE(r->items[3].value.has_value());
    EXPECT_EQ(r->items[4].value, WriteValue(std::string("x")));
}

TEST(WriteRequest, ErrorsAreValuesWithTheirKindAndTheId) {
    auto kind = [](std::string_view json) { return decode_write_request(json).error().code; };
    EXPECT_EQ(kind("{"), WriteRequestErrc::NotJson);
    EXPECT_EQ(kind("[1]"), WriteRequestErrc::NotObject);
    EXPECT_EQ(kind(R"({"tag":3,"value":1})"), WriteRequestErrc::BadTag);
    EXPECT_EQ(kind(R"({"tag":"a"})"), WriteRequestErrc::BadTag);
    EXPECT_EQ(kind(R"({"values":[1]})"), WriteRequestErrc::BadValues);
    EXPECT_EQ(kind(R"({"values":{}})"), WriteRequestErrc::BadValues);
    EXPECT_EQ(kind(R"({"id":1})"), WriteRequestErrc::NoTagOrValues);
    auto e = decode_write_request(R"({"id":"x-1","tag":"a"})");
    EXPECT_EQ(e.error().id, R"("x-1")");
    EXPECT_EQ(e.error().message, R"("tag" needs a "value")");
}

TEST(WriteRequest, EncodersWriteWhatTheDecoderReads) {
    std::string out;
    encode_write_request(out, "rule-a-1", "sp", "21.5");
    EXPECT_EQ(out, R"({"id":"rule-a-1","tag":"sp","value":21.5})");
    out.clear();
    encode_write_request_values(out, "q\"1", R"({"a":1,"b":false})");
    EXPECT_EQ(out, R"({"id":"q\"1","values":{"a":1,"b":false}})");
    auto back = decode_write_request(out);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->id, R"("q\"1")");
    EXPECT_EQ(back->items.size(), 2u);
}

TEST(WriteResult, EncodesPerTagResultsAndRefusalsAndDecodesThem) {
    WriteResult r;
    r.id = R"("r-1")";
    r.ok = false;
    r.results = {{"sp", true, 0, ""}, {"x", false, 1006, "no tag 'x'"}};
    std::string out;
    encode_write_result(out, r);
    EXPECT_EQ(out, R"({"id":"r-1","ok":false,"results":{"sp":{"ok":true},"x":{"ok":false,"code":1006,"error":"no tag 'x'"}}})");
    auto back = decode_write_result(out);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->results.size(), 2u);
    EXPECT_EQ(back->results[1].code, 1006);
    EXPECT_EQ(back->results[1].error, "no tag 'x'");

    out.clear();
    encode_write_refusal(out, "null", "the request must be a JSON object");
    EXPECT_EQ(out, R"({"id":null,"ok":false,"error":"the request must be a JSON object"})");
    back = decode_write_result(out);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->error, "the request must be a JSON object");
    EXPECT_FALSE(decode_write_result(R"({"id":1})").has_value());
    EXPECT_FALSE(decode_write_result(R"({"ok":true,"results":{"a":{"ok":false}}})").has_value());
}

}  // namespace
}  // namespace ib
