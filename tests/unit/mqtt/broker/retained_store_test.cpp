#include "mqtt/broker/retained_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace ib::mqtt::broker {
namespace {

using namespace std::chrono_literals;

const Clock::time_point kT0 = Clock::time_point{} + 1000h;

MessageRef msg(std::string_view topic, std::string_view payload,
               std::optional<uint32_t> expiry_s = std::nullopt, Clock::time_point now = kT0) {
    MessageInit init;
    init.topic = topic;
    init.payload = as_bytes(payload);
    init.retain = true;
    init.message_expiry_interval = expiry_s;
    return Message::make(init, now);
}

// "topic=payload" of every message visited, sorted (order is unspecified).
std::vector<std::string> matched(RetainedStore& store, std::string_view filter,
                                 Clock::time_point now = kT0) {
    std::vector<std::string> out;
    store.match(filter, now, [&](const MessageRef& m) {
        out.push_back(std::string(m->topic()) + "=" + std::string(as_string_view(m->payload())));
    });
    std::ranges::sort(out);
    return out;
}

using Strings = std::vector<std::string>;

TEST(RetainedStore, SetStoresAndReplaces) {
    RetainedStore store;
    store.set(msg("a/b", "1"));
    store.set(msg("a/c", "22"));
    EXPECT_EQ(store.size(), 2u);
    EXPECT_EQ(store.bytes(), 3u + 1 + 3 + 2);
    // [MQTT-3.3.1-5] a new retained message replaces the old one.
    store.set(msg("a/b", "333"));
    EXPECT_EQ(store.size(), 2u);
    EXPECT_EQ(store.bytes(), 3u + 3 + 3 + 2);
    EXPECT_EQ(matched(store, "a/b"), (Strings{"a/b=333"}));
    EXPECT_EQ(as_string_view(store.get("a/b")->payload()), "333");
    EXPECT_FALSE(store.get("a"));
    EXPECT_FALSE(store.get("a/b/c"));
}

TEST(RetainedStore, EmptyPayloadClearsAndIsNotStored) {
    RetainedStore store;
    store.set(msg("a/b", "1"));
    store.set(msg("a/b/c", "2"));
    // [MQTT-3.3.1-6] removes the retained message; [MQTT-3.3.1-7] is not stored.
    store.set(msg("a/b", ""));
    EXPECT_EQ(store.size(), 1u);
    EXPECT_EQ(store.bytes(), 5u + 1);
    EXPECT_EQ(matched(store, "#"), (Strings{"a/b/c=2"}));
    store.set(msg("x/y", ""));  // nothing to clear: still nothing stored
    EXPECT_EQ(store.size(), 1u);
    EXPECT_TRUE(matched(store, "x/#").empty());
}

TEST(RetainedStore, ClearRemovesOnlyThatTopic) {
    RetainedStore store;
    store.set(msg("a", "1"));
    store.set(msg("a/b", "2"));
    store.clear("a/b/c");  // no such message
    store.clear("a/x");
    EXPECT_EQ(store.size(), 2u);
    store.clear("a");
    EXPECT_EQ(matched(store, "#"), (Strings{"a/b=2"}));
    store.clear("a/b");
    EXPECT_EQ(store.size(), 0u);
    EXPECT_EQ(store.bytes(), 0u);
    EXPECT_TRUE(matched(store, "#").empty());
}

class RetainedStoreMatch : public ::testing::Test {
protected:
    void SetUp() override {
        for (auto t : {"sport", "sport/tennis/player1", "sport/tennis/player1/ranking",
                       "sport/tennis/player2", "sport/golf/player1", "/finance", "finance",
                       "$SYS/monitor/Clients", "$SYS", "a//b", "a/b/"}) {
            store_.set(msg(t, "x"));
        }
    }
    Strings with_payload(std::initializer_list<const char*> topics) {
        Strings out;
        for (auto t : topics) out.push_back(std::string(t) + "=x");
        std::ranges::sort(out);
        return out;
    }
    RetainedStore store_;
};

TEST_F(RetainedStoreMatch, ExactFilter) {
    EXPECT_EQ(matched(store_, "sport/tennis/player1"), with_payload({"sport/tennis/player1"}));
    EXPECT_EQ(matched(store_, "sport/tennis"), Strings{});
    EXPECT_EQ(matched(store_, "/finance"), with_payload({"/finance"}));
    EXPECT_EQ(matched(store_, "a//b"), with_payload({"a//b"}));
    EXPECT_EQ(matched(store_, "a/b"), Strings{});
}

TEST_F(RetainedStoreMatch, SingleLevelWildcard) {
    EXPECT_EQ(matched(store_, "sport/+/player1"),
              with_payload({"sport/tennis/player1", "sport/golf/player1"}));
    EXPECT_EQ(matched(store_, "sport/tennis/+"),
              with_payload({"sport/tennis/player1", "sport/tennis/player2"}));
    EXPECT_EQ(matched(store_, "+"), with_payload({"sport", "finance"}));
    EXPECT_EQ(matched(store_, "/+"), with_payload({"/finance"}));
    EXPECT_EQ(matched(store_, "+/+"), with_payload({"/finance"}));
    EXPECT_EQ(matched(store_, "a/+/b"), with_payload({"a//b"}));
    EXPECT_EQ(matched(store_, "a/b/+"), with_payload({"a/b/"}));
}

TEST_F(RetainedStoreMatch, MultiLevelWildcardIncludesParent) {
    EXPECT_EQ(matched(store_, "sport/tennis/player1/#"),
              with_payload({"sport/tennis/player1", "sport/tennis/player1/ranking"}));
    EXPECT_EQ(matched(store_, "sport/#"),
              with_payload({"sport", "sport/tennis/player1", "sport/tennis/player1/ranking",
                            "sport/tennis/player2", "sport/golf/player1"}));
    EXPECT_EQ(matched(store_, "+/tennis/#"),
              with_payload({"sport/tennis/player1", "sport/tennis/player1/ranking",
                            "sport/tennis/player2"}));
}

TEST_F(RetainedStoreMatch, DollarTopicsOnlyForFiltersNotStartingWithAWildcard) {
    // [MQTT-4.7.2-1]
    const Strings all = matched(store_, "#");
    EXPECT_EQ(all.size(), 9u);
    for (const auto& s : all) EXPECT_NE(s.front(), '$') << s;
    EXPECT_EQ(matched(store_, "+/monitor/Clients"), Strings{});
    EXPECT_EQ(matched(store_, "$SYS/#"), with_payload({"$SYS", "$SYS/monitor/Clients"}));
    EXPECT_EQ(matched(store_, "$SYS/+/Clients"), with_payload({"$SYS/monitor/Clients"}));
}

TEST(RetainedStore, ExpiredMessagesAreSkippedAndRemoved) {
    RetainedStore store;
    store.set(msg("a/1", "x", 10));
    store.set(msg("a/2", "y", 100));
    store.set(msg("a/3", "z"));
    EXPECT_EQ(matched(store, "a/+", kT0 + 5s), (Strings{"a/1=x", "a/2=y", "a/3=z"}));
    // §3.3.2.3.3: once the interval has passed the message is not delivered.
    EXPECT_EQ(matched(store, "a/+", kT0 + 10s), (Strings{"a/2=y", "a/3=z"}));
    EXPECT_EQ(store.size(), 2u);
    EXPECT_EQ(store.bytes(), 2 * (3u + 1));
    EXPECT_EQ(matched(store, "a/#", kT0 + 200s), (Strings{"a/3=z"}));
    EXPECT_EQ(matched(store, "a/3", kT0 + 1000h), (Strings{"a/3=z"}));
    EXPECT_EQ(store.size(), 1u);
}

TEST(RetainedStore, ExactMatchRemovesExpiredMessage) {
    RetainedStore store;
    store.set(msg("a/b/c", "x", 1));
    EXPECT_TRUE(matched(store, "a/b/c", kT0 + 2s).empty());
    EXPECT_EQ(store.size(), 0u);
    EXPECT_FALSE(store.get("a/b/c"));
}

TEST(RetainedStore, RemoveExpiredSweepsEverything) {
    RetainedStore store;
    for (int i = 0; i < 100; ++i) {
        store.set(msg("d/" + std::to_string(i) + "/s", "p", i % 2 ? std::optional<uint32_t>(5) : std::nullopt));
    }
    EXPECT_EQ(store.remove_expired(kT0 + 1s), 0u);
    EXPECT_EQ(store.remove_expired(kT0 + 6s), 50u);
    EXPECT_EQ(store.size(), 50u);
    std::size_t seen = 0;
    store.for_each([&](const MessageRef& m) {
        ++seen;
        EXPECT_FALSE(m->expired(kT0 + 6s));
    });
    EXPECT_EQ(seen, 50u);
}

TEST(RetainedStore, ForEachVisitsEveryMessageIncludingDollarTopics) {
    RetainedStore store;
    store.set(msg("$SYS/x", "1"));
    store.set(msg("a", "2"));
    store.set(msg("a/b", "3"));
    Strings seen;
    store.for_each([&](const MessageRef& m) { seen.emplace_back(m->topic()); });
    std::ranges::sort(seen);
    EXPECT_EQ(seen, (Strings{"$SYS/x", "a", "a/b"}));
}

TEST(RetainedStore, KeepsTheMessageAliveAfterTheCallerDropsIt) {
    RetainedStore store;
    {
        MessageRef m = msg("a", "payload");
        store.set(m);
    }
    EXPECT_EQ(matched(store, "a"), (Strings{"a=payload"}));
}

// The tree walk must agree with topic_matches() over every stored topic.
TEST(RetainedStore, AgreesWithTopicMatchesOnRandomFiltersAndTopics) {
    std::mt19937 rng(777);
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
    RetainedStore store;
    std::vector<std::string> topics;
    for (int i = 0; i < 200; ++i) {
        std::string t = random_topic();
        if (t.empty() || std::ranges::find(topics, t) != topics.end()) continue;
        store.set(msg(t, "x"));
        topics.push_back(std::move(t));
    }
    for (int i = 0; i < 500; ++i) {
        std::string f;
        const std::size_t depth = 1 + pick(4);
        for (std::size_t l = 0; l < depth; ++l) {
            if (l) f += '/';
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
        if (f.empty()) continue;
        Strings want;
        for (const auto& t : topics) {
            if (topic_matches(f, t)) want.push_back(t + "=x");
        }
        std::ranges::sort(want);
        EXPECT_EQ(matched(store, f), want) << f;
    }
}

}  // namespace
}  // namespace ib::mqtt::broker
