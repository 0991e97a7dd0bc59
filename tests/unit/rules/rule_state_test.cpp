// A rule's checkpoint: what it saves restores into a fresh compile of the same
// rule, so a window or a change detector carries on across a restart, and bytes
// that are not a whole checkpoint are refused.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rules/rule.hpp"

namespace {

using ib::rules::OutputRow;
using ib::rules::Rule;

struct Fed {
    std::unique_ptr<Rule> rule;
    std::vector<std::string> rows;

    explicit Fed(const std::string& sql) {
        auto r = Rule::compile(sql);
        EXPECT_TRUE(r.has_value()) << r.error();
        rule = std::move(*r);
        rule->on_emit([this](const OutputRow& row) { rows.emplace_back(row.json); });
    }
    void in(const std::string& topic, const std::string& payload, int64_t at) {
        rule->on_message(topic, std::as_bytes(std::span(payload.data(), payload.size())), at);
    }
};

TEST(RuleState, AnOpenWindowCarriesOnAfterARestore) {
    const std::string sql =
        "SELECT topic(2) AS d, avg(v) AS a, count(*) AS n FROM \"m/+\" GROUP BY topic(2), TumblingWindow(ss, 10)";
    Fed before(sql);
    before.in("m/a", R"({"v":10})", 1000);
    before.in("m/b", R"({"v":1})", 1500);
    before.in("m/a", R"({"v":20})", 2000);
    EXPECT_TRUE(before.rule->state_dirty());
    const std::string saved = before.rule->save_state();
    EXPECT_FALSE(before.rule->state_dirty());

    Fed after(sql);
    ASSERT_TRUE(after.rule->restore_state(saved));
    after.in("m/a", R"({"v":30})", 3000);
    after.rule->on_time(10'000);
    EXPECT_EQ(after.rows, (std::vector<std::string>{R"({"d":"a","a":20,"n":3})", R"({"d":"b","a":1,"n":1})"}));
}

TEST(RuleState, AChangeDetectorDoesNotFireAgainAfterARestore) {
    const std::string sql = "SELECT v FROM \"m/+\" WHERE changed(v) GROUP BY topic(2)";
    Fed before(sql);
    before.in("m/a", R"({"v":"on"})", 1);
    ASSERT_EQ(before.rows.size(), 1u);
    Fed after(sql);
    ASSERT_TRUE(after.rule->restore_state(before.rule->save_state()));
    after.in("m/a", R"({"v":"on"})", 2);
    EXPECT_TRUE(after.rows.empty()) << "the alarm fired again after the restart";
    after.in("m/a", R"({"v":"off"})", 3);
    EXPECT_EQ(after.rows, (std::vector<std::string>{R"({"v":"off"})"}));
}

TEST(RuleState, ACountWindowKeepsItsMessages) {
    const std::string sql = "SELECT sum(v) AS s FROM \"m\" GROUP BY CountWindow(3)";
    Fed before(sql);
    before.in("m", R"({"v":1})", 1);
    before.in("m", R"({"v":2})", 2);
    Fed after(sql);
    ASSERT_TRUE(after.rule->restore_state(before.rule->save_state()));
    after.in("m", R"({"v":4})", 3);
    EXPECT_EQ(after.rows, (std::vector<std::string>{R"({"s":7})"}));
}

TEST(RuleState, DamagedBytesAreRefusedAndTheRuleStartsEmpty) {
    const std::string sql = "SELECT sum(v) AS s FROM \"m\" GROUP BY TumblingWindow(ss, 10)";
    Fed before(sql);
    before.in("m", R"({"v":5})", 1);
    std::string saved = before.rule->save_state();
    Fed after(sql);
    EXPECT_FALSE(after.rule->restore_state(saved.substr(0, saved.size() - 3)));
    EXPECT_FALSE(after.rule->restore_state(""));
    std::string huge = saved;
    huge[1 + 8 + 8 + 8] = '\x7f';  // the partition count, now enormous
    EXPECT_FALSE(after.rule->restore_state(huge + std::string(64, '\xff')));
    after.in("m", R"({"v":1})", 2);
    after.rule->flush();
    EXPECT_EQ(after.rows, (std::vector<std::string>{R"({"s":1})"}));
}

TEST(RuleState, AStateOfAnotherShapeIsRefused) {
    Fed two("SELECT sum(v), max(v) FROM \"m\" GROUP BY TumblingWindow(ss, 10)");
    two.in("m", R"({"v":5})", 1);
    Fed one("SELECT sum(v) FROM \"m\" GROUP BY TumblingWindow(ss, 10)");
    EXPECT_FALSE(one.rule->restore_state(two.rule->save_state()));
}

}  // namespace
