// A bridge's disk queue: messages waiting for an upstream broker's acknowledgement,
// in one SQLite file (WAL) per bridge, oldest first. A message is taken when the
// transaction that appends it commits, and leaves only when the bridge says it was
// acknowledged, or when a cap (bytes, age) drops it, counted. Appends and deletes
// are batched into one transaction per call; every statement is prepared once.
// Single-threaded: after open(), one thread calls it, the bridge's writer thread
// (store/outbox_writer.hpp), so no event loop waits for the disk.
#pragma once

#include <cstddef>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/bytes.hpp"
#include "store/sqlite_file.hpp"

namespace ib::store {

// A message to append; views valid during the call.
struct OutboxRecord {
    std::string_view topic;
    Bytes payload;
    uint8_t qos = 0;
    bool retain = false;
    int64_t ts_ms = 0;  // Unix milliseconds, when it was taken
};

// A message read back. `data` holds the topic then the payload (one allocation).
struct OutboxEntry {
    uint64_t seq = 0;
    int64_t ts_ms = 0;
    uint8_t qos = 0;
    bool retain = false;
    uint32_t topic_len = 0;
    std::string data;

    std::string_view topic() const { return std::string_view(data).substr(0, topic_len); }
    Bytes payload() const { return as_bytes(std::string_view(data).substr(topic_len)); }
    // What counts against max_queue_bytes.
    std::size_t size() const { return data.size(); }
};

struct Dropped {
    uint64_t messages = 0;
    uint64_t bytes = 0;
};

class Outbox {
public:
    // Opens or creates `path`; a file that is not a readable database is moved
    // aside (recovered_from() says where) and an empty queue started.
    static std::expected<std::unique_ptr<Outbox>, std::string> open(const std::string& path);
    ~Outbox();
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;

    // One transaction: deletes `acked` (sequence numbers; ones already gone are
    // ignored) and appends `records`, numbered from next_seq() on. Returns the
    // first number given. On error nothing of it happened.
    std::expected<uint64_t, std::string> commit(std::span<const OutboxRecord> records,
                                                std::span<const uint64_t> acked);

    // Up to `limit` entries with seq > `after`, oldest first, appended to `out`.
    std::expected<void, std::string> load(uint64_t after, std::size_t limit, std::vector<OutboxEntry>& out);

    // Deletes the oldest entries after `after` (the ones already sent are not
    // dropped: they are on their way) until at least `bytes` have been freed or
    // none is left. Returns what went; `last_seq` is raised to the highest removed.
    std::expected<Dropped, std::string> drop_oldest(uint64_t after, uint64_t bytes, uint64_t& last_seq);
    // The same for the entries after `after` taken before `cutoff_ms`.
    std::expected<Dropped, std::string> drop_older_than(uint64_t after, int64_t cutoff_ms, uint64_t& last_seq);
    // The two halves of those, for a caller that must agree with a sender on the
    // range between finding it and deleting it: the highest seq after `after`
    // up to which the oldest entries free `bytes`, or are older than `cutoff_ms`
    // (`after` itself when none is), and the deletion of (after, upto], counted.
    uint64_t oldest_upto_bytes(uint64_t after, uint64_t bytes);
    uint64_t oldest_upto_age(uint64_t after, int64_t cutoff_ms);
    std::expected<Dropped, std::string> drop_range(uint64_t after, uint64_t upto, uint64_t& last_seq);

    // The oldest entry's ts_ms, or nullopt when empty.
    std::optional<int64_t> oldest_ts();

    uint64_t messages() const { return messages_; }
    uint64_t bytes() const { return bytes_; }
    uint64_t next_seq() const { return next_seq_; }
    // Size of the database file and its WAL, in bytes.
    uint64_t file_bytes() const;
    const std::string& path() const { return path_; }
    const std::string& recovered_from() const { return moved_aside_; }

private:
    explicit Outbox(std::string path) : path_(std::move(path)) {}
    std::expected<void, std::string> prepare();
    std::string error(std::string_view what) const;
    // Runs `del` (a DELETE ... RETURNING seq, size) and counts what it removed.
    std::expected<Dropped, std::string> delete_counted(Statement& del, uint64_t& last_seq);
    // Deletes the entries numbered lo..hi (those left of them), counted.
    std::expected<Dropped, std::string> delete_run(uint64_t lo, uint64_t hi);
    void give_back_space();
    // Checkpoints the WAL from a thread of its own, on a connection of its own:
    // a checkpoint fsyncs, and on the bridge's event loop that stalled every
    // message behind it for milliseconds.
    void checkpoint_loop(sqlite3* db);

    std::string path_;
    sqlite3* db_ = nullptr;
    std::string moved_aside_;
    Statement begin_, commit_, rollback_, insert_, measure_, delete_, load_, oldest_, drop_upto_, head_;
    uint64_t messages_ = 0;
    uint64_t bytes_ = 0;
    uint64_t next_seq_ = 1;
    uint64_t high_water_bytes_ = 0;  // since the file last gave space back
    std::vector<uint64_t> acked_sorted_;  // reused by commit()
    std::mutex checkpoint_mutex_;
    std::condition_variable checkpoint_wake_;
    bool checkpoint_stop_ = false;
    std::thread checkpointer_;
};

}  // namespace ib::store
