// The ACL as data: rules, then (who, action, topic or filter, expected) rows.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/acl.hpp"

namespace ib::auth {
namespace {

AclRuleConfig rule(AclPermission p, AclAction a, std::vector<std::string> topics) {
    AclRuleConfig r;
    r.permission = p;
    r.action = a;
    r.topics = std::move(topics);
    r.all = true;
    return r;
}
AclRuleConfig for_user(std::string user, AclPermission p, AclAction a, std::vector<std::string> topics) {
    AclRuleConfig r = rule(p, a, std::move(topics));
    r.all = false;
    r.username = std::move(user);
    return r;
}
AclRuleConfig for_client(std::string id, AclPermission p, AclAction a, std::vector<std::string> topics) {
    AclRuleConfig r = rule(p, a, std::move(topics));
    r.all = false;
    r.clientid = std::move(id);
    return r;
}
AclRuleConfig for_address(std::string addr, AclPermission p, AclAction a, std::vector<std::string> topics) {
    AclRuleConfig r = rule(p, a, std::move(topics));
    r.all = false;
    r.address = std::move(addr);
    return r;
}

constexpr auto Allow = AclPermission::Allow;
constexpr auto Deny = AclPermission::Deny;
constexpr auto Pub = AclAction::Publish;
constexpr auto Sub = AclAction::Subscribe;
constexpr auto Both = AclAction::All;

struct Row {
    const char* user;
    const char* client;
    const char* address;
    char action;  // 'p' publish, 's' subscribe
    const char* topic;
    bool allowed;
};

void run_table(const std::vector<AclRuleConfig>& rules, bool default_allow, const std::vector<Row>& rows) {
    for (const auto& r : rules) ASSERT_EQ(check_acl_rule(r), "");
    for (const Row& row : rows) {
        ClientAcl acl(rules, default_allow, ClientIdentity{row.user, row.client, row.address}, 1);
        bool got = row.action == 'p' ? acl.may_publish(row.topic) : acl.may_subscribe(row.topic);
        EXPECT_EQ(got, row.allowed) << "user '" << row.user << "' client '" << row.client << "' from "
                                    << row.address << " " << (row.action == 'p' ? "publish " : "subscribe ")
                                    << row.topic;
    }
}

TEST(AclTopics, MatchContainAndOverlap) {
    struct T {
        const char* a;
        const char* b;
        bool matches, contains, overlaps;  // a matches topic b; a contains b; a overlaps b
    };
    const T table[] = {
        {"#", "a/b", true, true, true},
        {"a/#", "a", true, true, true},
        {"a/+", "a/b", true, true, true},
        {"a/+", "a/b/c", false, false, false},
        {"a/b", "a/b", true, true, true},
        {"#", "$SYS/x", false, false, false},
        {"+/x", "$SYS/x", false, false, false},
        {"$SYS/#", "$SYS/x", true, true, true},
    };
    for (const T& t : table) {
        EXPECT_EQ(acl_topic_matches(t.a, t.b), t.matches) << t.a << " / " << t.b;
        EXPECT_EQ(acl_filter_contains(t.a, t.b), t.contains) << t.a << " contains " << t.b;
        EXPECT_EQ(acl_filters_overlap(t.a, t.b), t.overlaps) << t.a << " overlaps " << t.b;
    }
    // Filters against filters.
    EXPECT_TRUE(acl_filter_contains("a/#", "a/+/c"));
    EXPECT_TRUE(acl_filter_contains("a/+/#", "a/b/#"));
    EXPECT_FALSE(acl_filter_contains("a/+", "a/#"));
    EXPECT_FALSE(acl_filter_contains("a/b/#", "a/#"));
    EXPECT_FALSE(acl_filter_contains("a/b", "a/+"));
    EXPECT_FALSE(acl_filter_contains("tenant/alice/#", "#"));
    EXPECT_FALSE(acl_filter_contains("tenant/alice/#", "tenant/+/x"));
    EXPECT_TRUE(acl_filter_contains("#", "+/x"));
    EXPECT_FALSE(acl_filter_contains("a", "a/#"));
    EXPECT_TRUE(acl_filters_overlap("a/+", "+/b"));
    EXPECT_TRUE(acl_filters_overlap("a", "a/#"));
    EXPECT_FALSE(acl_filters_overlap("a", "a/+"));
    EXPECT_TRUE(acl_filters_overlap("#", "tenant/bob/x"));
    EXPECT_FALSE(acl_filters_overlap("a/b", "a/c"));
    EXPECT_FALSE(acl_filters_overlap("#", "$SYS/#"));
}

TEST(Acl, TenantsAreIsolatedEvenThroughWildcards) {
    const std::vector<AclRuleConfig> rules = {
        rule(Allow, Both, {"tenant/%u/#"}),
    };
    run_table(rules, /*default_allow=*/false,
              {
                  {"alice", "c1", "10.0.0.1", 'p', "tenant/alice/temp", true},
                  {"alice", "c1", "10.0.0.1", 'p', "tenant/bob/temp", false},
                  {"alice", "c1", "10.0.0.1", 's', "tenant/alice/#", true},
                  {"alice", "c1", "10.0.0.1", 's', "tenant/alice/+/x", true},
                  {"alice", "c1", "10.0.0.1", 's', "#", false},
                  {"alice", "c1", "10.0.0.1", 's', "tenant/#", false},
                  {"alice", "c1", "10.0.0.1", 's', "tenant/+/temp", false},
                  {"alice", "c1", "10.0.0.1", 's', "+/alice/temp", false},
                  {"bob", "c2", "10.0.0.2", 's', "tenant/bob/#", true},
                  {"bob", "c2", "10.0.0.2", 's', "tenant/alice/#", false},
                  // Anonymous: %u has no value, so the allow rule matches nothing.
                  {"", "c3", "10.0.0.3", 's', "tenant/#", false},
                  {"", "c3", "10.0.0.3", 'p', "tenant//x", false},
                  // A user name that would widen the filter is never substituted.
                  {"+", "c4", "10.0.0.4", 'p', "tenant/bob/x", false},
                  {"#", "c4", "10.0.0.4", 's', "tenant/bob/#", false},
                  {"a/b", "c4", "10.0.0.4", 'p', "tenant/a/b/x", false},
              });
}

TEST(Acl, DenyWithAnUnusablePlaceholderDeniesEverything) {
    const std::vector<AclRuleConfig> rules = {
        rule(Deny, Both, {"private/%c/#"}),
        rule(Allow, Both, {"#"}),
    };
    run_table(rules, false,
              {
                  {"u", "dev1", "::1", 'p', "private/dev1/x", false},
                  {"u", "dev1", "::1", 'p', "private/dev2/x", true},
                  {"u", "dev1", "::1", 's', "private/+/x", false},  // overlaps the deny
                  {"u", "a/b", "::1", 'p', "public/x", false},      // fails closed
              });
}

TEST(Acl, FirstMatchWinsAcrossWhoAndAction) {
    const std::vector<AclRuleConfig> rules = {
        for_user("admin", Allow, Both, {"#"}),
        for_client("sensor-1", Deny, Pub, {"cmd/#"}),
        for_address("192.168.1.0/24", Deny, Pub, {"plant/+/setpoint"}),
        rule(Allow, Pub, {"plant/#", "devices/%c/status"}),
        rule(Allow, Sub, {"plant/#"}),
        rule(Deny, Sub, {"plant/secret/#"}),  // too late: the allow above already contains plant/secret/#
    };
    run_table(rules, false,
              {
                  {"admin", "x", "192.168.1.7", 'p', "plant/a/setpoint", true},
                  {"admin", "x", "192.168.1.7", 's', "#", true},
                  {"op", "x", "192.168.1.7", 'p', "plant/a/setpoint", false},
                  {"op", "x", "192.168.2.7", 'p', "plant/a/setpoint", true},
                  {"op", "x", "::ffff:192.168.1.9", 'p', "plant/a/setpoint", false},
                  {"op", "x", "10.0.0.1", 'p', "plant/a/temp", true},
                  {"op", "dev9", "10.0.0.1", 'p', "devices/dev9/status", true},
                  {"op", "dev9", "10.0.0.1", 'p', "devices/dev8/status", false},
                  {"op", "x", "10.0.0.1", 's', "plant/+/temp", true},
                  {"op", "x", "10.0.0.1", 's', "plant/secret/#", true},
                  {"op", "x", "10.0.0.1", 'p', "other", false},  // default
                  {"op", "x", "10.0.0.1", 's', "devices/#", false},
              });
}

TEST(Acl, DenyOverlapDecidesASubscriptionAndDefaultAllowRespectsIt) {
    const std::vector<AclRuleConfig> rules = {
        for_user("alice", Deny, Sub, {"plant/secret/#"}),
    };
    run_table(rules, true,
              {
                  {"alice", "c", "::1", 's', "#", false},  // would include plant/secret/...
                  {"alice", "c", "::1", 's', "plant/+/x", false},
                  {"alice", "c", "::1", 's', "plant/public/#", true},
                  {"alice", "c", "::1", 'p', "plant/secret/x", true},  // the rule is for subscribe only
                  {"bob", "c", "::1", 's', "#", true},
              });
}

TEST(Acl, ClientIdAndIpv6Networks) {
    const std::vector<AclRuleConfig> rules = {
        for_client("gateway-1", Allow, Both, {"gw/#"}),
        for_address("fd00::/8", Allow, Sub, {"lab/#"}),
        for_address("127.0.0.1", Allow, Pub, {"local/#"}),
    };
    run_table(rules, false,
              {
                  {"", "gateway-1", "10.1.1.1", 'p', "gw/x", true},
                  {"", "gateway-2", "10.1.1.1", 'p', "gw/x", false},
                  {"", "c", "fd12::1", 's', "lab/+", true},
                  {"", "c", "fe80::1", 's', "lab/+", false},
                  {"", "c", "127.0.0.1", 'p', "local/a", true},
                  {"", "c", "127.0.0.2", 'p', "local/a", false},
              });
}

TEST(Acl, RuleChecks) {
    AclRuleConfig r = rule(Allow, Both, {"a/#"});
    EXPECT_EQ(check_acl_rule(r), "");
    r.username = "x";
    EXPECT_NE(check_acl_rule(r), "");  // all together with a who
    r.all = false;
    EXPECT_EQ(check_acl_rule(r), "");
    r.topics = {"a/#/b"};
    EXPECT_NE(check_acl_rule(r), "");
    r.topics = {"a/%x"};
    EXPECT_NE(check_acl_rule(r), "");
    r.topics = {};
    EXPECT_NE(check_acl_rule(r), "");
    r.topics = {"t/%u/%c/+"};
    EXPECT_EQ(check_acl_rule(r), "");
    r.address = "10.0.0.0/33";
    EXPECT_NE(check_acl_rule(r), "");
    r.address = "not-an-ip";
    EXPECT_NE(check_acl_rule(r), "");
    AclRuleConfig nobody = rule(Allow, Both, {"a"});
    nobody.all = false;
    EXPECT_NE(check_acl_rule(nobody), "");
}

}  // namespace
}  // namespace ib::auth
