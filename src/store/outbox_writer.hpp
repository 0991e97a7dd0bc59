// A disk queue (store/outbox) on a thread of its own, for a consumer that may be
// away: a bridge's upstream broker, a rule's PostgreSQL. Appends, acknowledged
// deletes, the caps' drops and the loading of pages to send all run there, one
// job at a time in the order the owner's loop submitted them, and what came of
// each is handed back on that loop with the file's figures after it
// (QueueFacts). So the loop keeps its mirror of the queue from those results and
// never touches SQLite nor waits for the disk. Asio stays in the .cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "mqtt/broker/router.hpp"
#include "store/outbox.hpp"
#include "store/writer_thread.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::store {

// Messages taken and not yet committed: topic and payload back to back in
// `arena`, so a batch costs two allocations however many messages it holds.
struct StagedBatch {
    struct Item {
        uint32_t off = 0, topic_len = 0, payload_len = 0;
        uint8_t qos = 0;
        bool retain = false;
        int64_t ts_ms = 0;  // Unix milliseconds, when it was taken
    };
    std::string arena;
    std::vector<Item> items;

    bool empty() const { return items.empty(); }
    std::size_t size() const { return items.size(); }
    std::size_t bytes() const { return arena.size(); }
    std::string_view topic(const Item& i) const { return std::string_view(arena).substr(i.off, i.topic_len); }
    Bytes payload(const Item& i) const {
        return as_bytes(std::string_view(arena).substr(i.off + i.topic_len, i.payload_len));
    }
    void add(std::string_view topic, Bytes payload, uint8_t qos, bool retain, int64_t ts_ms);
    // Keeps the capacity, for the next batch.
    void clear();
    // Moves the first `n` items to the end of `to`.
    void move_front_to(std::size_t n, StagedBatch& to);
    // Puts `older` before what this holds (a failed commit's messages go back
    // ahead of those taken since, so the order stays the taking order).
    void prepend(StagedBatch&& older);
};

// The queue file's figures after the last job whose result the loop has handled.
struct QueueFacts {
    uint64_t messages = 0;
    uint64_t bytes = 0;
    uint64_t next_seq = 1;  // the seq the next appended message gets
    uint64_t file_bytes = 0;  // the database and its WAL
    std::optional<int64_t> oldest_ts;
};

struct CommitResult {
    // The seq given to the batch's first message, or why nothing of the job
    // was written (the batch and the acknowledgements come back to be retried).
    std::expected<uint64_t, std::string> first;
    StagedBatch batch;
    std::vector<uint64_t> acked;  // emptied when written
    // What the byte cap (drop-oldest) dropped after the commit, up to which seq,
    // or why it could not.
    Dropped capped;
    uint64_t capped_upto = 0;
    std::string cap_error;
};

struct LoadResult {
    std::expected<void, std::string> status;
    std::vector<OutboxEntry> page;  // oldest first
    uint64_t loaded_upto = 0;  // every entry up to this seq is in `page`, or was before `after`
};

struct DropResult {
    std::expected<Dropped, std::string> dropped;
    uint64_t upto = 0;  // the highest seq dropped
};

class OutboxWriter {
public:
    // Run on the loop, in the order the jobs were submitted.
    struct Events {
        std::function<void(CommitResult&)> committed;
        std::function<void(LoadResult&)> loaded;
        std::function<void(DropResult&)> aged;
    };
    // Opens the queue at `path` (on the calling thread, at set-up) and starts
    // the thread `thread_name`. `cap_bytes`: after each commit the oldest unsent
    // entries are dropped until the queue holds at most that (0: no such cap).
    static std::expected<std::unique_ptr<OutboxWriter>, std::string> open(const std::string& path,
                                                                          std::string thread_name,
                                                                          boost::asio::io_context& loop,
                                                                          uint64_t cap_bytes, Events events);
    // Runs what is queued, then closes the file. Results not handled are lost.
    ~OutboxWriter();
    OutboxWriter(const OutboxWriter&) = delete;
    OutboxWriter& operator=(const OutboxWriter&) = delete;

    // ---- on the loop
    const QueueFacts& facts() const { return facts_; }
    const std::string& recovered_from() const { return recovered_from_; }
    // Jobs submitted whose result has not been handled yet.
    std::size_t jobs() const { return jobs_; }

    // One transaction: deletes `acked`, appends `batch`; then the byte cap. The
    // `tickets` are completed on the writer thread once the transaction has
    // returned, after its result was handed to the loop: a publisher that has its
    // PUBACK finds the message counted in the bridge's status.
    // `behind`: the caller's previous commit has not come back yet. The writer
    // runs this one right after it, without a round trip through the loop; should
    // that one fail, this one comes back untried (failed, its batch returned), so
    // the caller can put both back in order and retry them with a commit that is
    // not behind.
    void commit(StagedBatch batch, std::vector<uint64_t> acked, std::vector<mqtt::broker::DurableTicket> tickets,
                bool behind = false);
    // Up to `limit` entries after `after`.
    void load(uint64_t after, std::size_t limit);
    // Drops the unsent entries taken before `cutoff_ms`.
    void drop_older_than(int64_t cutoff_ms);
    // Waits for every job submitted, then handles their results now (shutdown).
    void finish();

    // The sender and the caps agree under one lock: a cap never drops what was
    // sent, and the sender never sends what a cap is dropping. Held while a
    // pump sends, never while SQLite runs.
    class Sending {
    public:
        explicit Sending(OutboxWriter& w) : w_(w), lock_(w.fence_mutex_) {}
        // Whether a cap on the writer thread is dropping this entry: skip it.
        bool dropped(uint64_t seq) const { return seq <= w_.dropping_upto_; }
        void sent(uint64_t seq) { w_.sent_upto_ = seq; }

    private:
        OutboxWriter& w_;
        std::lock_guard<std::mutex> lock_;
    };
    Sending sending() { return Sending(*this); }

    // ---- any thread
    // Whether the last commit failed (its messages wait in memory on the loop).
    bool failing() const { return failing_.load(std::memory_order_acquire); }

private:
    struct Mailbox;
    struct Done;
    OutboxWriter(boost::asio::io_context& loop, uint64_t cap_bytes, Events events);
    void submit(std::function<void()> job);
    void run_commit(StagedBatch& batch, std::vector<uint64_t>& acked);
    // Drops (after the last sent, upto] once the sender agreed; `upto` found
    // by `find` from the last sent.
    std::expected<Dropped, std::string> drop_unsent(const std::function<uint64_t(uint64_t after)>& find,
                                                          uint64_t& last_seq);
    QueueFacts facts_now(bool deleted);
    void hand_back(Done&& done);
    void handle(Done& done);

    boost::asio::io_context& loop_;
    const uint64_t cap_bytes_;
    Events events_;
    std::unique_ptr<Outbox> box_;
    std::string recovered_from_;
    QueueFacts facts_;
    std::size_t jobs_ = 0;
    // The writer thread's own: the records handed to Outbox::commit, and the
    // oldest timestamp, read again after a delete or once the queue is not empty.
    std::vector<OutboxRecord> records_;
    std::optional<int64_t> oldest_ts_;
    // The last commit failed: commits behind it come back untried.
    bool refusing_ = false;
    std::string refused_because_;
    // The file's size, read again at most every kFileBytesEvery: two stat calls
    // per commit were a tenth of the writer's time when each held one message.
    uint64_t file_bytes_ = 0;
    std::optional<std::chrono::steady_clock::time_point> file_bytes_read_;
    std::atomic<bool> failing_{false};
    std::mutex fence_mutex_;
    uint64_t sent_upto_ = 0;      // the highest seq sent
    uint64_t dropping_upto_ = 0;  // the highest seq a cap took (or is taking) away
    std::shared_ptr<Mailbox> mailbox_;
    // Last: destroyed first, it runs the jobs still queued, which use the above.
    std::unique_ptr<WriterThread> thread_;
};

}  // namespace ib::store
