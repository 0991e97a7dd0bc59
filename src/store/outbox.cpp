#include "store/outbox.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>

namespace ib::store {
namespace {

// auto_vacuum must precede the table: it only takes effect on an empty file.
// The topic is a BLOB so that length() counts bytes, as max_queue_bytes does.
// synchronous=NORMAL in WAL mode: a commit survives the process being killed;
// after a power cut the last commits before the checkpoint may be lost. The WAL
// is cut back to 1 MiB after each checkpoint, so a busy queue does not keep 4 MiB.
constexpr const char* kSchema =
    "PRAGMA auto_vacuum=INCREMENTAL;"
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA journal_size_limit=1048576;"
    "CREATE TABLE IF NOT EXISTS outbox ("
    "  seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, flags INTEGER NOT NULL,"
    "  topic BLOB NOT NULL, payload BLOB NOT NULL);";

constexpr const char* kSize = "length(topic) + length(payload)";

int flags_of(uint8_t qos, bool retain) { return qos | (retain ? 4 : 0); }

constexpr uint64_t kGiveBackAbove = 16u << 20;

}  // namespace

std::expected<std::unique_ptr<Outbox>, std::string> Outbox::open(const std::string& path) {
    auto box = std::unique_ptr<Outbox>(new Outbox(path));
    auto file = open_or_move_aside(path, kSchema);
    if (!file) return std::unexpected(file.error());
    box->db_ = file->db;
    box->moved_aside_ = std::move(file->moved_aside);
    if (auto r = box->prepare(); !r) return std::unexpected(r.error());
    sqlite3* checkpoint_db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &checkpoint_db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        std::string why = checkpoint_db ? sqlite3_errmsg(checkpoint_db) : "out of memory";
        sqlite3_close(checkpoint_db);
        return std::unexpected(path + ": cannot open for checkpoints: " + why);
    }
    // The writer no longer checkpoints as it commits; the thread does.
    sqlite3_exec(box->db_, "PRAGMA wal_autocheckpoint=0;", nullptr, nullptr, nullptr);
    box->checkpointer_ = std::thread([b = box.get(), checkpoint_db] { b->checkpoint_loop(checkpoint_db); });
    return box;
}

Outbox::~Outbox() {
    {
        std::lock_guard lock(checkpoint_mutex_);
        checkpoint_stop_ = true;
    }
    checkpoint_wake_.notify_one();
    if (checkpointer_.joinable()) checkpointer_.join();
    // Statements first: a connection with live statements does not close.
    for (Statement* st : {&begin_, &commit_, &rollback_, &insert_, &measure_, &delete_, &load_, &oldest_, &drop_upto_, &head_}) {
        *st = Statement();
    }
    sqlite3_close(db_);
}

std::string Outbox::error(std::string_view what) const {
    return path_ + ": " + std::string(what) + ": " + sqlite3_errmsg(db_);
}

std::expected<void, std::string> Outbox::prepare() {
    auto prepared = prepare_all(db_, path_, {
        {&begin_, "BEGIN IMMEDIATE"},
        {&commit_, "COMMIT"},
        {&rollback_, "ROLLBACK"},
        {&insert_, "INSERT INTO outbox (seq, ts, flags, topic, payload) VALUES (?, ?, ?, ?, ?)"},
        {&measure_, "SELECT count(*), coalesce(sum(length(topic) + length(payload)), 0) FROM outbox"
                    " WHERE seq >= ? AND seq <= ?"},
        {&delete_, "DELETE FROM outbox WHERE seq >= ? AND seq <= ?"},
        {&load_, "SELECT seq, ts, flags, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?"},
        {&oldest_, "SELECT ts FROM outbox ORDER BY seq LIMIT 1"},
        {&drop_upto_, "DELETE FROM outbox WHERE seq > ? AND seq <= ? RETURNING seq, length(topic) + length(payload)"},
        {&head_, "SELECT seq, ts, length(topic) + length(payload) FROM outbox WHERE seq > ? ORDER BY seq LIMIT 256"},
    });
    if (!prepared) return prepared;
    auto count = Statement::prepare(
        db_, (std::string("SELECT count(*), coalesce(sum(") + kSize + "), 0), coalesce(max(seq), 0) FROM outbox").c_str());
    if (!count) return std::unexpected(path_ + ": " + count.error());
    if (sqlite3_step(count->get()) != SQLITE_ROW) return std::unexpected(error("cannot count the queue"));
    messages_ = static_cast<uint64_t>(sqlite3_column_int64(count->get(), 0));
    bytes_ = static_cast<uint64_t>(sqlite3_column_int64(count->get(), 1));
    next_seq_ = static_cast<uint64_t>(sqlite3_column_int64(count->get(), 2)) + 1;
    high_water_bytes_ = bytes_;
    return {};
}

std::expected<Dropped, std::string> Outbox::delete_counted(Statement& del, uint64_t& last_seq) {
    Dropped d;
    int rc;
    while ((rc = sqlite3_step(del.get())) == SQLITE_ROW) {
        last_seq = std::max(last_seq, static_cast<uint64_t>(sqlite3_column_int64(del.get(), 0)));
        d.messages += 1;
        d.bytes += static_cast<uint64_t>(sqlite3_column_int64(del.get(), 1));
    }
    del.reset();
    if (rc != SQLITE_DONE) return std::unexpected(error("cannot delete"));
    return d;
}

std::expected<Dropped, std::string> Outbox::delete_run(uint64_t lo, uint64_t hi) {
    // Measured first: DELETE ... RETURNING collects its rows in memory, which
    // costs more than reading the run's lengths (record headers only) once more.
    Dropped d;
    for (Statement* st : {&measure_, &delete_}) {
        sqlite3_bind_int64(st->get(), 1, static_cast<sqlite3_int64>(lo));
        sqlite3_bind_int64(st->get(), 2, static_cast<sqlite3_int64>(hi));
    }
    const int rc = sqlite3_step(measure_.get());
    if (rc == SQLITE_ROW) {
        d.messages = static_cast<uint64_t>(sqlite3_column_int64(measure_.get(), 0));
        d.bytes = static_cast<uint64_t>(sqlite3_column_int64(measure_.get(), 1));
    }
    measure_.reset();
    if (rc != SQLITE_ROW) return std::unexpected(error("cannot measure"));
    if (d.messages == 0) return d;
    const int del = sqlite3_step(delete_.get());
    delete_.reset();
    if (del != SQLITE_DONE) return std::unexpected(error("cannot delete"));
    return d;
}

std::expected<uint64_t, std::string> Outbox::commit(std::span<const OutboxRecord> records,
                                                    std::span<const uint64_t> acked) {
    const uint64_t first = next_seq_;
    if (records.empty() && acked.empty()) return first;
    if (sqlite3_step(begin_.get()) != SQLITE_DONE) {
        begin_.reset();
        return std::unexpected(error("cannot begin a transaction"));
    }
    begin_.reset();
    auto fail = [this](std::string_view what) {
        std::string e = error(what);
        const bool full = sqlite3_errcode(db_) == SQLITE_FULL;
        sqlite3_step(rollback_.get());
        rollback_.reset();
        // On a full disk the WAL itself may hold the space: it only shrinks at a
        // checkpoint, which a failing commit never reaches. Give it back now.
        if (full) sqlite3_exec(db_, "PRAGMA wal_checkpoint(TRUNCATE);", nullptr, nullptr, nullptr);
        return std::unexpected(std::move(e));
    };
    Dropped gone;
    // Acknowledgements come mostly in sequence order: deleting runs of
    // consecutive numbers with one statement each, rather than a statement per
    // row, took a drain's delete from a third of the bridge loop's time to little.
    acked_sorted_.assign(acked.begin(), acked.end());
    std::sort(acked_sorted_.begin(), acked_sorted_.end());
    for (std::size_t i = 0; i < acked_sorted_.size();) {
        const uint64_t lo = acked_sorted_[i];
        uint64_t hi = lo;
        while (++i < acked_sorted_.size() && acked_sorted_[i] <= hi + 1) hi = acked_sorted_[i];
        auto d = delete_run(lo, hi);
        if (!d) return fail("cannot delete acknowledged messages");
        gone.messages += d->messages;
        gone.bytes += d->bytes;
    }
    uint64_t seq = first;
    uint64_t added_bytes = 0;
    for (const OutboxRecord& r : records) {
        sqlite3_stmt* st = insert_.get();
        sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(seq));
        sqlite3_bind_int64(st, 2, r.ts_ms);
        sqlite3_bind_int(st, 3, flags_of(r.qos, r.retain));
        sqlite3_bind_blob(st, 4, r.topic.data(), static_cast<int>(r.topic.size()), SQLITE_STATIC);
        // A zero-length blob with a null pointer would be stored as NULL.
        static const char empty = 0;
        const void* payload = r.payload.empty() ? &empty : static_cast<const void*>(r.payload.data());
        sqlite3_bind_blob(st, 5, payload, static_cast<int>(r.payload.size()), SQLITE_STATIC);
        int rc = sqlite3_step(st);
        insert_.reset();
        if (rc != SQLITE_DONE) return fail("cannot append to the queue");
        ++seq;
        added_bytes += r.topic.size() + r.payload.size();
    }
    if (sqlite3_step(commit_.get()) != SQLITE_DONE) {
        commit_.reset();
        return fail("cannot commit");
    }
    commit_.reset();
    // Counted only now: on any failure above nothing of the transaction happened.
    next_seq_ = seq;
    messages_ += records.size();
    bytes_ += added_bytes;
    messages_ -= std::min(messages_, gone.messages);
    bytes_ -= std::min(bytes_, gone.bytes);
    high_water_bytes_ = std::max(high_water_bytes_, bytes_);
    // Only after a backlog worth returning: a queue that empties after every
    // message must not pay a checkpoint with its fsyncs each time.
    if (messages_ == 0 && high_water_bytes_ > kGiveBackAbove) {
        give_back_space();
        high_water_bytes_ = 0;
    }
    return first;
}

void Outbox::checkpoint_loop(sqlite3* db) { run_wal_checkpoints(db, checkpoint_mutex_, checkpoint_wake_, checkpoint_stop_); }

void Outbox::give_back_space() {
    // The queue has drained: return the pages a long outage grew the file by.
    sqlite3_exec(db_, "PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);", nullptr, nullptr, nullptr);
}

std::expected<void, std::string> Outbox::load(uint64_t after, std::size_t limit, std::vector<OutboxEntry>& out) {
    sqlite3_stmt* st = load_.get();
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(after));
    sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(limit));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        OutboxEntry e;
        e.seq = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
        e.ts_ms = sqlite3_column_int64(st, 1);
        int flags = sqlite3_column_int(st, 2);
        e.qos = static_cast<uint8_t>(flags & 3);
        e.retain = (flags & 4) != 0;
        const auto* topic = static_cast<const char*>(sqlite3_column_blob(st, 3));
        int topic_len = sqlite3_column_bytes(st, 3);
        const auto* payload = static_cast<const char*>(sqlite3_column_blob(st, 4));
        int payload_len = sqlite3_column_bytes(st, 4);
        e.topic_len = static_cast<uint32_t>(topic_len);
        e.data.reserve(static_cast<std::size_t>(topic_len + payload_len));
        if (topic_len) e.data.append(topic, static_cast<std::size_t>(topic_len));
        if (payload_len) e.data.append(payload, static_cast<std::size_t>(payload_len));
        out.push_back(std::move(e));
    }
    load_.reset();
    if (rc != SQLITE_DONE) return std::unexpected(error("cannot read the queue"));
    return {};
}

std::expected<Dropped, std::string> Outbox::drop_range(uint64_t after, uint64_t upto, uint64_t& last_seq) {
    if (upto <= after) return Dropped{};
    sqlite3_bind_int64(drop_upto_.get(), 1, static_cast<sqlite3_int64>(after));
    sqlite3_bind_int64(drop_upto_.get(), 2, static_cast<sqlite3_int64>(upto));
    auto d = delete_counted(drop_upto_, last_seq);
    if (!d) return d;
    messages_ -= std::min(messages_, d->messages);
    bytes_ -= std::min(bytes_, d->bytes);
    return d;
}

uint64_t Outbox::oldest_upto_bytes(uint64_t after, uint64_t bytes) {
    // Find the boundary a page of rows at a time.
    uint64_t freed = 0;
    uint64_t upto = after;
    bool more = true;
    while (freed < bytes && more) {
        sqlite3_bind_int64(head_.get(), 1, static_cast<sqlite3_int64>(upto));
        more = false;
        int rc;
        while (freed < bytes && (rc = sqlite3_step(head_.get())) == SQLITE_ROW) {
            upto = static_cast<uint64_t>(sqlite3_column_int64(head_.get(), 0));
            freed += static_cast<uint64_t>(sqlite3_column_int64(head_.get(), 2));
            more = true;
        }
        head_.reset();
    }
    return upto;
}

uint64_t Outbox::oldest_upto_age(uint64_t after, int64_t cutoff_ms) {
    // Sequence order is taking order, so the old entries are a prefix: stop at
    // the first one young enough.
    uint64_t upto = after;
    bool whole_page_old = true;
    while (whole_page_old) {
        sqlite3_bind_int64(head_.get(), 1, static_cast<sqlite3_int64>(upto));
        int rows = 0;
        int rc;
        whole_page_old = false;
        while ((rc = sqlite3_step(head_.get())) == SQLITE_ROW) {
            ++rows;
            if (sqlite3_column_int64(head_.get(), 1) >= cutoff_ms) break;
            upto = static_cast<uint64_t>(sqlite3_column_int64(head_.get(), 0));
            if (rows == 256) whole_page_old = true;
        }
        head_.reset();
    }
    return upto;
}

std::expected<Dropped, std::string> Outbox::drop_oldest(uint64_t after, uint64_t bytes, uint64_t& last_seq) {
    return drop_range(after, oldest_upto_bytes(after, bytes), last_seq);
}

std::expected<Dropped, std::string> Outbox::drop_older_than(uint64_t after, int64_t cutoff_ms, uint64_t& last_seq) {
    return drop_range(after, oldest_upto_age(after, cutoff_ms), last_seq);
}

std::optional<int64_t> Outbox::oldest_ts() {
    std::optional<int64_t> out;
    if (sqlite3_step(oldest_.get()) == SQLITE_ROW) out = sqlite3_column_int64(oldest_.get(), 0);
    oldest_.reset();
    return out;
}

uint64_t Outbox::file_bytes() const {
    std::error_code ec;
    uint64_t total = 0;
    for (const char* suffix : {"", "-wal"}) {
        auto n = std::filesystem::file_size(path_ + suffix, ec);
        if (!ec) total += n;
    }
    return total;
}

}  // namespace ib::store
