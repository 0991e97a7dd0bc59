#include "sparkplug/sparkplug_settings.hpp"

#include <gtest/gtest.h>

#include "config/loader.hpp"

namespace ib::sparkplug {
namespace {

std::expected<config::NodeConfig, std::string> load(std::string_view toml, SparkplugConfig& out) {
    const config::TableList lists[] = {sparkplug_tables(out)};
    return config::load_config_string(toml, "ib.toml", lists);
}

TEST(SparkplugSettings, ReadsTheTableWithItsDefaults) {
    SparkplugConfig c;
    auto r = load("[sparkplug]\nenabled = true\ngroup_id = \"Plant 1\"\nedge_node_id = \"edge1\"\n"
                  "devices = [\"plc1\"]\ntags = [\"plc1/speed\"]\nprimary_host_id = \"scada\"\n",
                  c);
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(c.enabled);
    EXPECT_EQ(c.group_id, "Plant 1");
    EXPECT_EQ(c.devices, std::vector<std::string>{"plc1"});
    EXPECT_EQ(c.tags, std::vector<std::string>{"plc1/speed"});
    EXPECT_EQ(c.broker, "local");
    EXPECT_EQ(c.client_id, "ironbridge-sparkplug-edge1");
    EXPECT_EQ(c.primary_host_id, "scada");
}

TEST(SparkplugSettings, ErrorsNameTheLineAndKey) {
    SparkplugConfig c;
    auto r = load("[sparkplug]\nenabled = true\ngroup_id = \"a/b\"\ntags = [\"plc1\"]\nbrokr = \"x\"\n", c);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("ib.toml:3: sparkplug.group_id: \"a/b\" holds '/', which Sparkplug ids may not"),
              std::string::npos)
        << r.error();
    EXPECT_NE(r.error().find("ib.toml:4: sparkplug.tags: \"plc1\" is not of the form \"device/tag\""),
              std::string::npos)
        << r.error();
    EXPECT_NE(r.error().find("unknown key 'sparkplug.brokr' (did you mean 'sparkplug.broker'?)"), std::string::npos)
        << r.error();
    EXPECT_NE(r.error().find("sparkplug.edge_node_id: is required"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace ib::sparkplug
