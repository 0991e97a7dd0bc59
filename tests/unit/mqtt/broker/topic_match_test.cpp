#include "mqtt/broker/topic_match.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ib::mqtt::broker {
namespace {

struct MatchCase {
    std::string_view filter;
    std::string_view topic;
    bool matches;
};

// The examples of §4.7.1 and §4.7.2 first, then edge cases around empty levels.
constexpr MatchCase kMatchCases[] = {
    // §4.7.1.2 multi-level wildcard
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/tennis/player1/#", "sport/tennis", false},
    {"sport/#", "sport", true},
    {"sport/#", "sport/", true},
    {"sport/#", "sports", false},
    {"#", "sport", true},
    {"#", "sport/tennis/player1", true},
    {"#", "/", true},
    {"#", "/finance", true},
    // §4.7.1.3 single-level wildcard
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+", "finance", true},
    {"+", "/finance", false},
    {"+", "", true},
    {"/+", "/finance", true},
    {"+/+", "/finance", true},
    {"+/+", "finance", false},
    {"+/tennis/#", "sport/tennis/player1", true},
    {"+/tennis/#", "sport/tennis", true},
    {"+/#", "sport", true},
    {"sport/+/player1", "sport/tennis/player1", true},
    {"sport/+/player1", "sport//player1", true},
    {"sport/+/+", "sport/tennis", false},
    // §4.7.2 topics beginning with '$' [MQTT-4.7.2-1]
    {"#", "$SYS/broker/uptime", false},
    {"#", "$SYS", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"$SYS/#", "$SYS/monitor/Clients", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"+", "$SYS", false},
    {"+/+", "a/$b", true},  // only the first character of the topic counts
    {"a/#", "a/$b", true},
    // literal levels, case, empty levels
    {"/finance", "/finance", true},
    {"/finance", "finance", false},
    {"finance", "/finance", false},
    {"a//b", "a//b", true},
    {"a//b", "a/b", false},
    {"a/b/", "a/b/", true},
    {"a/b/", "a/b", false},
    {"a/b", "a/b/", false},
    {"Sport", "sport", false},
    {"sport/tennis", "sport/tennis/player1", false},
    {"sport/tennis/player1", "sport/tennis", false},
    {"$share", "$share", true},
};

TEST(TopicMatches, FollowsSection47Table) {
    for (const auto& c : kMatchCases) {
        EXPECT_EQ(topic_matches(c.filter, c.topic), c.matches)
            << "filter '" << c.filter << "' topic '" << c.topic << "'";
    }
}

TEST(TopicMatches, LiteralFilterMatchesOnlyItself) {
    for (const auto& c : kMatchCases) {
        if (c.topic.empty()) continue;
        EXPECT_TRUE(topic_matches(c.topic, c.topic)) << c.topic;
    }
}

TEST(FilterWildcardsValid, AcceptsWellPlacedWildcards) {
    for (std::string_view f : {"#", "+", "/", "a", "a/#", "+/+", "/+", "+/tennis/#", "sport/+/player1",
                               "a//b", "$SYS/#", "a/b/", "//", "+/#"}) {
        EXPECT_TRUE(filter_wildcards_valid(f)) << f;
    }
}

TEST(FilterWildcardsValid, RejectsMisplacedWildcardsAndEmpty) {
    for (std::string_view f : {"", "sport/tennis#", "sport/tennis/#/ranking", "#/a", "sport+", "+a",
                               "a/+b/c", "a/#b", "##", "++", "a/b#"}) {
        EXPECT_FALSE(filter_wildcards_valid(f)) << f;
    }
}

TEST(ParseSharedFilter, OrdinaryFiltersAreNotShared) {
    for (std::string_view f : {"a/b", "#", "$share", "$shared/g/a", "$SYS/#", "share/g/a", "$Share/g/a"}) {
        auto r = parse_shared(f);
        ASSERT_TRUE(r.has_value()) << f;
        EXPECT_FALSE(r->has_value()) << f;
    }
}

TEST(ParseSharedFilter, SplitsGroupAndFilter) {
    struct Case {
        std::string_view in, group, filter;
    };
    for (const Case& c : {Case{"$share/consumer1/sport/tennis/+", "consumer1", "sport/tennis/+"},
                          Case{"$share/g/#", "g", "#"},
                          Case{"$share/g//finance", "g", "/finance"},
                          Case{"$share/g/$SYS/x", "g", "$SYS/x"},
                          Case{"$share/g/a/", "g", "a/"}}) {
        auto r = parse_shared(c.in);
        ASSERT_TRUE(r.has_value()) << c.in;
        ASSERT_TRUE(r->has_value()) << c.in;
        EXPECT_EQ((*r)->group, c.group);
        EXPECT_EQ((*r)->filter, c.filter);
    }
}

TEST(ParseSharedFilter, RejectsMalformedSharedFilters) {
    // [MQTT-4.8.2-1] empty ShareName; [MQTT-4.8.2-2] '+'/'#' in it, or no "/filter".
    for (std::string_view f : {"$share/", "$share//a", "$share/g", "$share/g/", "$share/g+/a",
                               "$share/+/a", "$share/#/a", "$share/a#b/c"}) {
        auto r = parse_shared(f);
        ASSERT_FALSE(r.has_value()) << f;
        EXPECT_NE(std::string_view(r.error()), "") << f;
    }
}

TEST(TopicDepth, CountsLevels) {
    EXPECT_EQ(topic_depth("a"), 1u);
    EXPECT_EQ(topic_depth(""), 1u);
    EXPECT_EQ(topic_depth("/"), 2u);
    EXPECT_EQ(topic_depth("/finance"), 2u);
    EXPECT_EQ(topic_depth("a/b/c"), 3u);
    EXPECT_EQ(topic_depth("sport/tennis/player1/#"), 4u);
    EXPECT_EQ(topic_depth("a//"), 3u);
}

TEST(LevelCursor, YieldsEveryLevelIncludingEmptyOnes) {
    auto levels = [](std::string_view s) {
        std::vector<std::string> out;
        LevelCursor cur(s);
        while (!cur.done()) out.emplace_back(cur.next());
        return out;
    };
    EXPECT_EQ(levels("a/b/c"), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(levels("/a"), (std::vector<std::string>{"", "a"}));
    EXPECT_EQ(levels("a/"), (std::vector<std::string>{"a", ""}));
    EXPECT_EQ(levels("/"), (std::vector<std::string>{"", ""}));
    EXPECT_EQ(levels(""), (std::vector<std::string>{""}));
    EXPECT_EQ(levels("a//b"), (std::vector<std::string>{"a", "", "b"}));
}

}  // namespace
}  // namespace ib::mqtt::broker
