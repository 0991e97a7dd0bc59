#include "mqtt/broker/topic_tree.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mqtt/broker/topic_match.hpp"

namespace ib::mqtt::broker {
namespace {

Subscription sub(SubscriberId id, uint8_t qos = 0, uint32_t subscription_id = 0) {
    Subscription s;
    s.subscriber = id;
    s.options.qos = qos;
    s.options.subscription_id = subscription_id;
    return s;
}

// Subscriber ids visited for a topic, sorted (match order is unspecified).
std::vector<SubscriberId> matched(const TopicTree& tree, std::string_view topic) {
    std::vector<SubscriberId> out;
    tree.match(topic, [&](const Subscription& s) { out.push_back(s.subscriber); });
    std::ranges::sort(out);
    return out;
}

using Ids = std::vector<SubscriberId>;

TEST(TopicTree, SubscribeReturnsTrueWhenNewAndFalseWhenReplacing) {
    TopicTree tree;
    EXPECT_TRUE(tree.subscribe("a/b", sub(1, 0)));
    EXPECT_TRUE(tree.subscribe("a/b", sub(2, 1)));
    EXPECT_EQ(tree.size(), 2u);
    // [MQTT-3.8.4-3] the same filter from the same subscriber replaces its options.
    EXPECT_FALSE(tree.subscribe("a/b", sub(1, 2, 7)));
    EXPECT_EQ(tree.size(), 2u);
    const Subscription* s = tree.find("a/b", 1);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->options.qos, 2);
    EXPECT_EQ(s->options.subscription_id, 7u);
    EXPECT_EQ(matched(tree, "a/b"), (Ids{1, 2}));
}

TEST(TopicTree, ShareGroupIsPartOfTheFilterString) {
    TopicTree tree;
    EXPECT_TRUE(tree.subscribe("a/b", sub(1)));
    EXPECT_TRUE(tree.subscribe("$share/g/a/b", sub(1)));
    EXPECT_TRUE(tree.subscribe("$share/h/a/b", sub(1)));
    EXPECT_FALSE(tree.subscribe("$share/g/a/b", sub(1, 1)));
    EXPECT_EQ(tree.size(), 3u);
    EXPECT_EQ(tree.find("$share/g/a/b", 1)->options.qos, 1);
    EXPECT_EQ(tree.find("a/b", 1)->options.qos, 0);
    EXPECT_EQ(tree.find("$share/x/a/b", 1), nullptr);
    // One ordinary visit plus one per group: the broker merges.
    EXPECT_EQ(matched(tree, "a/b"), (Ids{1, 1, 1}));
}

TEST(TopicTree, UnsubscribeRemovesOnlyThatSubscription) {
    TopicTree tree;
    tree.subscribe("a/+", sub(1));
    tree.subscribe("a/+", sub(2));
    tree.subscribe("a/#", sub(1));
    EXPECT_TRUE(tree.unsubscribe("a/+", 1));
    EXPECT_FALSE(tree.unsubscribe("a/+", 1));
    EXPECT_FALSE(tree.unsubscribe("a/b", 1));
    EXPECT_FALSE(tree.unsubscribe("x/y/z", 1));
    EXPECT_FALSE(tree.unsubscribe("$share/g/a/+", 2));
    EXPECT_EQ(tree.size(), 2u);
    EXPECT_EQ(matched(tree, "a/x"), (Ids{1, 2}));
}

TEST(TopicTree, UnsubscribePrunesEmptyNodes) {
    TopicTree tree;
    tree.subscribe("a/b/c/d", sub(1));
    EXPECT_EQ(tree.node_count(), 4u);
    tree.subscribe("a/b", sub(2));
    tree.subscribe("a/+/#", sub(3));
    tree.subscribe("$share/g/a/b/c/d", sub(4));
    EXPECT_EQ(tree.node_count(), 6u);  // a, b, c, d, +, #

    EXPECT_TRUE(tree.unsubscribe("a/b/c/d", 1));
    EXPECT_EQ(tree.node_count(), 6u);  // the share group still lives on a/b/c/d
    EXPECT_TRUE(tree.unsubscribe("$share/g/a/b/c/d", 4));
    EXPECT_EQ(tree.node_count(), 4u);  // c and d go, b keeps subscriber 2
    EXPECT_TRUE(tree.unsubscribe("a/+/#", 3));
    EXPECT_EQ(tree.node_count(), 2u);
    EXPECT_TRUE(tree.unsubscribe("a/b", 2));
    EXPECT_EQ(tree.node_count(), 0u);
    EXPECT_TRUE(tree.empty());
    EXPECT_TRUE(matched(tree, "a/b").empty());
}

TEST(TopicTree, ManyChildrenSubscribedAndRemovedLeaveNothing) {
    TopicTree tree;
    for (SubscriberId i = 0; i < 5000; ++i) {
        tree.subscribe("dev/" + std::to_string(i) + "/+", sub(i));
    }
    EXPECT_EQ(tree.size(), 5000u);
    EXPECT_EQ(matched(tree, "dev/42/x"), (Ids{42}));
    for (SubscriberId i = 0; i < 5000; ++i) {
        EXPECT_TRUE(tree.unsubscribe("dev/" + std::to_string(i) + "/+", i));
    }
    EXPECT_EQ(tree.size(), 0u);
    EXPECT_EQ(tree.node_count(), 0u);
}

TEST(TopicTree, OverlappingFiltersVisitOncePerFilter) {
    TopicTree tree;
    tree.subscribe("sport/tennis/player1", sub(1));
    tree.subscribe("sport/tennis/+", sub(1));
    tree.subscribe("sport/#", sub(1));
    tree.subscribe("#", sub(1));
    tree.subscribe("+/+/+", sub(2));
    tree.subscribe("sport/tennis/player1/#", sub(3));
    tree.subscribe("sport/+/player2", sub(4));
    EXPECT_EQ(matched(tree, "sport/tennis/player1"), (Ids{1, 1, 1, 1, 2, 3}));
    EXPECT_EQ(matched(tree, "sport/tennis/player2"), (Ids{1, 1, 1, 2, 4}));
    EXPECT_EQ(matched(tree, "sport"), (Ids{1, 1}));  // "sport/#" matches its parent
    EXPECT_EQ(matched(tree, "sport/tennis/player1/ranking"), (Ids{1, 1, 3}));
    EXPECT_EQ(matched(tree, "other"), (Ids{1}));
}

TEST(TopicTree, SubscriptionOptionsReachTheVisitor) {
    TopicTree tree;
    tree.subscribe("a/+", sub(1, 1, 11));
    tree.subscribe("a/b", sub(1, 2, 12));
    std::set<uint32_t> ids;
    tree.match("a/b", [&](const Subscription& s) { ids.insert(s.options.subscription_id); });
    EXPECT_EQ(ids, (std::set<uint32_t>{11, 12}));
}

TEST(TopicTree, WildcardsAtTheStartDoNotMatchDollarTopics) {
    TopicTree tree;
    tree.subscribe("#", sub(1));
    tree.subscribe("+/monitor/Clients", sub(2));
    tree.subscribe("$SYS/#", sub(3));
    tree.subscribe("$SYS/monitor/+", sub(4));
    tree.subscribe("$share/g/#", sub(5));
    tree.subscribe("+", sub(6));
    // [MQTT-4.7.2-1]
    EXPECT_EQ(matched(tree, "$SYS/monitor/Clients"), (Ids{3, 4}));
    EXPECT_EQ(matched(tree, "$SYS"), (Ids{3}));
    EXPECT_EQ(matched(tree, "x/monitor/Clients"), (Ids{1, 2, 5}));
    EXPECT_EQ(matched(tree, "x"), (Ids{1, 5, 6}));
}

TEST(TopicTree, EmptyLevelsAreLevels) {
    TopicTree tree;
    tree.subscribe("/finance", sub(1));
    tree.subscribe("+/+", sub(2));
    tree.subscribe("/+", sub(3));
    tree.subscribe("+", sub(4));
    tree.subscribe("a//b", sub(5));
    tree.subscribe("a/+/b", sub(6));
    EXPECT_EQ(matched(tree, "/finance"), (Ids{1, 2, 3}));
    EXPECT_EQ(matched(tree, "finance"), (Ids{4}));
    EXPECT_EQ(matched(tree, "/"), (Ids{2, 3}));
    EXPECT_EQ(matched(tree, "a//b"), (Ids{5, 6}));
}

TEST(TopicTree, SharedGroupDeliversToOneMemberRoundRobin) {
    TopicTree tree;
    for (SubscriberId id : {10, 20, 30}) tree.subscribe("$share/workers/jobs/+", sub(id));
    std::map<SubscriberId, int> count;
    std::vector<SubscriberId> order;
    for (int i = 0; i < 30; ++i) {
        int visits = 0;
        tree.match("jobs/x", [&](const Subscription& s, std::string_view group) {
            EXPECT_EQ(group, "workers");
            ++count[s.subscriber];
            order.push_back(s.subscriber);
            ++visits;
        });
        EXPECT_EQ(visits, 1);
    }
    EXPECT_EQ(count, (std::map<SubscriberId, int>{{10, 10}, {20, 10}, {30, 10}}));
    // Strict rotation: no member twice in a row.
    for (std::size_t i = 1; i < order.size(); ++i) EXPECT_NE(order[i], order[i - 1]);
}

TEST(TopicTree, EachGroupAndEachOrdinarySubscriberGetsACopy) {
    TopicTree tree;
    tree.subscribe("$share/a/t", sub(1));
    tree.subscribe("$share/a/t", sub(2));
    tree.subscribe("$share/b/t", sub(3));
    tree.subscribe("$share/b/#", sub(4));  // another filter: another shared subscription
    tree.subscribe("t", sub(5));
    std::map<std::string, int> per_group;
    for (int i = 0; i < 10; ++i) {
        tree.match("t", [&](const Subscription& s, std::string_view group) {
            per_group[std::string(group) + ":" + std::to_string(s.subscriber)]++;
        });
    }
    EXPECT_EQ(per_group, (std::map<std::string, int>{
                             {"a:1", 5}, {"a:2", 5}, {"b:3", 10}, {"b:4", 10}, {":5", 10}}));
}

TEST(TopicTree, SharedGroupSkipsIneligibleMembersFairly) {
    TopicTree tree;
    for (SubscriberId id : {1, 2, 3, 4}) tree.subscribe("$share/g/t/#", sub(id));
    auto online = [](SubscriberId id) { return id != 2 && id != 3; };
    std::map<SubscriberId, int> count;
    for (int i = 0; i < 100; ++i) {
        tree.match("t/x", [&](const Subscription& s) { ++count[s.subscriber]; }, online);
    }
    // Offline members get nothing and the two online ones share evenly.
    EXPECT_EQ(count, (std::map<SubscriberId, int>{{1, 50}, {4, 50}}));
}

TEST(TopicTree, SharedGroupWithNoEligibleMemberStillDeliversToOne) {
    TopicTree tree;
    tree.subscribe("$share/g/t", sub(1));
    tree.subscribe("$share/g/t", sub(2));
    std::map<SubscriberId, int> count;
    for (int i = 0; i < 10; ++i) {
        tree.match("t", [&](const Subscription& s) { ++count[s.subscriber]; },
                   [](SubscriberId) { return false; });
    }
    EXPECT_EQ(count, (std::map<SubscriberId, int>{{1, 5}, {2, 5}}));
}

TEST(TopicTree, EligibilityDoesNotFilterOrdinarySubscriptions) {
    TopicTree tree;
    tree.subscribe("t", sub(1));
    int visits = 0;
    tree.match("t", [&](const Subscription&) { ++visits; }, [](SubscriberId) { return false; });
    EXPECT_EQ(visits, 1);
}

TEST(TopicTree, LeavingMemberIsNoLongerChosenAndEmptyGroupGoes) {
    TopicTree tree;
    tree.subscribe("$share/g/t", sub(1));
    tree.subscribe("$share/g/t", sub(2));
    EXPECT_TRUE(tree.unsubscribe("$share/g/t", 1));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(matched(tree, "t"), (Ids{2}));
    EXPECT_FALSE(tree.unsubscribe("$share/h/t", 2));
    EXPECT_TRUE(tree.unsubscribe("$share/g/t", 2));
    EXPECT_TRUE(matched(tree, "t").empty());
    EXPECT_EQ(tree.node_count(), 0u);
}

TEST(TopicTree, MalformedFilterUnsubscribesNothing) {
    TopicTree tree;
    tree.subscribe("a/#", sub(1));
    EXPECT_FALSE(tree.unsubscribe("a/#/b", 1));
    EXPECT_FALSE(tree.unsubscribe("$share//a/#", 1));
    EXPECT_FALSE(tree.unsubscribe("", 1));
    EXPECT_EQ(tree.find("a/#/b", 1), nullptr);
    EXPECT_EQ(tree.size(), 1u);
}

TEST(TopicTreeDeathTest, SubscribeWithMalformedFilterIsAProgrammingError) {
    TopicTree tree;
    EXPECT_DEATH(tree.subscribe("a/#/b", sub(1)), "validated by the session");
    EXPECT_DEATH(tree.subscribe("$share/g+/a", sub(1)), "validated by the session");
}

TEST(TopicTree, ConcurrentMatchesDeliverEveryMessageToExactlyOneMember) {
    TopicTree tree;
    for (SubscriberId id = 1; id <= 4; ++id) tree.subscribe("$share/g/t/+", sub(id));
    tree.subscribe("t/#", sub(99));
    constexpr int kThreads = 4, kPerThread = 20000;
    std::vector<std::map<SubscriberId, int>> counts(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                tree.match("t/x", [&](const Subscription& s) { ++counts[t][s.subscriber]; });
            }
        });
    }
    for (auto& th : threads) th.join();
    int shared_total = 0, ordinary_total = 0;
    for (const auto& c : counts) {
        for (const auto& [id, n] : c) (id == 99 ? ordinary_total : shared_total) += n;
    }
    EXPECT_EQ(shared_total, kThreads * kPerThread);
    EXPECT_EQ(ordinary_total, kThreads * kPerThread);
}

// The tree must agree with topic_matches() for every filter and topic; random
// ones from a small alphabet hit the corner cases ('$', empty levels, '#' at
// every depth) far more often than hand-written ones.
TEST(TopicTree, AgreesWithTopicMatchesOnRandomFiltersAndTopics) {
    std::mt19937 rng(12345);
    const std::vector<std::string> names = {"a", "b", "", "$s"};
    auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    auto random_topic = [&] {
        std::string t;
        const std::size_t depth = 1 + pick(4);
        for (std::size_t i = 0; i < depth; ++i) {
            if (i) t += '/';
            t += names[pick(names.size())];
        }
        return t;
    };
    auto random_filter = [&] {
        std::string f;
        const std::size_t depth = 1 + pick(4);
        for (std::size_t i = 0; i < depth; ++i) {
            if (i) f += '/';
            const std::size_t r = pick(names.size() + 2);
            if (r == names.size()) {
                f += '+';
            } else if (r == names.size() + 1) {
                f += '#';
                break;
            } else {
                f += names[r];
            }
        }
        return f;
    };

    TopicTree tree;
    std::vector<std::string> filters;
    for (SubscriberId id = 0; id < 300; ++id) {
        std::string f = random_filter();
        while (f.empty()) f = random_filter();  // [MQTT-4.7.3-1]
        ASSERT_TRUE(filter_wildcards_valid(f)) << f;
        tree.subscribe(f, sub(id));
        filters.push_back(std::move(f));
    }
    for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < 500; ++i) {
            const std::string topic = random_topic();
            Ids want;
            for (SubscriberId id = 0; id < filters.size(); ++id) {
                if (!filters[id].empty() && topic_matches(filters[id], topic)) want.push_back(id);
            }
            EXPECT_EQ(matched(tree, topic), want) << topic;
        }
        if (round == 1) break;
        // Second round: with half the subscriptions gone.
        for (SubscriberId id = 0; id < filters.size(); id += 2) {
            EXPECT_TRUE(tree.unsubscribe(filters[id], id));
            filters[id].clear();
        }
    }
}

}  // namespace
}  // namespace ib::mqtt::broker
