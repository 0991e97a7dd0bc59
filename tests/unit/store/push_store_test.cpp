// The fleet controller's kept orders against a real SQLite file: an order comes
// back with its edges in order after a reopen, putting it again replaces its
// edges, only the newest N are kept, and an order a stopped process left
// waiting is finished with its silent edges saying why.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "store/push_store.hpp"

namespace ib::store {
namespace {

class PushStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (std::filesystem::temp_directory_path() / "ib-pushdb-XXXXXX").string();
        dir_ = mkdtemp(tmpl.data());
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    PushStore open() {
        auto s = PushStore::open(dir_ + "/fleet-pushes.db");
        EXPECT_TRUE(s) << s.error();
        return std::move(*s);
    }
    static PushRecord order(const std::string& id, int64_t created_ms) {
        PushRecord p{id, "push", 7, false, created_ms, {}};
        p.edges.push_back({"press-1", "lyon", "sent", "", "", ""});
        p.edges.push_back({"press-2", "lyon", "sent", "", "", ""});
        return p;
    }
    std::string dir_;
};

TEST_F(PushStoreTest, AnOrderComesBackAfterAReopenWithItsEdgesInOrder) {
    {
        PushStore s = open();
        PushRecord p = order("push-7-a", 1000);
        ASSERT_TRUE(s.put(p, 10));
        p.finished = true;
        p.edges[0].phase = "done";
        p.edges[1] = {"press-2", "lyon", "failed", "invalid", "rules[0]: sql: unknown column", ""};
        ASSERT_TRUE(s.put(p, 10));
    }
    PushStore s = open();
    auto p = s.get("push-7-a");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->op, "push");
    EXPECT_EQ(p->revision, 7);
    EXPECT_TRUE(p->finished);
    ASSERT_EQ(p->edges.size(), 2u);
    EXPECT_EQ(p->edges[0].phase, "done");
    EXPECT_EQ(p->edges[1].code, "invalid");
    EXPECT_EQ(p->edges[1].message, "rules[0]: sql: unknown column");
    EXPECT_FALSE(s.get("push-8-b"));
}

TEST_F(PushStoreTest, OnlyTheNewestAreKept) {
    PushStore s = open();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(s.put(order("o" + std::to_string(i), 1000 + i), 3));
    EXPECT_FALSE(s.get("o0"));
    EXPECT_FALSE(s.get("o1"));
    EXPECT_TRUE(s.get("o2"));
    EXPECT_TRUE(s.get("o4"));
}

TEST_F(PushStoreTest, AnOrderLeftWaitingIsFinishedAndItsSilentEdgesSayWhy) {
    {
        PushStore s = open();
        PushRecord p = order("push-9-c", 1000);
        p.edges[0].phase = "done";
        p.edges[1].phase = "probing";
        ASSERT_TRUE(s.put(p, 10));
    }
    PushStore s = open();
    EXPECT_EQ(s.finish_interrupted("restarted", "the controller stopped"), 1u);
    auto p = s.get("push-9-c");
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->finished);
    EXPECT_EQ(p->edges[0].code, "");
    EXPECT_EQ(p->edges[1].phase, "probing");
    EXPECT_EQ(p->edges[1].code, "restarted");
    EXPECT_EQ(s.finish_interrupted("restarted", "again"), 0u);
}

}  // namespace
}  // namespace ib::store
