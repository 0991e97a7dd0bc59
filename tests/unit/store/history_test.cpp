// The local history against a real SQLite file in a fresh temp directory: what a
// query returns after readings went in (raw, aggregates, across a reopen), how
// bad messages are counted, retention and the size cap, and a corrupt file.
#include <gtest/gtest.h>

#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "store/history.hpp"

namespace ib::store {
namespace {

constexpr int64_t kT0 = 1732200000000;  // 2024-11-21T14:40:00Z, a minute boundary
constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 3'600'000;

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "ib-history-XXXXXX").string();
        path_ = mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

std::unique_ptr<History> open(const std::string& path, const HistoryConfig& config = {}) {
    auto h = History::open(path, config);
    EXPECT_TRUE(h.has_value()) << h.error();
    return h ? std::move(*h) : nullptr;
}

// What a kill -9 leaves (WAL mode: the committed transactions are in the file
// and its -wal), copied beside it and opened again.
std::unique_ptr<History> open_as_killed(const TempDir& dir, const std::string& path) {
    std::filesystem::create_directory(dir.file("killed"));
    for (const char* suffix : {"", "-wal"}) {
        std::filesystem::copy_file(path + suffix, dir.file("killed/history.db") + suffix);
    }
    return open(dir.file("killed/history.db"));
}

std::vector<HistoryPoint> query(History& h, std::string_view tag, HistoryStep step = HistoryStep::Raw,
                                HistoryAgg agg = HistoryAgg::Avg, int64_t from = 0, int64_t to = kT0 + 100 * kHour,
                                std::string_view device = "plc1") {
    HistoryQuery q;
    q.device = device;
    q.tag = tag;
    q.from_ms = from;
    q.to_ms = to;
    q.step = step;
    q.agg = agg;
    auto r = h.query(q);
    EXPECT_TRUE(r.has_value()) << r.error();
    return r ? *r : std::vector<HistoryPoint>{};
}

// [[ts, value], ...] as text, so a failure shows the whole series.
std::string text(const std::vector<HistoryPoint>& points) {
    std::string out;
    for (const auto& p : points) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s[%lld,%g]", out.empty() ? "" : ",", static_cast<long long>(p.ts_ms),
                      p.value);
        out += buf;
    }
    return out;
}

double metric(const History& h, std::string_view name, std::string_view labels = "") {
    MetricSink sink;
    h.collect_metrics(sink);
    for (const auto& s : sink) {
        if (s.name == name && s.labels == labels) return s.value;
    }
    ADD_FAILURE() << "no metric " << name << "{" << labels << "}";
    return -1;
}

std::string reading(int64_t ts, const std::string& values) {
    return R"({"device":"plc1","group":"fast","ts":)" + std::to_string(ts) + R"(,"values":{)" + values + "}}";
}

TEST(History, FileIsCreatedAtTheFirstPointOnly) {
    TempDir dir;
    const std::string path = dir.file("history.db");
    auto h = open(path);
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->commit(kT0).has_value());
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_EQ(text(query(*h, "temp")), "");
    EXPECT_FALSE(std::filesystem::exists(path));
    h->add("plc1", "temp", kT0, 21.5);
    ASSERT_TRUE(h->commit(kT0).has_value());
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_GT(h->db_bytes(), 0);
}

TEST(History, ReadingsBecomeRawPointsWithBoolsAsNumbersAndStringsSkipped) {
    TempDir dir;
    auto h = open(dir.file("history.db"));
    auto r = h->ingest(reading(kT0, R"("temp":21.5,"run":true,"mode":"auto","count":7,"big":18446744073709551615,"gone":null)"), 0);
    ASSERT_TRUE(r.has_value()) << r.error();
    EXPECT_EQ(*r, 4u);
    ASSERT_TRUE(h->ingest(reading(kT0 + 1000, R"("temp":22,"run":false)"), 0).has_value());
    EXPECT_EQ(text(query(*h, "temp")), "[1732200000000,21.5],[1732200001000,22]");
    EXPECT_EQ(text(query(*h, "run")), "[1732200000000,1],[1732200001000,0]");
    EXPECT_EQ(text(query(*h, "count")), "[1732200000000,7]");
    EXPECT_EQ(text(query(*h, "big")), "[1732200000000,1.84467e+19]");
    EXPECT_EQ(text(query(*h, "mode")), "");
    EXPECT_EQ(metric(*h, "ib_history_points_total"), 6);
    // from and to are inclusive.
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Raw, HistoryAgg::Avg, kT0 + 1000, kT0 + 1000)),
              "[1732200001000,22]");
}

TEST(History, OfTwoReadingsAtOneMillisecondTheLaterWins) {
    TempDir dir;
    auto h = open(dir.file("history.db"));
    for (int i = 0; i < 50; ++i) {
        h->add("plc1", "a", kT0 + 1, i);
        h->add("plc1", "b", kT0 + 1, -i);
    }
    EXPECT_EQ(text(query(*h, "a")), "[1732200000001,49]");
    EXPECT_EQ(text(query(*h, "b")), "[1732200000001,-49]");
}

// recent goes into raw a slice at a time (background_step): in the middle of a
// move, and after a kill there, each point is seen once, and of two at one
// millisecond the later, even when the earlier was moved already.
TEST(History, AMoveInSlicesShowsEachPointOnceAndTheLaterOfTwoAtOneMillisecond) {
    TempDir dir;
    const std::string path = dir.file("history.db");
    auto h = open(path);
    // Enough series that the move takes several slices.
    const int kTags = static_cast<int>(History::kMoveSliceRows);
    for (int round = 0; round < 2; ++round) {
        for (int t = 0; t < kTags; ++t) h->add("plc1", "t" + std::to_string(t), kT0 + round, t * 10 + round);
    }
    h->add("plc1", "t0", kT0 + 5, 1);
    ASSERT_TRUE(h->commit(kT0).has_value());
    int64_t now = kT0 + History::kMoveEveryMs;
    ASSERT_TRUE(h->background_step(now));  // the first slice: t0 and others in raw, all still in recent
    h->add("plc1", "t0", kT0 + 5, 2);  // the same millisecond again, in the next move
    ASSERT_TRUE(h->commit(now).has_value());
    const std::string t0 = "[1732200000000,0],[1732200000001,1],[1732200000005,2]";
    const std::string last = "[1732200000000," + std::to_string((kTags - 1) * 10) + "],[1732200000001," +
                             std::to_string((kTags - 1) * 10 + 1) + "]";
    const std::string last_tag = "t" + std::to_string(kTags - 1);
    EXPECT_EQ(text(query(*h, "t0")), t0);
    EXPECT_EQ(text(query(*h, last_tag)), last);
    // Killed in the middle of the move: the next open moves what is left.
    auto after = open_as_killed(dir, path);
    EXPECT_EQ(text(query(*after, "t0")), t0);
    EXPECT_EQ(text(query(*after, last_tag)), last);
    // The first move ends, then the second one moves the later point of t0.
    int steps = 0;
    while (h->background_step(now) && ++steps < 1000) {
    }
    EXPECT_EQ(text(query(*h, "t0")), t0);
    now += History::kMoveEveryMs;
    while (h->background_step(now) && ++steps < 1000) {
    }
    EXPECT_LT(steps, 1000);
    EXPECT_EQ(text(query(*h, "t0")), t0);
    EXPECT_EQ(text(query(*h, last_tag)), last);
    EXPECT_EQ(text(query(*h, "t1", HistoryStep::Raw, HistoryAgg::Avg, kT0 + 1, kT0 + 1)), "[1732200000001,11]");
}

// A history.db of the first format (PRAGMA user_version 0: no `recent`, no
// `aggregated`, every raw point already in its minute and hour rows) opened by
// this version: each series' watermark is taken from its newest raw point, so
// nothing is aggregated twice, and new points add to the old rows.
TEST(History, AFileOfTheFirstFormatIsUpgradedWithoutCountingItsPointsTwice) {
    TempDir dir;
    const std::string path = dir.file("history.db");
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        const std::string before = std::to_string(kT0 - kMinute), at = std::to_string(kT0);
        const std::string hour = std::to_string(kT0 - kT0 % kHour);
        const std::string sql =
            "CREATE TABLE series (id INTEGER PRIMARY KEY, device TEXT NOT NULL, tag TEXT NOT NULL, UNIQUE (device, tag));"
            "CREATE TABLE raw (series INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,"
            " PRIMARY KEY (series, ts)) WITHOUT ROWID;"
            "CREATE TABLE minute (series INTEGER NOT NULL, ts INTEGER NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL,"
            " total REAL NOT NULL, n INTEGER NOT NULL, last REAL NOT NULL, last_ts INTEGER NOT NULL,"
            " PRIMARY KEY (series, ts)) WITHOUT ROWID;"
            "CREATE TABLE hour (series INTEGER NOT NULL, ts INTEGER NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL,"
            " total REAL NOT NULL, n INTEGER NOT NULL, last REAL NOT NULL, last_ts INTEGER NOT NULL,"
            " PRIMARY KEY (series, ts)) WITHOUT ROWID;"
            "INSERT INTO series VALUES (1, 'plc1', 'temp');"
            "INSERT INTO raw VALUES (1, " + before + " + 1, 10), (1, " + before + " + 2, 20),"
            " (1, " + at + " + 1, 1), (1, " + at + " + 2, 2), (1, " + at + " + 3, 3);"
            "INSERT INTO minute VALUES (1, " + before + ", 10, 20, 30, 2, 20, " + before + " + 2),"
            " (1, " + at + ", 1, 3, 6, 3, 3, " + at + " + 3);"
            "INSERT INTO hour VALUES (1, " + hour + ", 1, 20, 36, 5, 3, " + at + " + 3);";
        char* err = nullptr;
        ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
        sqlite3_close(db);
    }
    using enum HistoryAgg;
    const std::string counts = "[" + std::to_string(kT0 - kMinute) + ",2],[" + std::to_string(kT0) + ",3]";
    auto h = open(path);
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Minute, Count)), counts);
    EXPECT_EQ(query(*h, "temp", HistoryStep::Hour, Count).at(0).value, 5);
    EXPECT_EQ(query(*h, "temp", HistoryStep::Hour, Avg).at(0).value, 36.0 / 5);
    EXPECT_EQ(query(*h, "temp").size(), 5u);
    // A new point in the next minute: a row of its own, and one more in the hour.
    h->add("plc1", "temp", kT0 + kMinute + 1, 7);
    ASSERT_TRUE(h->commit(kT0 + kMinute + 2).has_value());
    const std::string with_new = counts + ",[" + std::to_string(kT0 + kMinute) + ",1]";
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Minute, Count)), with_new);
    h.reset();
    auto reopened = open(path);
    EXPECT_EQ(text(query(*reopened, "temp", HistoryStep::Minute, Count)), with_new);
    EXPECT_EQ(query(*reopened, "temp", HistoryStep::Hour, Count).at(0).value, 6);
    EXPECT_EQ(query(*reopened, "temp", HistoryStep::Hour, Last).at(0).value, 7);
    EXPECT_EQ(query(*reopened, "temp", HistoryStep::Hour, Max).at(0).value, 20);
    EXPECT_EQ(query(*reopened, "temp").size(), 6u);
    reopened.reset();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* v = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &v, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(v), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(v, 0), 1);
    sqlite3_finalize(v);
    sqlite3_close(db);
}

TEST(History, MessageWithoutTsTakesTheReceiveTime) {
    TempDir dir;
    auto h = open(dir.file("history.db"));
    ASSERT_TRUE(h->ingest(R"({"device":"plc1","values":{"temp":1}})", kT0 + 5).has_value());
    EXPECT_EQ(text(query(*h, "temp")), "[1732200000005,1]");
}

TEST(History, MinuteAndHourAggregatesHoldMinMaxAvgCountLast) {
    TempDir dir;
    auto h = open(dir.file("history.db"));
    h->add("plc1", "temp", kT0 + 1000, 10);
    h->add("plc1", "temp", kT0 + 2000, 30);
    h->add("plc1", "temp", kT0 + 3000, 20);
    h->add("plc1", "temp", kT0 + kMinute + 500, 5);  // the next minute, same hour
    using enum HistoryAgg;
    auto minute = [&](HistoryAgg agg) { return text(query(*h, "temp", HistoryStep::Minute, agg)); };
    EXPECT_EQ(minute(Min), "[1732200000000,10],[1732200060000,5]");
    EXPECT_EQ(minute(Max), "[1732200000000,30],[1732200060000,5]");
    EXPECT_EQ(minute(Avg), "[1732200000000,20],[1732200060000,5]");
    EXPECT_EQ(minute(Count), "[1732200000000,3],[1732200060000,1]");
    EXPECT_EQ(minute(Last), "[1732200000000,20],[1732200060000,5]");
    const int64_t hour = kT0 - kT0 % kHour;
    const std::string h0 = "[" + std::to_string(hour) + ",";
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Hour, Avg)), h0 + "16.25]");
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Hour, Count)), h0 + "4]");
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Hour, Last)), h0 + "5]");
    // A range starting inside a bucket includes that bucket.
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Minute, Count, kT0 + kMinute + 30'000, kT0 + kHour)),
              "[1732200060000,1]");
}

TEST(History, CommitsMergeIntoTheBucketAcrossAReopen) {
    TempDir dir;
    const std::string path = dir.file("history.db");
    {
        auto h = open(path);
        h->add("plc1", "temp", kT0 + 1000, 10);
        ASSERT_TRUE(h->commit(kT0 + 1000).has_value());
        h->add("plc1", "temp", kT0 + 2000, 40);
    }  // the destructor writes what is buffered
    auto h = open(path);
    h->add("plc1", "temp", kT0 + 3000, 1);
    h->add("plc2", "temp", kT0 + 3000, 99);
    using enum HistoryAgg;
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Minute, Count)), "[1732200000000,3]");
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Minute, Min)), "[1732200000000,1]");
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Minute, Max)), "[1732200000000,40]");
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Minute, Avg)), "[1732200000000,17]");
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Minute, Last)), "[1732200000000,1]");
    EXPECT_EQ(text(query(*h, "temp")), "[1732200001000,10],[1732200002000,40],[1732200003000,1]");
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Raw, Avg, 0, kT0 + kHour, "plc2")), "[1732200003000,99]");
}

// The files copied between two commits are what a kill -9 leaves (WAL mode: the
// committed transactions are in history.db and its -wal). Readings of the
// current minute are in the aggregates only in memory until that minute closes;
// a copy opened again re-aggregates them from the raw points.
TEST(History, AfterAKillTheOpenMinuteIsRebuiltFromTheRawPoints) {
    TempDir dir;
    const std::string path = dir.file("history.db");
    const int64_t now = unix_ms();
    const int64_t minute = now - now % kMinute;
    auto h = open(path);
    for (int i = 0; i < 30; ++i) h->add("plc1", "temp", minute + i, i);
    h->add("plc1", "temp", minute - 5 * kMinute, 100);  // an old minute: written at once
    ASSERT_TRUE(h->commit(now).has_value());
    for (int i = 30; i < 40; ++i) h->add("plc1", "temp", minute + i, i);
    ASSERT_TRUE(h->commit(now).has_value());
    h->add("plc1", "temp", minute + 50, 1000);  // buffered, not committed: a kill loses it
    auto after = open_as_killed(dir, path);
    using enum HistoryAgg;
    const std::string old_minute = "[" + std::to_string(minute - 5 * kMinute) + ",";
    const std::string this_minute = "[" + std::to_string(minute) + ",";
    EXPECT_EQ(text(query(*after, "temp", HistoryStep::Minute, Count, minute - kHour, minute + kMinute)),
              old_minute + "1]," + this_minute + "40]");
    EXPECT_EQ(text(query(*after, "temp", HistoryStep::Minute, Max, minute, minute)), this_minute + "39]");
    EXPECT_EQ(text(query(*after, "temp", HistoryStep::Minute, Avg, minute, minute)), this_minute + "19.5]");
    EXPECT_EQ(text(query(*after, "temp", HistoryStep::Minute, Last, minute, minute)), this_minute + "39]");
    const int64_t hour = minute - minute % kHour;
    const int64_t in_hour = 40 + (minute - 5 * kMinute >= hour ? 1 : 0);
    EXPECT_EQ(query(*after, "temp", HistoryStep::Hour, Count, hour, hour).back().value, static_cast<double>(in_hour));
    EXPECT_EQ(query(*after, "temp", HistoryStep::Raw, Avg, minute, minute + kMinute).size(), 40u);
    // The rebuilt minute keeps growing, and is written whole at the end.
    after->add("plc1", "temp", minute + 45, -1);
    after.reset();
    auto reopened = open(dir.file("killed/history.db"));
    EXPECT_EQ(text(query(*reopened, "temp", HistoryStep::Minute, Count, minute, minute)), this_minute + "41]");
    EXPECT_EQ(text(query(*reopened, "temp", HistoryStep::Minute, Min, minute, minute)), this_minute + "-1]");
}

// A sliced move inserts a range of recent's rows into raw, and deletes them
// from recent in a later transaction: a kill in between leaves each point in
// both tables, and the reopened open minute counts it once.
TEST(History, AKillBetweenAMovesInsertAndItsDeleteCountsEachPointOnce) {
    TempDir dir;
    const std::string path = dir.file("history.db");
    const int64_t now = unix_ms();
    const int64_t minute = now - now % kMinute;
    auto h = open(path);
    for (int i = 0; i < 40; ++i) h->add("plc1", "temp", minute + i, i);
    ASSERT_TRUE(h->commit(now).has_value());
    ASSERT_TRUE(h->background_step(now + History::kMoveEveryMs));  // in raw, still in recent
    auto after = open_as_killed(dir, path);
    const std::string this_minute = "[" + std::to_string(minute) + ",";
    EXPECT_EQ(text(query(*after, "temp", HistoryStep::Minute, HistoryAgg::Count, minute, minute)), this_minute + "40]");
    EXPECT_EQ(text(query(*after, "temp", HistoryStep::Minute, HistoryAgg::Avg, minute, minute)), this_minute + "19.5]");
    EXPECT_EQ(query(*after, "temp", HistoryStep::Raw, HistoryAgg::Avg, minute, minute + kMinute).size(), 40u);
}

TEST(History, LatePointGoesIntoItsOwnBucketAndLastKeepsTheNewest) {
    TempDir dir;
    auto h = open(dir.file("history.db"));
    h->add("plc1", "temp", kT0 + kMinute + 1, 50);
    h->add("plc1", "temp", kT0 + 10, 7);             // late: the minute before
    h->add("plc1", "temp", kT0 + kMinute + 2, 60);   // back to the current minute
    h->add("plc1", "temp", kT0 + kMinute + 0, 1);    // late within the current minute
    using enum HistoryAgg;
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Minute, Count)), "[1732200000000,1],[1732200060000,3]");
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Minute, Last)), "[1732200000000,7],[1732200060000,60]");
}

TEST(History, UnknownDeviceOrTagGivesNoPoints) {
    TempDir dir;
    auto h = open(dir.file("history.db"));
    h->add("plc1", "temp", kT0, 1);
    EXPECT_EQ(text(query(*h, "nope")), "");
    EXPECT_EQ(text(query(*h, "temp", HistoryStep::Raw, HistoryAgg::Avg, 0, kT0 + 1, "nope")), "");
}

TEST(History, BadMessagesAreCountedAndTakeNothing) {
    TempDir dir;
    auto h = open(dir.file("history.db"));
    const std::pair<std::string, std::string_view> cases[] = {
        {"{not json", "not valid JSON"},
        {"[1,2]", "not a JSON object"},
        {R"({"values":{"a":1}})", "no \"device\" string"},
        {R"({"device":7,"values":{"a":1}})", "no \"device\" string"},
        {R"({"device":"d","ts":"yesterday","values":{"a":1}})", "\"ts\" is not a number of milliseconds"},
        {R"({"device":"d","ts":-5,"values":{"a":1}})", "\"ts\" is negative"},
        {R"({"device":"d","ts":1}")", "not valid JSON"},
        {R"({"device":"d","values":[1]})", "no \"values\" object"},
        {"", "not valid JSON"},
    };
    for (const auto& [payload, why] : cases) {
        auto r = h->ingest(payload, kT0);
        ASSERT_FALSE(r.has_value()) << payload;
        EXPECT_EQ(r.error(), why) << payload;
    }
    EXPECT_EQ(metric(*h, "ib_history_bad_messages_total"), std::size(cases));
    ASSERT_TRUE(h->commit(kT0).has_value());
    EXPECT_EQ(metric(*h, "ib_history_points_total"), 0);
    // A reading with errors only, and an empty values object, are readings.
    EXPECT_EQ(h->ingest(R"({"device":"d","ts":1,"values":{},"errors":{"p":{"code":2}}})", kT0).value_or(99), 0u);
}

TEST(History, RetentionDeletesEachStepPastItsAge) {
    TempDir dir;
    HistoryConfig config;
    config.raw_retention = std::chrono::hours(1);
    config.minute_retention = std::chrono::days(1);
    config.hour_retention = std::chrono::days(2);
    auto h = open(dir.file("history.db"), config);
    const int64_t day = 24 * kHour;
    const int64_t now = kT0;
    h->add("plc1", "temp", now - 3 * day, 1);
    h->add("plc1", "temp", now - 36 * kHour, 2);
    h->add("plc1", "temp", now - 2 * kHour, 3);
    h->add("plc1", "temp", now - 10 * kMinute, 4);
    ASSERT_TRUE(h->commit(now).has_value());
    using enum HistoryAgg;
    EXPECT_EQ(text(query(*h, "temp")), "[" + std::to_string(now - 10 * kMinute) + ",4]");
    EXPECT_EQ(query(*h, "temp", HistoryStep::Minute, Last).size(), 2u);  // 2 h and 10 min ago
    EXPECT_EQ(query(*h, "temp", HistoryStep::Hour, Last).size(), 3u);    // all but 3 days ago
}

TEST(History, RetentionRunsAtMostOncePerMinute) {
    TempDir dir;
    HistoryConfig config;
    config.raw_retention = std::chrono::hours(1);
    auto h = open(dir.file("history.db"), config);
    h->add("plc1", "temp", kT0, 1);
    ASSERT_TRUE(h->commit(kT0).has_value());
    h->add("plc1", "temp", kT0 - 2 * kHour, 2);  // already too old, but the last run was just now
    ASSERT_TRUE(h->commit(kT0 + 1000).has_value());
    EXPECT_EQ(query(*h, "temp").size(), 2u);
    ASSERT_TRUE(h->commit(kT0 + History::kRetentionEveryMs).has_value());
    EXPECT_EQ(query(*h, "temp").size(), 1u);
}

TEST(History, FullBufferIsWrittenBeforeTheTick) {
    TempDir dir;
    const std::string path = dir.file("history.db");
    auto h = open(path);
    for (size_t i = 0; i < History::kMaxBufferedPoints; ++i) h->add("plc1", "temp", kT0 + static_cast<int64_t>(i), 1);
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(metric(*h, "ib_history_points_total"), static_cast<double>(History::kMaxBufferedPoints));
}

TEST(History, OverMaxBytesTheOldestRawPointsGoFirstAndAreCounted) {
    TempDir dir;
    HistoryConfig config;
    config.max_bytes = 1 << 20;
    config.raw_retention = std::chrono::hours(24 * 365);
    auto h = open(dir.file("history.db"), config);
    // 8 series, a point a second each, for 4 hours: ~115,000 points, well over 1 MiB.
    const int64_t points_per_series = 4 * 3600;
    for (int64_t i = 0; i < points_per_series; ++i) {
        for (int s = 0; s < 8; ++s) h->add("plc1", "t" + std::to_string(s), kT0 + i * 1000, static_cast<double>(i));
        if (i % 600 == 0) {
            ASSERT_TRUE(h->commit(kT0 + i * 1000).has_value());
        }
    }
    ASSERT_TRUE(h->commit(kT0 + points_per_series * 1000).has_value());
    EXPECT_LE(h->db_bytes(), config.max_bytes);
    const double dropped = metric(*h, "ib_history_dropped_points_total", "reason=\"max_bytes\"");
    EXPECT_GT(dropped, 0);
    auto raw = query(*h, "t3");
    ASSERT_FALSE(raw.empty());
    EXPECT_GT(raw.front().ts_ms, kT0);                                    // the oldest went
    EXPECT_EQ(raw.back().ts_ms, kT0 + (points_per_series - 1) * 1000);  // the newest stayed
    // Raw goes first: the aggregates of the first minutes are all still there.
    auto minutes = query(*h, "t3", HistoryStep::Minute, HistoryAgg::Count);
    ASSERT_EQ(minutes.size(), static_cast<size_t>(points_per_series / 60));
    EXPECT_EQ(minutes.front().ts_ms, kT0);
    EXPECT_EQ(minutes.front().value, 60);
    // What was kept plus what was dropped is what went in.
    size_t kept = 0;
    for (int s = 0; s < 8; ++s) kept += query(*h, "t" + std::to_string(s)).size();
    EXPECT_EQ(kept + static_cast<size_t>(dropped), static_cast<size_t>(8 * points_per_series));
}

TEST(History, CorruptFileIsMovedAsideAndANewOneStarted) {
    TempDir dir;
    const std::string path = dir.file("history.db");
    {
        std::ofstream f(path, std::ios::binary);
        for (int i = 0; i < 100; ++i) f << "this is not a database";
    }
    auto h = open(path);
    ASSERT_TRUE(h);
    EXPECT_NE(h->recovered_from().find(path + ".corrupt-"), std::string::npos) << h->recovered_from();
    h->add("plc1", "temp", kT0, 1);
    EXPECT_EQ(text(query(*h, "temp")), "[1732200000000,1]");
    size_t aside = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        if (e.path().filename().string().starts_with("history.db.corrupt-")) ++aside;
    }
    EXPECT_EQ(aside, 1u);
}

TEST(History, MetricsAreReported) {
    TempDir dir;
    auto h = open(dir.file("history.db"));
    h->add("plc1", "temp", kT0, 1);
    ASSERT_TRUE(h->commit(kT0).has_value());
    EXPECT_EQ(metric(*h, "ib_history_points_total"), 1);
    EXPECT_EQ(metric(*h, "ib_history_commit_errors_total"), 0);
    EXPECT_EQ(metric(*h, "ib_history_dropped_points_total", "reason=\"commit_error\""), 0);
    EXPECT_EQ(metric(*h, "ib_history_dropped_readings_total"), 0);
    EXPECT_EQ(metric(*h, "ib_history_writer_rescues_total"), 0);
    EXPECT_EQ(metric(*h, "ib_history_db_bytes"), static_cast<double>(h->db_bytes()));
    EXPECT_EQ(metric(*h, "ib_history_series"), 1);
}

}  // namespace
}  // namespace ib::store
