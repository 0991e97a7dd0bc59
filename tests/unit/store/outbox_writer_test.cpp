// A disk queue on its writer thread (a bridge's, a postgres action's): results
// come back on the loop with the file's figures, a ticket completes only once
// the commit holding its message has returned, a page loaded sees the commits submitted before it, the
// byte cap spares what the sender sent and the sender skips what it drops, and a
// batch taken apart and put back together keeps its order; a commit queued
// behind a failed one comes back untried, so nothing overtakes the failed batch.
#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <unistd.h>

#include "store/outbox_writer.hpp"

namespace {

using ib::as_bytes;
using ib::store::CommitResult;
using ib::store::DropResult;
using ib::store::LoadResult;
using ib::store::OutboxWriter;
using ib::store::StagedBatch;
using ib::mqtt::broker::DurableTicket;
using ib::mqtt::broker::TicketState;

// A ticket state that records when its last ref went.
struct CountingTicket : TicketState {
    std::atomic<bool> completed{false};
    CountingTicket() {
        done = [](TicketState* s) { static_cast<CountingTicket*>(s)->completed = true; };
    }
};

class OutboxWriterTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("ib-outbox-writer-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override {
        writer_.reset();
        std::filesystem::remove_all(dir_);
    }

    void open(uint64_t cap_bytes = 0) {
        OutboxWriter::Events ev;
        ev.committed = [this](CommitResult& r) { commits_.push_back(std::move(r)); };
        ev.loaded = [this](LoadResult& r) { loads_.push_back(std::move(r)); };
        ev.aged = [this](DropResult& r) { drops_.push_back(std::move(r)); };
        auto w = OutboxWriter::open((dir_ / "bridge-test.db").string(), "ib-test-writer", io_, cap_bytes, std::move(ev));
        ASSERT_TRUE(w) << w.error();
        writer_ = std::move(*w);
    }

    // Runs the loop until every job's result has been handled (bounded).
    void settle() {
        for (int i = 0; i < 10000 && writer_->jobs() > 0; ++i) {
            io_.restart();
            if (io_.poll() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        ASSERT_EQ(writer_->jobs(), 0u);
    }

    // Messages "t/<i>" with payload "p-<i>": 6 bytes each for i < 10.
    static StagedBatch batch(int from, int n) {
        StagedBatch b;
        for (int i = from; i < from + n; ++i) {
            const std::string topic = "t/" + std::to_string(i);
            const std::string payload = "p-" + std::to_string(i);
            b.add(topic, as_bytes(payload), 1, false, 1000 + i);
        }
        return b;
    }

    boost::asio::io_context io_;
    std::filesystem::path dir_;
    std::unique_ptr<OutboxWriter> writer_;
    std::vector<CommitResult> commits_;
    std::vector<LoadResult> loads_;
    std::vector<DropResult> drops_;
};

TEST_F(OutboxWriterTest, ACommitsResultComesBackOnTheLoopAndItsTicketCompletesAfterIt) {
    open();
    CountingTicket state;
    std::vector<DurableTicket> tickets;
    tickets.emplace_back(&state);
    // The state's own ref stands for the broker's: drop it, as a shard ends its turn.
    state.refs.fetch_sub(1);
    writer_->commit(batch(0, 5), {}, std::move(tickets));
    EXPECT_TRUE(commits_.empty()) << "a result is handled on the loop, not on the writer thread";
    settle();
    ASSERT_EQ(commits_.size(), 1u);
    ASSERT_TRUE(commits_[0].first) << commits_[0].first.error();
    EXPECT_EQ(*commits_[0].first, 1u);
    EXPECT_EQ(commits_[0].batch.size(), 5u);
    // The writer thread lets go of the tickets just after it hands the result
    // back, so the loop may have handled the result a moment before (bounded).
    for (int i = 0; i < 5000 && !state.completed; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_TRUE(state.completed);
    EXPECT_EQ(writer_->facts().messages, 5u);
    EXPECT_EQ(writer_->facts().next_seq, 6u);
    EXPECT_EQ(writer_->facts().oldest_ts, 1000);
    EXPECT_GT(writer_->facts().file_bytes, 0u);
}

TEST_F(OutboxWriterTest, APageSeesTheCommitsSubmittedBeforeIt) {
    open();
    writer_->commit(batch(0, 3), {}, {});
    writer_->load(0, 10);
    writer_->commit(batch(3, 2), {1, 2}, {});
    settle();
    ASSERT_EQ(loads_.size(), 1u);
    ASSERT_TRUE(loads_[0].status);
    ASSERT_EQ(loads_[0].page.size(), 3u);
    EXPECT_EQ(loads_[0].page[2].topic(), "t/2");
    EXPECT_EQ(loads_[0].loaded_upto, 3u);
    EXPECT_EQ(writer_->facts().messages, 3u);  // 5 appended, 2 acknowledged
    EXPECT_EQ(writer_->facts().oldest_ts, 1002);
}

TEST_F(OutboxWriterTest, TheByteCapSparesWhatWasSentAndTheSenderSkipsWhatItDrops) {
    open(5 * 6);  // room for 5 messages
    writer_->commit(batch(0, 4), {}, {});
    settle();
    {
        auto sending = writer_->sending();
        sending.sent(2);  // 1 and 2 are on their way upstream
    }
    writer_->commit(batch(4, 4), {}, {});
    settle();
    ASSERT_EQ(commits_.size(), 2u);
    EXPECT_EQ(commits_[1].capped.messages, 3u);  // 3, 4, 5: the oldest unsent
    EXPECT_EQ(commits_[1].capped_upto, 5u);
    EXPECT_EQ(writer_->facts().messages, 5u);
    auto sending = writer_->sending();
    EXPECT_TRUE(sending.dropped(5));
    EXPECT_FALSE(sending.dropped(6));
}

TEST_F(OutboxWriterTest, TheAgeCapDropsOnlyUnsentEntriesTakenBeforeTheCutoff) {
    open();
    writer_->commit(batch(0, 6), {}, {});
    settle();
    writer_->sending().sent(1);
    writer_->drop_older_than(1004);  // 1000..1003 are older; 1000 was sent
    settle();
    ASSERT_EQ(drops_.size(), 1u);
    ASSERT_TRUE(drops_[0].dropped);
    EXPECT_EQ(drops_[0].dropped->messages, 3u);
    EXPECT_EQ(drops_[0].upto, 4u);
    EXPECT_EQ(writer_->facts().oldest_ts, 1000);
}

TEST_F(OutboxWriterTest, ACommitBehindAFailedOneComesBackUntriedAndARetryWritesBothInOrder) {
    open();
    // Another connection holds the write lock: the first commit fails once its
    // busy timeout (2 s) runs out; the one behind it must not be written.
    sqlite3* other = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "bridge-test.db").c_str(), &other), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    writer_->commit(batch(0, 2), {}, {});
    writer_->commit(batch(2, 3), {}, {}, /*behind=*/true);
    settle();
    ASSERT_EQ(commits_.size(), 2u);
    EXPECT_FALSE(commits_[0].first);
    ASSERT_FALSE(commits_[1].first);
    EXPECT_EQ(commits_[1].batch.size(), 3u) << "the untried batch comes back whole";
    EXPECT_EQ(writer_->facts().messages, 0u);
    EXPECT_TRUE(writer_->failing());
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);

    // The caller puts them back in order and retries with a commit not behind.
    StagedBatch again = std::move(commits_[0].batch);
    commits_[1].batch.move_front_to(3, again);
    writer_->commit(std::move(again), {}, {});
    writer_->load(0, 10);
    settle();
    ASSERT_EQ(commits_.size(), 3u);
    ASSERT_TRUE(commits_[2].first) << commits_[2].first.error();
    EXPECT_FALSE(writer_->failing());
    ASSERT_EQ(loads_.size(), 1u);
    ASSERT_EQ(loads_[0].page.size(), 5u);
    for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(loads_[0].page[i].topic(), "t/" + std::to_string(i));
}

TEST_F(OutboxWriterTest, ABatchTakenApartAndPutBackKeepsItsOrder) {
    StagedBatch all = batch(0, 6);
    const std::string arena = all.arena;
    StagedBatch front;
    all.move_front_to(2, front);
    EXPECT_EQ(front.size(), 2u);
    EXPECT_EQ(all.size(), 4u);
    EXPECT_EQ(all.topic(all.items[0]), "t/2");
    all.prepend(std::move(front));
    ASSERT_EQ(all.size(), 6u);
    EXPECT_EQ(all.arena, arena);
    for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all.topic(all.items[i]), "t/" + std::to_string(i));
        EXPECT_EQ(ib::as_string_view(all.payload(all.items[i])), "p-" + std::to_string(i));
    }
}

}  // namespace
