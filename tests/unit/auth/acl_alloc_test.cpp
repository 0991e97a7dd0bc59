// The publish hot path: checking a topic against compiled rules allocates
// nothing. This executable counts every global allocation to prove it.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "auth/acl.hpp"

// GCC 12 flags free() in a replaced operator delete (and at every inlined use
// in this file) as mismatched; it is not: the operator new below uses malloc().
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace ib::auth {
namespace {

TEST(AclHotPath, PublishAndSubscribeChecksAllocateNothing) {
    std::vector<AclRuleConfig> rules;
    AclRuleConfig admin;
    admin.username = "admin";
    admin.topics = {"#"};
    rules.push_back(admin);
    AclRuleConfig deny;
    deny.permission = AclPermission::Deny;
    deny.all = true;
    deny.action = AclAction::Publish;
    deny.topics = {"tenant/+/readonly", "cmd/#"};
    rules.push_back(deny);
    AclRuleConfig own;
    own.all = true;
    own.topics = {"tenant/%u/#", "dev/%c/+/status"};
    rules.push_back(own);
    ClientAcl acl(rules, false, ClientIdentity{"alice", "sensor-17", "10.1.2.3"}, 1);

    const uint64_t before = g_allocations.load();
    int allowed = 0;
    for (int i = 0; i < 1000; ++i) {
        allowed += acl.may_publish("tenant/alice/line1/temperature");
        allowed += acl.may_publish("tenant/bob/line1/temperature");
        allowed += acl.may_publish("dev/sensor-17/a/status");
        allowed += acl.may_subscribe("tenant/alice/+/temperature");
    }
    EXPECT_EQ(g_allocations.load() - before, 0u);
    EXPECT_EQ(allowed, 3000);
}

}  // namespace
}  // namespace ib::auth
