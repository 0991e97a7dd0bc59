// Persistent MQTT sessions and retained messages (broker.persistence), in
// data_dir/sessions.db. One writer thread owns the write connection: every shard
// submits its turn's changes, the writer commits whatever has arrived in one
// transaction (so a busy broker gets bigger transactions, not more of them) and
// then runs the barriers that were waiting for those changes, which release the
// publishers' held PUBACKs. A second thread checkpoints, as in Outbox. Queued
// messages are read back per session, when its client reconnects.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/metrics.hpp"
#include "mqtt/broker/session_persistence.hpp"
#include "store/sqlite_file.hpp"

namespace ib::store {

class SessionStore final : public mqtt::broker::SessionPersistence {
public:
    // Opens or creates `path`; a file that is not a readable database is moved
    // aside (moved_aside() says where) and the store starts empty.
    static std::expected<std::unique_ptr<SessionStore>, std::string> open(const std::string& path);
    // Commits what was submitted, then stops the threads.
    ~SessionStore() override;

    const std::string& path() const { return path_; }
    const std::string& moved_aside() const { return moved_aside_; }

    std::expected<mqtt::broker::LoadedState, std::string> load() override;
    void submit(std::vector<mqtt::broker::PersistOp>& ops) override;
    void after_commit(std::function<void()> done) override;
    std::vector<mqtt::broker::StoredMessage> load_queue(uint64_t key, uint64_t below_seq) override;

    // Transactions committed and ops written, for tests and benchmarks.
    uint64_t commits() const;
    uint64_t ops_written() const;
    // Messages queued and removed within one commit, so never written.
    uint64_t rows_skipped() const;
    // Those two and the failed commits (each retried), for /metrics.
    void collect_metrics(MetricSink& sink) const;

private:
    explicit SessionStore(std::string path) : path_(std::move(path)) {}
    std::expected<void, std::string> prepare();
    std::expected<void, std::string> open_side_connections();
    void close_all();
    std::expected<void, std::string> move_aside_and_restart(const std::string& why);
    std::expected<mqtt::broker::LoadedState, std::string> read_all();
    void writer_loop();
    void checkpoint_loop(sqlite3* db);
    // One transaction; false (rolled back) on a failure, which is logged.
    bool commit(const std::vector<mqtt::broker::PersistOp>& ops);
    bool apply(const mqtt::broker::PersistOp& op);
    std::string error(std::string_view what) const;

    std::string path_;
    std::string moved_aside_;
    sqlite3* db_ = nullptr;       // the writer's (and load()'s, before the writer starts)
    sqlite3* read_db_ = nullptr;  // load_queue, under read_mutex_
    std::mutex read_mutex_;
    Statement read_queue_;

    Statement begin_, commit_, rollback_, session_, drop_session_, drop_subs_, drop_queue_, drop_incoming_, sub_add_,
        sub_del_, enqueue_, remove_, state_, inc_add_, inc_del_, retain_, meta_;
    uint64_t meta_seq_ = 0;  // highest seq and key recorded in the meta table
    uint64_t meta_key_ = 0;
    bool orphans_pending_ = false;
    // Scratch of commit(): seqs removed in the batch, and those also queued in it.
    std::unordered_set<uint64_t> removed_;
    std::unordered_set<uint64_t> settled_;  // queue rows of sessions that are gone, removed once after start

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<mqtt::broker::PersistOp> pending_;
    std::vector<std::function<void()>> barriers_;
    bool stop_ = false;
    uint64_t commits_ = 0;
    uint64_t ops_written_ = 0;
    uint64_t commit_failures_ = 0;
    uint64_t skipped_ = 0;       // under mutex_
    uint64_t batch_skipped_ = 0; // writer thread: of the last commit()
    std::thread writer_;

    std::mutex checkpoint_mutex_;
    std::condition_variable checkpoint_wake_;
    bool checkpoint_stop_ = false;
    std::thread checkpointer_;
};

}  // namespace ib::store
