// The placement table: shards first, then service loops; every role on a
// service loop, never on a broker shard, however few loops there are.
#include <gtest/gtest.h>
#include <sched.h>

#include "app/placement.hpp"

namespace ib::app {
namespace {

constexpr Role kRoles[] = {Role::Devices, Role::Rules, Role::Bridges, Role::History, Role::Api};

TEST(Placement, TwoCoresGiveOneShardAndOneServiceLoopForEverything) {
    const Placement p = plan_placement(0, 0, 2);
    EXPECT_EQ(p.shards, 1u);
    EXPECT_EQ(p.service_loops, 1u);
    EXPECT_EQ(p.total(), 2u);
    for (Role r : kRoles) EXPECT_EQ(p.loop(r), 1u) << role_name(r);
    EXPECT_EQ(p.describe(), "loop 0: broker shard; loop 1: devices, rules, bridges, history, api");
}

TEST(Placement, FromThreeCoresOneShardPerCore) {
    EXPECT_EQ(plan_placement(0, 0, 1).shards, 1u);
    EXPECT_EQ(plan_placement(0, 0, 3).shards, 3u);
    EXPECT_EQ(plan_placement(0, 0, 8).shards, 8u);
}

TEST(Placement, MoreServiceLoopsSpreadTheConsumersOfReadings) {
    const Placement p = plan_placement(4, 4, 8);
    EXPECT_EQ(p.total(), 8u);
    EXPECT_EQ(p.loop(Role::Devices), 4u);
    EXPECT_EQ(p.loop(Role::Api), 4u);
    EXPECT_EQ(p.loop(Role::Rules), 5u);
    EXPECT_EQ(p.loop(Role::History), 6u);
    EXPECT_EQ(p.loop(Role::Bridges), 7u);
}

TEST(Placement, RolesNeverLandOnABrokerShard) {
    for (std::size_t cores : {1u, 2u, 3u, 4u, 6u, 8u, 16u, 64u}) {
        for (std::size_t service : {0u, 1u, 2u, 3u, 7u}) {
            const Placement p = plan_placement(0, service, cores);
            for (Role r : kRoles) {
                EXPECT_GE(p.loop(r), p.shards) << role_name(r) << " cores " << cores << " service " << service;
                EXPECT_LT(p.loop(r), p.total()) << role_name(r) << " cores " << cores << " service " << service;
            }
        }
    }
}

TEST(Placement, ACgroupCpuMaxBuysItsQuotaInCoresRoundedUp) {
    EXPECT_EQ(cores_of_cpu_max("max 100000\n"), 0u);
    EXPECT_EQ(cores_of_cpu_max("100000 100000\n"), 1u);
    EXPECT_EQ(cores_of_cpu_max("150000 100000\n"), 2u);
    EXPECT_EQ(cores_of_cpu_max("50000 100000"), 1u);
    EXPECT_EQ(cores_of_cpu_max("400000 100000\n"), 4u);
    EXPECT_EQ(cores_of_cpu_max(""), 0u);
    EXPECT_EQ(cores_of_cpu_max("100000"), 0u);
    EXPECT_EQ(cores_of_cpu_max("lots 100000"), 0u);
    EXPECT_EQ(cores_of_cpu_max("100000 0"), 0u);
}

TEST(Placement, UsableCoresAreThoseOfTheAffinityMaskAtMost) {
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    const std::size_t cores = usable_cores();
    EXPECT_GE(cores, 1u);
    EXPECT_LE(cores, static_cast<std::size_t>(CPU_COUNT(&set)));
}

TEST(Placement, ConfiguredCountsWinOverTheCoreCount) {
    const Placement p = plan_placement(3, 2, 16);
    EXPECT_EQ(p.shards, 3u);
    EXPECT_EQ(p.service_loops, 2u);
    EXPECT_EQ(p.describe(), "loops 0-2: broker shards; loop 3: devices, api; loop 4: rules, bridges, history");
}

}  // namespace
}  // namespace ib::app
