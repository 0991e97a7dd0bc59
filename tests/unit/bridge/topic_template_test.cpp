// Topic templates of forwards and subscriptions: ${topic}, ${N}, literals, and
// the errors a user sees for a bad one.
#include <gtest/gtest.h>

#include "bridge/topic_template.hpp"

namespace {

using ib::bridge::TopicTemplate;

std::string expand(std::string_view tmpl, std::string_view topic) {
    auto t = TopicTemplate::parse(tmpl);
    EXPECT_TRUE(t) << t.error();
    std::string out;
    if (!t || !t->expand(topic, out)) return "<no level>";
    return out;
}

TEST(TopicTemplate, WholeTopicWithPrefix) {
    EXPECT_EQ(expand("factory1/${topic}", "ib/data/plc1/fast"), "factory1/ib/data/plc1/fast");
    EXPECT_EQ(expand("${topic}", "a"), "a");
}

TEST(TopicTemplate, LevelsAreOneBased) {
    EXPECT_EQ(expand("ib/write/${3}", "factory1/write/plc1"), "ib/write/plc1");
    EXPECT_EQ(expand("${2}-${1}/x", "a/b"), "b-a/x");
    EXPECT_EQ(expand("x/${2}", "a//c"), "x/");  // an empty level is a level
}

TEST(TopicTemplate, AMissingLevelIsReported) {
    EXPECT_EQ(expand("x/${4}", "a/b/c"), "<no level>");
}

TEST(TopicTemplate, LiteralOnly) { EXPECT_EQ(expand("alarms/all", "whatever/topic"), "alarms/all"); }

TEST(TopicTemplate, BadTemplatesSayWhy) {
    auto a = TopicTemplate::parse("x/${topicc}");
    ASSERT_FALSE(a);
    EXPECT_NE(a.error().find("${topicc}"), std::string::npos) << a.error();
    EXPECT_FALSE(TopicTemplate::parse("x/${0}"));
    EXPECT_FALSE(TopicTemplate::parse("x/${65}"));
    auto b = TopicTemplate::parse("x/${1");
    ASSERT_FALSE(b);
    EXPECT_NE(b.error().find("not closed"), std::string::npos) << b.error();
    EXPECT_FALSE(TopicTemplate::parse("x/+/${topic}"));
    EXPECT_FALSE(TopicTemplate::parse(""));
}

}  // namespace
