// The bridge's disk queue: what is committed survives reopening, acknowledged
// entries leave, caps drop the oldest unsent entries and count exactly, and a
// file that is not a database is moved aside.
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <string>
#include <vector>

#include "store/outbox.hpp"

namespace {

using ib::as_bytes;
using ib::store::Outbox;
using ib::store::OutboxEntry;
using ib::store::OutboxRecord;

class OutboxTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("ib-outbox-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / "bridge-test.db").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::unique_ptr<Outbox> open() {
        auto box = Outbox::open(path_);
        EXPECT_TRUE(box) << box.error();
        return box ? std::move(*box) : nullptr;
    }

    // n records "t/<i>" with payload "payload-<i>" (both views into `keep`).
    std::vector<OutboxRecord> records(int from, int n, int64_t ts = 1000) {
        std::vector<OutboxRecord> out;
        for (int i = from; i < from + n; ++i) {
            keep_.push_back("t/" + std::to_string(i));
            keep_.push_back("payload-" + std::to_string(i));
        }
        for (int i = 0; i < n; ++i) {
            const auto& topic = keep_[keep_.size() - 2 * static_cast<std::size_t>(n) + 2 * static_cast<std::size_t>(i)];
            const auto& payload = keep_[keep_.size() - 2 * static_cast<std::size_t>(n) + 2 * static_cast<std::size_t>(i) + 1];
            out.push_back(OutboxRecord{topic, as_bytes(payload), 1, false, ts + i});
        }
        return out;
    }

    std::vector<OutboxEntry> all(Outbox& box) {
        std::vector<OutboxEntry> out;
        auto r = box.load(0, 1000000, out);
        EXPECT_TRUE(r) << r.error();
        return out;
    }

    std::filesystem::path dir_;
    std::string path_;
    std::deque<std::string> keep_;
};

TEST_F(OutboxTest, CommittedEntriesSurviveReopeningInOrder) {
    {
        auto box = open();
        auto recs = records(0, 50);
        auto first = box->commit(recs, {});
        ASSERT_TRUE(first) << first.error();
        EXPECT_EQ(*first, 1u);
        EXPECT_EQ(box->messages(), 50u);
    }
    auto box = open();
    EXPECT_EQ(box->messages(), 50u);
    EXPECT_EQ(box->next_seq(), 51u);
    auto entries = all(*box);
    ASSERT_EQ(entries.size(), 50u);
    for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(entries[static_cast<std::size_t>(i)].seq, static_cast<uint64_t>(i + 1));
        EXPECT_EQ(entries[static_cast<std::size_t>(i)].topic(), "t/" + std::to_string(i));
        EXPECT_EQ(ib::as_string_view(entries[static_cast<std::size_t>(i)].payload()), "payload-" + std::to_string(i));
        EXPECT_EQ(entries[static_cast<std::size_t>(i)].qos, 1);
    }
}

TEST_F(OutboxTest, AcknowledgedEntriesLeaveAndBytesAreCounted) {
    auto box = open();
    auto recs = records(0, 10);
    uint64_t bytes = 0;
    for (const auto& r : recs) bytes += r.topic.size() + r.payload.size();
    ASSERT_TRUE(box->commit(recs, {}));
    EXPECT_EQ(box->bytes(), bytes);
    std::vector<uint64_t> acked = {1, 2, 5, 99};  // 99 does not exist: ignored
    ASSERT_TRUE(box->commit({}, acked));
    EXPECT_EQ(box->messages(), 7u);
    EXPECT_EQ(box->bytes(), bytes - recs[0].topic.size() - recs[0].payload.size() - recs[1].topic.size() -
                                recs[1].payload.size() - recs[4].topic.size() - recs[4].payload.size());
    auto entries = all(*box);
    ASSERT_EQ(entries.size(), 7u);
    EXPECT_EQ(entries.front().seq, 3u);
    std::vector<uint64_t> rest;
    for (const auto& e : entries) rest.push_back(e.seq);
    ASSERT_TRUE(box->commit({}, rest));
    EXPECT_EQ(box->messages(), 0u);
    EXPECT_EQ(box->bytes(), 0u);
    EXPECT_FALSE(box->oldest_ts());
}

// Acknowledgements are deleted in runs of consecutive numbers: out of order,
// repeated or around entries still in flight, exactly those named go.
TEST_F(OutboxTest, AcknowledgementsInAnyOrderDeleteExactlyThoseNamed) {
    auto box = open();
    auto recs = records(0, 10);
    ASSERT_TRUE(box->commit(recs, {}));
    std::vector<uint64_t> acked = {7, 3, 4, 4, 10, 9, 1, 12};
    ASSERT_TRUE(box->commit({}, acked));
    std::vector<uint64_t> left;
    uint64_t bytes = 0;
    for (const auto& e : all(*box)) {
        left.push_back(e.seq);
        bytes += e.size();
    }
    EXPECT_EQ(left, (std::vector<uint64_t>{2, 5, 6, 8}));
    EXPECT_EQ(box->messages(), 4u);
    EXPECT_EQ(box->bytes(), bytes);
}

TEST_F(OutboxTest, LoadPagesFromAfterASequenceNumber) {
    auto box = open();
    auto recs = records(0, 30);
    ASSERT_TRUE(box->commit(recs, {}));
    std::vector<OutboxEntry> page;
    ASSERT_TRUE(box->load(10, 5, page));
    ASSERT_EQ(page.size(), 5u);
    EXPECT_EQ(page.front().seq, 11u);
    EXPECT_EQ(page.back().seq, 15u);
}

TEST_F(OutboxTest, DropOldestSparesWhatWasSentAndCountsExactly) {
    auto box = open();
    auto recs = records(0, 20);
    ASSERT_TRUE(box->commit(recs, {}));
    const uint64_t each = recs[5].topic.size() + recs[5].payload.size();  // "t/5" + "payload-5", as t/6, t/7
    uint64_t last = 0;
    // Entries 1..5 were sent: never dropped. Free room for three entries of the rest.
    auto d = box->drop_oldest(5, 3 * each - 1, last);
    ASSERT_TRUE(d) << d.error();
    EXPECT_EQ(d->messages, 3u);
    EXPECT_EQ(last, 8u);
    auto entries = all(*box);
    ASSERT_EQ(entries.size(), 17u);
    EXPECT_EQ(entries[4].seq, 5u);
    EXPECT_EQ(entries[5].seq, 9u);
    EXPECT_EQ(box->messages(), 17u);
}

TEST_F(OutboxTest, DropOlderThanRemovesAPrefixByAge) {
    auto box = open();
    auto recs = records(0, 600, 1000);  // ts 1000..1599, more than one page of 256
    ASSERT_TRUE(box->commit(recs, {}));
    uint64_t last = 0;
    auto d = box->drop_older_than(0, 1500, last);
    ASSERT_TRUE(d) << d.error();
    EXPECT_EQ(d->messages, 500u);
    EXPECT_EQ(last, 500u);
    EXPECT_EQ(box->oldest_ts(), 1500);
    EXPECT_EQ(box->messages(), 100u);
}

TEST_F(OutboxTest, AFileThatIsNotADatabaseIsMovedAside) {
    {
        std::ofstream f(path_);
        for (int i = 0; i < 100; ++i) f << "definitely not sqlite ";
    }
    auto box = open();
    ASSERT_TRUE(box);
    EXPECT_NE(box->recovered_from().find(".corrupt-"), std::string::npos) << box->recovered_from();
    EXPECT_EQ(box->messages(), 0u);
    auto recs = records(0, 3);
    EXPECT_TRUE(box->commit(recs, {}));
}

TEST_F(OutboxTest, EmptyPayloadsRoundTrip) {
    auto box = open();
    std::vector<OutboxRecord> recs = {OutboxRecord{"t/empty", {}, 0, true, 5}};
    ASSERT_TRUE(box->commit(recs, {}));
    auto entries = all(*box);
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].topic(), "t/empty");
    EXPECT_TRUE(entries[0].payload().empty());
    EXPECT_TRUE(entries[0].retain);
    EXPECT_EQ(entries[0].qos, 0);
}

}  // namespace
