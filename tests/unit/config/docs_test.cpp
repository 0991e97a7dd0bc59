// The checked-in reference and example config must equal what the settings
// table renders, so docs cannot drift from the code.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bridge/bridge_settings.hpp"
#include "config/loader.hpp"
#include "config/render.hpp"
#include "config/settings.hpp"
#include "drivers/device_settings.hpp"
#include "fleet/fleet_settings.hpp"
#include "fleet_ctl/controller_settings.hpp"
#include "rules/rule_settings.hpp"
#include "sparkplug/sparkplug_settings.hpp"

namespace ib::config {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void check_golden(const std::string& relative, const std::string& rendered) {
    std::string path = std::string(IB_SOURCE_DIR) + "/" + relative;
    const char* update = std::getenv("IB_UPDATE_GOLDEN");
    if (update != nullptr && std::string(update) == "1") {
        std::ofstream(path, std::ios::binary) << rendered;
    }
    std::string on_disk = read_file(path);
    if (on_disk == rendered) return;
    // Point at the first differing line rather than dumping both documents.
    size_t line = 1, i = 0;
    while (i < on_disk.size() && i < rendered.size() && on_disk[i] == rendered[i]) {
        if (on_disk[i++] == '\n') ++line;
    }
    ADD_FAILURE() << relative << " differs from what the settings table renders (first at line " << line
                  << "). Regenerate it with:\n"
                  << "  IB_UPDATE_GOLDEN=1 build-cfg/tests/config_test --gtest_filter='ConfigDocs.*'\n"
                  << "and commit the result.";
}

// The reference documents the modules' tables in the order the app hands them to the loader.
std::string reference_markdown() {
    std::vector<drivers::DeviceConfig> devices;
    std::vector<bridge::BridgeConfig> bridges;
    std::vector<rules::RuleConfig> rules;
    sparkplug::SparkplugConfig sparkplug;
    fleet::FleetConfig fleet;
    fleet_ctl::ControllerConfig fleet_controller;
    // Only their docs are read here, so no tag is ever checked.
    const TableList lists[] = {drivers::device_tables(devices, nullptr), bridge::bridge_tables(bridges),
                               rules::rule_tables(rules), sparkplug::sparkplug_tables(sparkplug),
                               fleet::fleet_table(fleet), fleet_ctl::controller_table(fleet_controller)};
    return render_reference_markdown(lists);
}

TEST(ConfigDocs, ReferenceMarkdownIsUpToDate) {
    check_golden("docs/configuration.md", reference_markdown());
}

TEST(ConfigDocs, ExampleTomlIsUpToDate) {
    check_golden("config/ironbridge.example.toml", render_example_toml());
}

TEST(ConfigDocs, ExampleTomlLoadsToTheDefaults) {
    auto r = load_config_string(render_example_toml(), "ironbridge.example.toml");
    ASSERT_TRUE(r.has_value()) << r.error();
    NodeConfig defaults;
    for (const Setting& s : settings()) {
        if (s.scope == SettingScope::Node) {
            EXPECT_EQ(s.get_node(*r), s.get_node(defaults)) << s.key;
        }
    }
    ASSERT_EQ(r->broker.listeners.size(), 1u);
    EXPECT_EQ(r->broker.listeners[0].name, "default");
}

TEST(ConfigDocs, ReferenceMentionsEverySetting) {
    std::string md = reference_markdown();
    for (const Setting& s : settings()) {
        EXPECT_NE(md.find("| `" + std::string(s.name()) + "` |"), std::string::npos) << s.key;
    }
}

}  // namespace
}  // namespace ib::config
