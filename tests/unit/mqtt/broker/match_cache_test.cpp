#include "mqtt/broker/match_cache.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "mqtt/broker/topic_tree.hpp"

namespace ib::mqtt::broker {
namespace {

Subscription sub(SubscriberId id, uint8_t qos = 0) {
    Subscription s;
    s.subscriber = id;
    s.options.qos = qos;
    return s;
}

using Ids = std::vector<SubscriberId>;

// What the shard's route() does: the cached list when there is one for the
// tree's generation, else a walk of the tree whose result is stored unless it
// reached a shared subscription.
Ids route(const TopicTree& tree, MatchCache& cache, std::string_view topic, bool* hit = nullptr) {
    if (auto cached = cache.find(topic, tree.generation())) {
        if (hit) *hit = true;
        Ids ids;
        for (const auto& s : *cached) ids.push_back(s.subscriber);
        return ids;
    }
    if (hit) *hit = false;
    std::vector<Subscription> found;
    bool shared = false;
    tree.match(topic, [&](const Subscription& s, std::string_view group) {
        shared = shared || !group.empty();
        found.push_back(s);
    });
    std::ranges::sort(found, {}, &Subscription::subscriber);
    if (!shared) cache.store(topic, tree.generation(), found);
    Ids ids;
    for (const auto& s : found) ids.push_back(s.subscriber);
    return ids;
}

TEST(MatchCache, HitsForTheSameTopicWhileTheTreeIsUnchanged) {
    TopicTree tree;
    MatchCache cache;
    tree.subscribe("a/+", sub(1));
    bool hit = true;
    EXPECT_EQ(route(tree, cache, "a/b", &hit), (Ids{1}));
    EXPECT_FALSE(hit);
    EXPECT_EQ(route(tree, cache, "a/b", &hit), (Ids{1}));
    EXPECT_TRUE(hit);
    // Another topic is another key, even in the same slot.
    EXPECT_EQ(route(tree, cache, "a/c/d", &hit), Ids{});
    EXPECT_FALSE(hit);
}

TEST(MatchCache, ASubscribeAfterTheMatchIsSeenAtTheNextPublish) {
    TopicTree tree;
    MatchCache cache;
    tree.subscribe("a/b", sub(1));
    EXPECT_EQ(route(tree, cache, "a/b"), (Ids{1}));
    EXPECT_EQ(route(tree, cache, "a/b"), (Ids{1}));
    tree.subscribe("a/#", sub(2));
    EXPECT_EQ(route(tree, cache, "a/b"), (Ids{1, 2}));
    // A topic nobody matched before is cached as "no one", and a later
    // subscription to it is seen too.
    EXPECT_EQ(route(tree, cache, "x"), Ids{});
    tree.subscribe("x", sub(3));
    EXPECT_EQ(route(tree, cache, "x"), (Ids{3}));
}

TEST(MatchCache, AnUnsubscribeAfterTheMatchIsSeenAtTheNextPublish) {
    TopicTree tree;
    MatchCache cache;
    tree.subscribe("a/b", sub(1));
    tree.subscribe("a/+", sub(2));
    EXPECT_EQ(route(tree, cache, "a/b"), (Ids{1, 2}));
    EXPECT_EQ(route(tree, cache, "a/b"), (Ids{1, 2}));
    EXPECT_TRUE(tree.unsubscribe("a/+", 2));
    EXPECT_EQ(route(tree, cache, "a/b"), (Ids{1}));
    EXPECT_TRUE(tree.unsubscribe("a/b", 1));
    EXPECT_EQ(route(tree, cache, "a/b"), Ids{});
}

TEST(MatchCache, NewOptionsOnTheSameFilterAreSeen) {
    TopicTree tree;
    MatchCache cache;
    tree.subscribe("a/b", sub(1, 0));
    ASSERT_EQ(route(tree, cache, "a/b"), (Ids{1}));
    // [MQTT-3.8.4-3] a SUBSCRIBE on the same filter replaces the options: the
    // cached QoS must not outlive it.
    EXPECT_FALSE(tree.subscribe("a/b", sub(1, 1)));
    auto cached = cache.find("a/b", tree.generation());
    EXPECT_FALSE(cached.has_value());
}

TEST(MatchCache, SharedSubscriptionsAreNeverServedFromTheCache) {
    TopicTree tree;
    MatchCache cache;
    tree.subscribe("$share/g/a/b", sub(1));
    tree.subscribe("$share/g/a/b", sub(2));
    bool hit = true;
    Ids seen;
    for (int i = 0; i < 4; ++i) {
        const Ids ids = route(tree, cache, "a/b", &hit);
        EXPECT_FALSE(hit);
        ASSERT_EQ(ids.size(), 1u);
        seen.push_back(ids[0]);
    }
    // Round-robin between the two members, which a cached answer would freeze.
    EXPECT_NE(std::ranges::count(seen, 1), 0);
    EXPECT_NE(std::ranges::count(seen, 2), 0);
}

TEST(MatchCache, LongTopicsAndLongListsAreNotStored) {
    TopicTree tree;
    MatchCache cache;
    const std::string long_topic(MatchCache::kMaxTopic + 1, 'x');
    tree.subscribe("#", sub(1));
    bool hit = true;
    route(tree, cache, long_topic, &hit);
    route(tree, cache, long_topic, &hit);
    EXPECT_FALSE(hit);
    for (SubscriberId id = 2; id <= MatchCache::kMaxMatches + 1; ++id) tree.subscribe("many", sub(id));
    EXPECT_EQ(route(tree, cache, "many", &hit).size(), MatchCache::kMaxMatches + 1);
    EXPECT_EQ(route(tree, cache, "many", &hit).size(), MatchCache::kMaxMatches + 1);
    EXPECT_FALSE(hit);
}

}  // namespace
}  // namespace ib::mqtt::broker
