// The pieces of the actions that call services which need no server: rows in
// order per key (KeyedQueue), an answer read as a row (JsonRow), and the keys of
// the http and grpc actions from a REST body and back.
#include <gtest/gtest.h>

#include <string>

#include "rules/json_row.hpp"
#include "rules/keyed_queue.hpp"
#include "rules/rule_settings.hpp"

namespace {

using ib::rules::JsonRow;
using ib::rules::KeyedQueue;

TEST(KeyedQueue, SendsOneRowOfAKeyAtATimeInOrderWhileOtherKeysGo) {
    KeyedQueue<int> q(10);
    ASSERT_TRUE(q.push("a", 1));
    ASSERT_TRUE(q.push("a", 2));
    ASSERT_TRUE(q.push("b", 3));
    auto first = q.take();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->first, "a");
    EXPECT_EQ(first->second, 1);
    auto second = q.take();  // a's next row waits for its first: b goes
    ASSERT_TRUE(second);
    EXPECT_EQ(second->second, 3);
    EXPECT_FALSE(q.take());
    q.finish("a");
    auto third = q.take();
    ASSERT_TRUE(third);
    EXPECT_EQ(third->second, 2);
    q.finish("b");
    q.finish("a");
    EXPECT_FALSE(q.take());
    EXPECT_EQ(q.size(), 0u);
}

TEST(KeyedQueue, RefusesTheNewestRowWhenFull) {
    KeyedQueue<int> q(2);
    EXPECT_TRUE(q.push("a", 1));
    EXPECT_TRUE(q.push("b", 2));
    EXPECT_FALSE(q.push("c", 3));
    q.take();  // a row in flight no longer counts
    EXPECT_TRUE(q.push("c", 3));
}

TEST(JsonRow, ReadsTheFieldsOfAnObjectAsColumns) {
    JsonRow r;
    ASSERT_EQ(r.parse(R"({"ref":"img\"1","score":0.25,"n":3,"ok":true,"none":null,"labels":["a", "b"]})"), "");
    const auto row = r.row();
    ASSERT_EQ(row.names.size(), 6u);
    EXPECT_EQ(row.find("ref")->s, "img\"1");
    EXPECT_EQ(row.find("score")->d, 0.25);
    EXPECT_EQ(row.find("n")->i, 3);
    EXPECT_TRUE(row.find("ok")->b);
    EXPECT_TRUE(row.find("none")->is_null());
    EXPECT_EQ(row.find("labels")->s, R"(["a","b"])");
}

TEST(JsonRow, SaysWhyAnAnswerIsNoRow) {
    JsonRow r;
    EXPECT_EQ(r.parse("[1,2]"), "the answer is not a JSON object");
    EXPECT_NE(r.parse("{\"a\":"), "");
}

TEST(CallSettings, HttpsAndGrpcKeysRoundTripThroughJson) {
    const std::string body = R"({"id":"score","sql":"SELECT ref, device FROM \"cam/+\"","actions":[)"
                             R"({"http":{"url":"https://ai.local/score","headers":["X-Api-Key: k"],"key":"${device}","concurrency":4,)"
                             R"("response_topic":"scores/${device}","response_template":"${score}"}},)"
                             R"({"grpc":{"address":"ai.local:50051","proto":")" IB_SOURCE_DIR
                             R"(/tests/peers/grpc/inspector.proto","service":"vision.Inspector","method":"Score","tls":true,"timeout_ms":250}}]})";
    auto rule = ib::rules::rule_from_json(body);
    ASSERT_TRUE(rule) << rule.error();
    ASSERT_EQ(rule->actions.size(), 2u);
    EXPECT_EQ(rule->actions[0].call.concurrency, 4u);
    EXPECT_EQ(rule->actions[0].call.headers, std::vector<std::string>{"X-Api-Key: k"});
    EXPECT_EQ(rule->actions[1].call.method, "Score");
    EXPECT_TRUE(rule->actions[1].call.tls);
    EXPECT_EQ(rule->actions[1].timeout_ms, 250u);
    auto again = ib::rules::rule_from_json(ib::rules::rule_to_json(*rule));
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(ib::rules::rule_to_json(*again), ib::rules::rule_to_json(*rule));
}

TEST(CallSettings, RefusesAKeyNamingNoColumnAndACertificateWithoutItsKey) {
    auto bad_key = ib::rules::rule_from_json(
        R"({"id":"x","sql":"SELECT ref FROM \"cam/+\"","actions":[{"http":{"url":"https://h/","key":"${device}"}}]})");
    ASSERT_FALSE(bad_key);
    EXPECT_NE(bad_key.error().find("${device} is not a column"), std::string::npos) << bad_key.error();
    auto half = ib::rules::rule_from_json(R"({"id":"x","sql":"SELECT * FROM \"cam/+\"","actions":[{"http":{"url":"https://h/","cert_file":")" IB_SOURCE_DIR
                                          R"(/README.md"}}]})");
    ASSERT_FALSE(half);
    EXPECT_NE(half.error().find("cert_file needs key_file"), std::string::npos) << half.error();
}

}  // namespace
