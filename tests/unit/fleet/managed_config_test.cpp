// A desired configuration through the config file's own loader: the managed
// parts read with the file's messages, any other table refused, a part present
// or absent told apart; the merge of a revision over the parts in force; the
// diff per kind; secrets masked.
#include <gtest/gtest.h>

#include "drivers/sim/sim_signal.hpp"
#include "fleet/managed_config.hpp"

namespace ib::fleet {
namespace {

constexpr const char* kDevice = R"(
[[devices]]
name = "press"
driver = "sim"
[[devices.groups]]
name = "fast"
tags = [{ name = "t", address = "counter", type = "uint32" }]
)";

std::expected<ManagedConfig, std::vector<std::string>> parse(std::string_view text) {
    return parse_managed(text, "revision 13", drivers::sim::check_tag_address);
}

TEST(ManagedConfig, ReadsThePartsGivenAndLeavesTheOthersUnset) {
    auto m = parse("rules = []\n" + std::string(kDevice) + "[[users]]\nname = \"ops\"\npassword_hash = \"$pbkdf2-sha512$1000$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA==\"\n");
    ASSERT_TRUE(m) << m.error().front();
    ASSERT_TRUE(m->devices);
    EXPECT_EQ(m->devices->at(0).name, "press");
    ASSERT_TRUE(m->rules);
    EXPECT_TRUE(m->rules->empty());
    ASSERT_TRUE(m->users);
    EXPECT_FALSE(m->bridges);
    EXPECT_FALSE(m->acl);
}

TEST(ManagedConfig, ABadRuleHasTheLoadersMessage) {
    auto m = parse("[[rules]]\nid = \"hot\"\nsql = \"SELECT nosuch(x) FROM \\\"a/b\\\"\"\n");
    ASSERT_FALSE(m);
    ASSERT_EQ(m.error().size(), 1u);
    EXPECT_EQ(m.error()[0].rfind("revision 13:3: rules[0]", 0), 0u) << m.error()[0];
}

TEST(ManagedConfig, ATableTheFleetDoesNotManageIsRefused) {
    auto m = parse("[broker]\nthreads = 2\n");
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error()[0], "revision 13:1: 'broker' is not managed by the fleet: a desired configuration holds only "
                            "devices, rules, bridges, users and acl");
}

TEST(ManagedConfig, ASyntaxErrorIsTheLoadersToo) {
    auto m = parse("[[devices]\n");
    ASSERT_FALSE(m);
    EXPECT_NE(m.error()[0].find("revision 13:1:"), std::string::npos) << m.error()[0];
    EXPECT_NE(m.error()[0].find("syntax error"), std::string::npos) << m.error()[0];
}

TEST(ManagedConfig, AMergeReplacesWholeKindsAndKeepsTheOthers) {
    auto merged = merge_managed("rules = []\n" + std::string(kDevice), "devices = []\n");
    ASSERT_TRUE(merged) << merged.error();
    auto m = parse(*merged);
    ASSERT_TRUE(m) << m.error().front();
    ASSERT_TRUE(m->devices);
    EXPECT_TRUE(m->devices->empty());
    ASSERT_TRUE(m->rules);
}

TEST(ManagedConfig, TheDiffNamesWhatIsAddedRemovedAndChangedPerKind) {
    auto from = parse("acl = []\n" + std::string(kDevice) + R"(
[[devices]]
name = "oven"
driver = "sim"
)");
    auto to = parse(std::string(kDevice) + R"(
[[devices]]
name = "oven"
driver = "sim"
enabled = false
[[devices]]
name = "kiln"
driver = "sim"
[[acl]]
permission = "allow"
all = true
topics = ["#"]
)");
    ASSERT_TRUE(from && to);
    ManagedConfig running = *from;
    running.rules.emplace();
    running.bridges.emplace();
    running.users.emplace();
    ManagedDiff d = diff_managed(running, *to);
    ASSERT_TRUE(d.devices);
    EXPECT_EQ(d.devices->added, std::vector<std::string>{"kiln"});
    EXPECT_EQ(d.devices->changed, std::vector<std::string>{"oven"});
    EXPECT_TRUE(d.devices->removed.empty());
    EXPECT_FALSE(d.rules);
    EXPECT_EQ(d.acl_changed, true);
    EXPECT_EQ(diff_json(d), R"({"devices":{"added":["kiln"],"removed":[],"changed":["oven"]},"acl":{"changed":true}})");
}

TEST(ManagedConfig, SecretsAreMasked) {
    std::string masked = mask_secrets("[[users]]\nname = \"ops\"\npassword_hash = \"secret\"\n[[bridges]]\npassword = \"pw\"\n");
    EXPECT_EQ(masked.find("secret"), std::string::npos) << masked;
    EXPECT_EQ(masked.find("'pw'"), std::string::npos) << masked;
    EXPECT_NE(masked.find("********"), std::string::npos) << masked;
}

}  // namespace
}  // namespace ib::fleet
