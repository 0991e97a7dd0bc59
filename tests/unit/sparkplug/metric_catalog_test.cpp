#include "sparkplug/metric_catalog.hpp"

#include <gtest/gtest.h>

#include "sparkplug/json_value.hpp"

namespace ib::sparkplug {
namespace {

drivers::TagConfig tag(std::string name, drivers::DataType type, std::string unit = {}) {
    drivers::TagConfig t;
    t.set_name(name);
    t.type = type;
    t.set_unit(unit);
    return t;
}

std::vector<drivers::DeviceConfig> two_devices() {
    drivers::DeviceConfig a;
    a.name = "plc1";
    drivers::GroupConfig fast;
    fast.name = "fast";
    fast.tags = {tag("speed", drivers::DataType::Uint16, "rpm"), tag("run", drivers::DataType::Bool)};
    drivers::GroupConfig slow;
    slow.name = "slow";
    auto scaled = tag("temp", drivers::DataType::Int16, "degC");
    scaled.scale = 0.1;
    slow.tags = {scaled};
    a.groups = {fast, slow};
    drivers::DeviceConfig b;
    b.name = "sim1";
    drivers::GroupConfig g;
    g.name = "g";
    g.tags = {tag("level", drivers::DataType::Float32)};
    b.groups = {g};
    return {a, b};
}

SparkplugConfig config() {
    SparkplugConfig c;
    c.enabled = true;
    c.group_id = "plant1";
    c.edge_node_id = "edge1";
    return c;
}

TEST(SparkplugCatalog, EveryTagOfEveryDeviceWithAliasesUniqueInTheNode) {
    auto c = MetricCatalog::build(config(), two_devices());
    ASSERT_TRUE(c) << c.error();
    ASSERT_EQ(c->devices().size(), 2u);
    const auto& plc = c->devices()[0];
    EXPECT_EQ(plc.name, "plc1");
    ASSERT_EQ(plc.metrics.size(), 3u);
    EXPECT_EQ(plc.metrics[0].name, "speed");
    EXPECT_EQ(plc.metrics[0].type, DataType::UInt16);
    EXPECT_EQ(plc.metrics[0].unit, "rpm");
    EXPECT_EQ(plc.metrics[1].type, DataType::Boolean);
    EXPECT_EQ(plc.metrics[2].type, DataType::Double) << "a scaled tag reports a float64";
    EXPECT_EQ(c->devices()[1].metrics[0].type, DataType::Float);
    EXPECT_EQ(plc.metrics[0].alias, 1u);
    EXPECT_EQ(c->devices()[1].metrics[0].alias, 4u);
    auto found = c->by_alias(4);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->first->name, "sim1");
    EXPECT_EQ(found->second->name, "level");
    EXPECT_FALSE(c->by_alias(99));
}

TEST(SparkplugCatalog, FindWithAHintFollowsTheDevicesOrder) {
    auto c = MetricCatalog::build(config(), two_devices());
    ASSERT_TRUE(c);
    auto& plc = c->devices()[0];
    std::size_t hint = 0;
    EXPECT_EQ(plc.find("speed", hint), &plc.metrics[0]);
    EXPECT_EQ(hint, 1u);
    EXPECT_EQ(plc.find("temp", hint), &plc.metrics[2]) << "a tag not in order is still found";
    EXPECT_EQ(hint, 3u);
    EXPECT_EQ(plc.find("run", hint), &plc.metrics[1]);
    EXPECT_EQ(plc.find("nope", hint), nullptr);
}

TEST(SparkplugCatalog, SelectsDevicesAndTags) {
    auto cfg = config();
    cfg.devices = {"plc1"};
    cfg.tags = {"plc1/temp"};
    auto c = MetricCatalog::build(cfg, two_devices());
    ASSERT_TRUE(c) << c.error();
    ASSERT_EQ(c->devices().size(), 1u);
    ASSERT_EQ(c->devices()[0].metrics.size(), 1u);
    EXPECT_EQ(c->devices()[0].metrics[0].name, "temp");
}

TEST(SparkplugCatalog, UnknownDeviceOrTagIsAnError) {
    auto cfg = config();
    cfg.devices = {"nope"};
    auto c = MetricCatalog::build(cfg, two_devices());
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), "sparkplug.devices: there is no device named \"nope\"");
    cfg.devices = {};
    cfg.tags = {"sim1/speed"};
    c = MetricCatalog::build(cfg, two_devices());
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), "sparkplug.tags: \"sim1/speed\" names no tag of a published device");
}

std::optional<MetricValue> from_json(const char* text, DataType type) {
    simdjson::ondemand::parser parser;
    simdjson::padded_string json(std::string_view{text});
    auto doc = parser.iterate(json);
    simdjson::ondemand::value v;
    if (doc["v"].get(v)) return std::nullopt;
    return value_from_json(v, type);
}

TEST(SparkplugJsonValue, ReadingValuesAsTheirDatatype) {
    EXPECT_EQ(from_json(R"({"v":true})", DataType::Boolean), MetricValue(true));
    EXPECT_EQ(from_json(R"({"v":-5})", DataType::Int8), MetricValue(int64_t{-5}));
    EXPECT_EQ(from_json(R"({"v":4e+09})", DataType::UInt32), MetricValue(uint64_t{4000000000}));
    EXPECT_EQ(from_json(R"({"v":-5e+09})", DataType::Int64), MetricValue(int64_t{-5000000000}));
    EXPECT_EQ(from_json(R"({"v":18446744073709551615})", DataType::UInt64),
              MetricValue(uint64_t{18446744073709551615ull}));
    EXPECT_EQ(from_json(R"({"v":21.5})", DataType::Float), MetricValue(21.5f));
    EXPECT_EQ(from_json(R"({"v":"x"})", DataType::String), MetricValue(std::string("x")));
    EXPECT_EQ(from_json(R"({"v":[1,255]})", DataType::Bytes), MetricValue(std::vector<uint8_t>{1, 255}));
    EXPECT_FALSE(from_json(R"({"v":1.5})", DataType::Int32)) << "a fraction is no integer";
    EXPECT_FALSE(from_json(R"({"v":-1})", DataType::UInt16));
    EXPECT_FALSE(from_json(R"({"v":"7"})", DataType::Int32));
    EXPECT_FALSE(from_json(R"({"v":[256]})", DataType::Bytes));
}

TEST(SparkplugJsonValue, CommandValuesAsWriteRequestJson) {
    EXPECT_EQ(value_to_json(MetricValue(true)), "true");
    EXPECT_EQ(value_to_json(MetricValue(int64_t{-123456})), "-123456");
    EXPECT_EQ(value_to_json(MetricValue(uint64_t{1500})), "1500");
    EXPECT_EQ(value_to_json(MetricValue(21.5f)), "21.5");
    EXPECT_EQ(value_to_json(MetricValue(std::string("a\"b"))), "\"a\\\"b\"");
    EXPECT_EQ(value_to_json(MetricValue(std::vector<uint8_t>{1, 2})), "[1,2]");
    EXPECT_FALSE(value_to_json(MetricValue(std::monostate{})));
}

}  // namespace
}  // namespace ib::sparkplug
