// The [fleet] table through the real loader: its keys checked with the file's
// messages, the prefix filled in, and a file without it leaves the fleet off.
#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "fleet/fleet_settings.hpp"

namespace ib::fleet {
namespace {

std::expected<FleetConfig, std::string> load(std::string_view toml) {
    FleetConfig fleet;
    const config::TableList lists[] = {fleet_table(fleet)};
    auto r = config::load_config_string(toml, "node.toml", lists);
    if (!r) return std::unexpected(r.error());
    return fleet;
}

TEST(FleetSettings, WithoutTheTableTheFleetIsOff) {
    auto f = load("data_dir = \"./x\"\n");
    ASSERT_TRUE(f) << f.error();
    EXPECT_FALSE(f->present);
    EXPECT_FALSE(f->active());
}

TEST(FleetSettings, ReadsEveryKeyAndFillsThePrefix) {
    auto f = load("[fleet]\nsite = \"lyon\"\nedge = \"press-7\"\nbridge = \"cloud\"\nprobe_window = 2\n"
                  "labels = [\"line=A\"]\nkeep_revisions = 5\n");
    ASSERT_TRUE(f) << f.error();
    EXPECT_TRUE(f->active());
    EXPECT_EQ(f->prefix_topic(), "ib/fleet/v1/lyon/press-7/");
    EXPECT_EQ(f->probe_window, std::chrono::seconds(2));
    EXPECT_EQ(f->keep_revisions, 5u);
    ASSERT_EQ(f->labels.size(), 1u);
    EXPECT_EQ(f->labels[0].first, "line");
    EXPECT_EQ(f->labels[0].second, "A");
}

TEST(FleetSettings, ProblemsNameTheLineAndTheKey) {
    auto f = load("[fleet]\nsite = \"ly on\"\nbridge = \"cloud\"\nprobe_window = 0\nlabels = [\"x\"]\n");
    ASSERT_FALSE(f);
    EXPECT_NE(f.error().find("node.toml:2: fleet.site: \"ly on\" is not a valid id"), std::string::npos) << f.error();
    EXPECT_NE(f.error().find("node.toml:4: fleet.probe_window: 0 is below the minimum 1"), std::string::npos) << f.error();
    EXPECT_NE(f.error().find("fleet.labels: \"x\": a label is written \"key=value\""), std::string::npos) << f.error();
    EXPECT_NE(f.error().find("fleet.edge: is required"), std::string::npos) << f.error();
}

}  // namespace
}  // namespace ib::fleet
