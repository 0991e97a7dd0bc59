// The audit log against a real SQLite file: entries come back newest first with
// their before/after, paging with `before`, and the caps by entries and by bytes
// delete the oldest first, also when a reopened log has a lower cap; a log opened
// in the background loses nothing appended while it opened.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "store/audit_log.hpp"

namespace ib::store {
namespace {

class AuditLogTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (std::filesystem::temp_directory_path() / "ib-audit-XXXXXX").string();
        dir_ = mkdtemp(tmpl.data());
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::unique_ptr<AuditLog> open(AuditLimits limits) {
        auto log = AuditLog::open(dir_ + "/audit.db", limits);
        EXPECT_TRUE(log) << log.error();
        return log ? std::move(*log) : nullptr;
    }
    static AuditEntry entry(int n, std::string after = "{}") {
        return AuditEntry{0, 1'700'000'000'000 + n, "ann", "operator", "127.0.0.1", "PUT",
                          "/api/v1/devices/d" + std::to_string(n), 200, "", std::move(after)};
    }
    // Every entry, newest first (the query runs on the writer thread).
    static std::vector<AuditEntry> all(AuditLog& log, uint32_t limit = 1000, std::optional<int64_t> before = {}) {
        std::vector<AuditEntry> out;
        log.query(limit, before, [&](AuditLog::Entries e) {
            ASSERT_TRUE(e) << e.error();
            out = std::move(*e);
        });
        log.drain();
        return out;
    }
    std::string dir_;
};

TEST_F(AuditLogTest, ListsNewestFirstAndPagesWithBefore) {
    auto log = open({});
    log->append(entry(1, ""));
    log->append(entry(2, R"({"name":"d2"})"));
    log->append(entry(3));
    auto entries = all(*log);
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0].path, "/api/v1/devices/d3");
    EXPECT_EQ(entries[1].after, R"({"name":"d2"})");
    EXPECT_EQ(entries[2].after, "");  // null stays null
    EXPECT_EQ(entries[0].user, "ann");
    EXPECT_EQ(entries[0].status, 200u);
    EXPECT_GT(entries[0].id, entries[1].id);
    auto page = all(*log, 1, entries[0].id);
    ASSERT_EQ(page.size(), 1u);
    EXPECT_EQ(page[0].id, entries[1].id);
}

TEST_F(AuditLogTest, RowCapDeletesTheOldestFirst) {
    auto log = open({.max_rows = 5, .max_bytes = 1 << 20});
    for (int i = 1; i <= 12; ++i) log->append(entry(i));
    auto entries = all(*log);
    ASSERT_EQ(entries.size(), 5u);
    EXPECT_EQ(entries.front().path, "/api/v1/devices/d12");
    EXPECT_EQ(entries.back().path, "/api/v1/devices/d8");
}

TEST_F(AuditLogTest, ByteCapDeletesTheOldestFirstAndKeepsTheNewest) {
    const std::string big = "\"" + std::string(1000, 'x') + "\"";
    auto log = open({.max_rows = 1000, .max_bytes = 3500});
    for (int i = 1; i <= 10; ++i) log->append(entry(i, big));
    auto entries = all(*log);
    // Each entry is a little over 1000 bytes: three fit.
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries.front().path, "/api/v1/devices/d10");
    uint64_t bytes = 0;
    for (const auto& e : entries) bytes += e.size();
    EXPECT_LE(bytes, 3500u);
    // One entry larger than the whole cap is still kept, alone.
    log->append(entry(11, "\"" + std::string(5000, 'y') + "\""));
    entries = all(*log);
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries.front().path, "/api/v1/devices/d11");
}

TEST_F(AuditLogTest, ReopenedWithALowerCapTrimsAtOnce) {
    {
        auto log = open({});
        for (int i = 1; i <= 20; ++i) log->append(entry(i));
    }
    auto log = open({.max_rows = 4, .max_bytes = 1 << 20});
    auto entries = all(*log);
    ASSERT_EQ(entries.size(), 4u);
    EXPECT_EQ(entries.back().path, "/api/v1/devices/d17");
    log->append(entry(21));
    EXPECT_EQ(all(*log).front().path, "/api/v1/devices/d21");
    EXPECT_EQ(log->failures(), 0u);
}

TEST_F(AuditLogTest, OpenedInTheBackgroundKeepsWhatWasAppendedWhileItOpened) {
    {
        // Appended before the file exists: they wait behind the opening.
        auto log = AuditLog::open_in_background(dir_ + "/audit.db", {});
        for (int i = 1; i <= 5; ++i) log->append(entry(i));
        auto entries = all(*log);
        ASSERT_EQ(entries.size(), 5u);
        EXPECT_EQ(entries.front().path, "/api/v1/devices/d5");
        log->append(entry(6));
    }  // what is queued is written before the log closes
    auto log = open({});
    EXPECT_EQ(all(*log).size(), 6u);
}

TEST_F(AuditLogTest, OpenedInTheBackgroundWhereNoFileCanBeMadeCountsEachAppend) {
    auto log = AuditLog::open_in_background(dir_ + "/no-such-dir/audit.db", {});
    log->append(entry(1));
    log->append(entry(2));
    std::optional<AuditLog::Entries> answer;
    log->query(10, {}, [&](AuditLog::Entries e) { answer = std::move(e); });
    log->drain();
    EXPECT_EQ(log->failures(), 2u);
    ASSERT_TRUE(answer);
    ASSERT_FALSE(*answer);
    EXPECT_NE(answer->error().find("no-such-dir/audit.db"), std::string::npos) << answer->error();
}

}  // namespace
}  // namespace ib::store
