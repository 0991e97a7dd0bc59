// The fleet's revision store against a real SQLite file: revisions come back
// newest first with their text and status, only the last N are kept (never the
// one in force), the revision in force survives a reopen, and a revision left
// applying or probing by a killed process is found and marked rolled back.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "store/revision_store.hpp"

namespace ib::store {
namespace {

class RevisionStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (std::filesystem::temp_directory_path() / "ib-fleetdb-XXXXXX").string();
        dir_ = mkdtemp(tmpl.data());
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    RevisionStore open() {
        auto s = RevisionStore::open(dir_ + "/fleet.db");
        EXPECT_TRUE(s) << s.error();
        return std::move(*s);
    }
    static Revision revision(int64_t n, RevisionStatus status = RevisionStatus::Applying) {
        Revision r;
        r.revision = n;
        if (n > 1) r.base = n - 1;
        r.config = "# revision " + std::to_string(n) + "\n";
        r.effective = r.config;
        r.sha256 = "ab";
        r.status = status;
        return r;
    }
    std::string dir_;
};

TEST_F(RevisionStoreTest, KeepsTheLastRevisionsAndTheOneInForce) {
    auto store = open();
    ASSERT_TRUE(store.record(revision(1), 3));
    { auto m = store.make_current(1); ASSERT_TRUE(m) << m.error(); }
    for (int64_t n = 2; n <= 6; ++n) ASSERT_TRUE(store.record(revision(n, RevisionStatus::Failed), 3));
    auto all = store.list();
    ASSERT_EQ(all.size(), 4u);
    EXPECT_EQ(all[0].revision, 6);
    EXPECT_EQ(all[2].revision, 4);
    EXPECT_EQ(all[3].revision, 1);
    EXPECT_EQ(all[3].status, RevisionStatus::Applied);
    EXPECT_FALSE(all[3].base.has_value());
    EXPECT_EQ(all[0].base, 5);
    EXPECT_EQ(store.highest_seen(), 6);
}

TEST_F(RevisionStoreTest, TheRevisionInForceAndTheHighestSurviveAReopen) {
    {
        auto store = open();
        ASSERT_TRUE(store.record(revision(7), 20));
        ASSERT_TRUE(store.make_current(7));
        ASSERT_TRUE(store.record(revision(9), 20));
        ASSERT_TRUE(store.set_status(9, RevisionStatus::RolledBack, "cloud link lost during the probe"));
    }
    auto store = open();
    EXPECT_EQ(store.current(), 7);
    EXPECT_EQ(store.highest_seen(), 9);
    auto nine = store.get(9);
    ASSERT_TRUE(nine);
    EXPECT_EQ(nine->status, RevisionStatus::RolledBack);
    EXPECT_EQ(nine->reason, "cloud link lost during the probe");
    EXPECT_EQ(nine->config, "# revision 9\n");
    EXPECT_FALSE(store.get(8));
}

TEST_F(RevisionStoreTest, AnInterruptedApplyIsFoundAndRolledBack) {
    {
        auto store = open();
        ASSERT_TRUE(store.record(revision(1), 20));
        { auto m = store.make_current(1); ASSERT_TRUE(m) << m.error(); }
        ASSERT_TRUE(store.record(revision(2), 20));
        ASSERT_TRUE(store.set_status(2, RevisionStatus::Probing));
    }
    auto store = open();
    auto found = store.recover_interrupted("interrupted");
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0], 2);
    EXPECT_EQ(store.get(2)->status, RevisionStatus::RolledBack);
    EXPECT_EQ(store.get(2)->reason, "interrupted");
    EXPECT_EQ(store.current(), 1);
    EXPECT_TRUE(store.recover_interrupted("interrupted").empty());
}

}  // namespace
}  // namespace ib::store
