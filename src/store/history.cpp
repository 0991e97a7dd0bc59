#include "store/history.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <pthread.h>
#include <simdjson.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <limits>
#include <optional>

#include "core/clock.hpp"
#include "core/assert.hpp"
#include "core/bytes.hpp"
#include "core/log.hpp"
#include "core/room.hpp"
#include "mqtt/broker/router.hpp"
#include "net/loop_check.hpp"

namespace ib::store {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 3'600'000;
constexpr const char* kTableNames[3] = {"raw", "minute", "hour"};
// The smallest slice the size cap deletes from a table at a time: one bucket
// for the aggregates, a second of raw points.
constexpr int64_t kSliceMs[3] = {1000, kMinuteMs, kHourMs};

// Rows are kept small: the (device, tag) pair is a series id, raw rows are
// (series, ts, value) in a table clustered on its key. REAL stores an integral
// value as an integer, so counters and booleans take a byte or two.
// auto_vacuum must precede the first table; it lets the cap give pages back to
// the file system. A commit touches the newest leaf of every series: 16 MiB of
// cache keeps those between commits (with the 2 MiB default, 1,000 series
// inserted about 15 % slower in bench/micro/history_bench.cpp). The schema is the first read of the file (a foreign file fails here).
constexpr const char* kSchema =
    "PRAGMA auto_vacuum=INCREMENTAL;"
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA journal_size_limit=16777216;"
    "PRAGMA cache_size=-16384;"
    "CREATE TABLE IF NOT EXISTS series ("
    "  id INTEGER PRIMARY KEY, device TEXT NOT NULL, tag TEXT NOT NULL, UNIQUE (device, tag));"
    // The newest raw points, in arrival order: a commit appends to its last
    // pages instead of touching a leaf of `raw` per series; moved into `raw`, in
    // key order, every kMoveEveryMs (History::move_recent).
    "CREATE TABLE IF NOT EXISTS recent (series INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS raw ("
    "  series INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,"
    "  PRIMARY KEY (series, ts)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS minute ("
    "  series INTEGER NOT NULL, ts INTEGER NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL, total REAL NOT NULL,"
    "  n INTEGER NOT NULL, last REAL NOT NULL, last_ts INTEGER NOT NULL,"
    "  PRIMARY KEY (series, ts)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS hour ("
    "  series INTEGER NOT NULL, ts INTEGER NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL, total REAL NOT NULL,"
    "  n INTEGER NOT NULL, last REAL NOT NULL, last_ts INTEGER NOT NULL,"
    "  PRIMARY KEY (series, ts)) WITHOUT ROWID;"
    // Per series: the minute and hour rows hold every raw point before `until`
    // (History::Series says why and how the rest is found again).
    "CREATE TABLE IF NOT EXISTS aggregated (series INTEGER PRIMARY KEY, until INTEGER NOT NULL);";
// PRAGMA user_version of a file whose `aggregated` table is kept; a file of an
// earlier version had every raw point aggregated at each commit.
constexpr int kFormatVersion = 1;

// The stored row holds everything seen before; `excluded` is a delta of points
// not yet in it.
#define IB_HISTORY_UPSERT(table)                                                                      \
    "INSERT INTO " table " (series, ts, lo, hi, total, n, last, last_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)" \
    " ON CONFLICT (series, ts) DO UPDATE SET lo = min(lo, excluded.lo), hi = max(hi, excluded.hi),"      \
    " total = total + excluded.total, n = n + excluded.n,"                                                \
    " last = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last ELSE last END,"                    \
    " last_ts = max(last_ts, excluded.last_ts)"

// Entries a commit's lists keep room for; a larger burst gives its room back.
constexpr std::size_t kKeptEntries = 1024;

int64_t floor_to(int64_t ts, int64_t width) {
    int64_t q = ts / width;
    if (ts % width != 0 && ts < 0) --q;
    return q * width;
}

}  // namespace

// Readings waiting for the writer beyond this are refused and counted: a disk
// that cannot keep up must not grow the process without bound (at 100k
// values/s in readings of 1,000 values, this is 100 s of them).
constexpr std::size_t kMaxInbox = 10'000;

static int64_t steady_ns(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct History::Runtime {
    simdjson::dom::parser parser;  // the writer's (or the caller's, when not started)
    boost::asio::io_context* io = nullptr;
    mqtt::broker::Router* router = nullptr;
    mqtt::broker::SubscriberId subscription = 0;
    // Cleared by stop(): a delivery already queued on the loop then does nothing.
    std::shared_ptr<bool> alive = std::make_shared<bool>(true);

    // Between the loop and the writer thread.
    std::mutex mutex;
    std::condition_variable wake;
    std::vector<std::pair<mqtt::broker::MessageRef, int64_t>> inbox;  // with the wall time of arrival
    std::vector<std::function<void()>> jobs;                             // queries
    bool stopping = false;
    std::thread writer;
    // When the inbox or the jobs last went from empty to waiting, or were
    // last taken from: the rescuer's measure of a stalled writer.
    std::chrono::steady_clock::time_point pending_since{};

    // The rescuer (only beside a writer at idle priority): while anything else
    // keeps every core busy, a SCHED_IDLE thread gets next to no CPU, and an
    // unprivileged one cannot leave that policy. So a second thread at normal
    // priority sleeps until the writer has left work waiting for rescue_after,
    // then does the writer's turns itself for a while. Whoever does a turn
    // holds `turn` (the SQLite file and everything the writer owns); `rescuing`
    // says whose turns they are.
    std::thread rescuer;
    std::condition_variable rescuer_wake;
    std::atomic<bool> rescuing{false};  // written under `mutex`; a writer's turn reads it to stop early
    std::mutex turn;
    // When the turn holder's next timed step (a commit, a slice) is due, in
    // steady-clock nanoseconds; it is the rescuer's other measure.
    std::atomic<int64_t> due_ns{std::numeric_limits<int64_t>::max()};
    // A turn's scratch, kept for its capacity.
    std::vector<std::pair<mqtt::broker::MessageRef, int64_t>> turn_readings;
    std::vector<std::function<void()>> turn_jobs;

    // The loop's side: readings not yet in the inbox because the writer held
    // the mutex. A writer at idle priority may be preempted while
    // it holds it, so the loop never waits for the mutex (a try, then a retry
    // posted on the loop); only the loop touches these.
    std::vector<std::pair<mqtt::broker::MessageRef, int64_t>> waiting;
    bool retry_posted = false;
};

void History::Bucket::add(int64_t ts, double v) {
    if (count == 0) {
        lo = hi = sum = last = v;
        last_ts = ts;
        count = 1;
        return;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
    ++count;
    if (ts >= last_ts) {
        last = v;
        last_ts = ts;
    }
}

void History::Bucket::merge(const Bucket& b) {
    if (b.count == 0) return;
    if (count == 0) {
        *this = b;
        return;
    }
    lo = std::min(lo, b.lo);
    hi = std::max(hi, b.hi);
    sum += b.sum;
    count += b.count;
    if (b.last_ts >= last_ts) {
        last = b.last;
        last_ts = b.last_ts;
    }
}

History::History(std::string path, const HistoryConfig& config)
    : path_(std::move(path)), config_(config), series_(1), rt_(std::make_unique<Runtime>()) {
    rt_->inbox.reserve(256);
    raw_.reserve(kMaxBufferedPoints);
}

std::expected<std::unique_ptr<History>, std::string> History::open(std::string path, const HistoryConfig& config) {
    auto h = std::unique_ptr<History>(new History(std::move(path), config));
    if (!std::filesystem::exists(h->path_)) return h;
    if (auto r = h->connect(); !r) return std::unexpected(r.error());
    if (auto r = h->load_open_buckets(); !r) return std::unexpected(r.error());
    if (auto r = h->move_recent(); !r) return std::unexpected(r.error());
    return h;
}

History::~History() {
    stop();
    if (auto r = flush(unix_ms(), true); !r) log::error("history: last commit failed: {}", r.error());
    report_cuts(true);
    // close_v2 waits for the member Statements, finalized after this body.
    sqlite3_close_v2(file_.db);
}

std::string History::error(std::string_view what) const {
    return "history: " + std::string(what) + ": " + (file_.db ? sqlite3_errmsg(file_.db) : "no database");
}

std::expected<void, std::string> History::connect() {
    auto file = open_or_move_aside(path_, kSchema);
    if (!file) return std::unexpected("history: " + file.error());
    file_ = std::move(*file);
    // Checkpoints are the writer's own steps (kCheckpointFrames): this hook
    // replaces SQLite's automatic one and only notes the WAL's length.
    sqlite3_wal_hook(
        file_.db,
        [](void* self, sqlite3*, const char*, int frames) {
            static_cast<History*>(self)->wal_frames_ = frames;
            return SQLITE_OK;
        },
        this);
    if (auto r = prepare(); !r) return r;
    if (auto r = load_series(); !r) return r;
    if (auto r = upgrade_format(); !r) return r;
    if (auto used = used_bytes(); !used) return std::unexpected(used.error());
    return {};
}

// A file of an earlier version has every raw point in its aggregates: each
// series' watermark starts after its newest raw point's minute.
std::expected<void, std::string> History::upgrade_format() {
    auto v = Statement::prepare(file_.db, "PRAGMA user_version");
    if (!v) return std::unexpected("history: " + v.error());
    const int version = sqlite3_step(v->get()) == SQLITE_ROW ? sqlite3_column_int(v->get(), 0) : 0;
    v->reset();
    if (version >= kFormatVersion) return {};
    if (auto r = step_done(begin_, "cannot begin a transaction"); !r) return r;
    auto body = [&]() -> std::expected<void, std::string> {
        for (uint32_t id = 1; id < series_.size(); ++id) {
            auto newest = ts_of(newest_[0], id);
            if (!newest) continue;
            sqlite3_bind_int64(set_watermark_.get(), 1, id);
            sqlite3_bind_int64(set_watermark_.get(), 2, floor_to(*newest, kMinuteMs) + kMinuteMs);
            if (auto r = step_done(set_watermark_, "cannot write a watermark"); !r) return r;
        }
        if (auto r = exec(("PRAGMA user_version = " + std::to_string(kFormatVersion)).c_str()); !r) return r;
        return step_done(commit_, "cannot commit");
    };
    auto r = body();
    if (!r && !sqlite3_get_autocommit(file_.db)) (void)step_done(rollback_, "cannot roll back");
    return r;
}

std::expected<void, std::string> History::load_open_buckets() {
    closing_.clear();
    for (Series& s : series_) s = Series{};
    auto marks = Statement::prepare(file_.db, "SELECT series, until FROM aggregated");
    if (!marks) return std::unexpected("history: " + marks.error());
    int rc;
    while ((rc = sqlite3_step(marks->get())) == SQLITE_ROW) {
        const auto id = static_cast<uint32_t>(sqlite3_column_int64(marks->get(), 0));
        if (id > 0 && id < series_.size()) series_[id].aggregated_until = sqlite3_column_int64(marks->get(), 1);
    }
    if (rc != SQLITE_DONE) return std::unexpected(error("cannot read the watermarks"));
    // Points not yet moved into raw, in one pass. A kill between a sliced
    // move's insert into raw and its delete from recent leaves a point in both:
    // it is counted once, from recent.
    std::vector<RawPoint> unmoved;
    sqlite3_stmt* st = scan_recent_.get();
    recent_points_ = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ++recent_points_;
        const auto id = static_cast<uint32_t>(sqlite3_column_int64(st, 0));
        const int64_t ts = sqlite3_column_int64(st, 1);
        if (id > 0 && id < series_.size() && ts >= series_[id].aggregated_until) {
            unmoved.push_back({id, ts, sqlite3_column_double(st, 2)});
        }
    }
    scan_recent_.reset();
    if (rc != SQLITE_DONE) return std::unexpected(error("cannot read the recent raw points"));
    std::vector<RawPoint> unmoved_keys = unmoved;
    std::sort(unmoved_keys.begin(), unmoved_keys.end(), RawPoint::by_key);
    // Points past a watermark are at most a minute or two of each series: a seek each.
    st = select_[0].get();
    for (uint32_t id = 1; id < series_.size(); ++id) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, series_[id].aggregated_until);
        sqlite3_bind_int64(st, 3, std::numeric_limits<int64_t>::max());
        sqlite3_bind_int64(st, 4, std::numeric_limits<int64_t>::max());
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const RawPoint p{id, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1)};
            if (!std::binary_search(unmoved_keys.begin(), unmoved_keys.end(), p, RawPoint::by_key)) {
                aggregate(id, p.ts, p.value);
            }
        }
        select_[0].reset();
        if (rc != SQLITE_DONE) return std::unexpected(error("cannot read the raw points past a watermark"));
    }
    for (const RawPoint& p : unmoved) aggregate(p.series, p.ts, p.value);
    return {};
}

std::expected<void, std::string> History::move_recent() {
    if (recent_points_ == 0) return {};
    HistoryTimes::Scope timed(times_, HistoryTxn::Move);
    if (auto r = step_done(begin_, "cannot begin a transaction"); !r) return r;
    auto r = step_done(move_recent_, "cannot move the recent points");
    if (r) r = step_done(clear_recent_, "cannot clear the recent points");
    if (r) r = step_done(commit_, "cannot commit");
    if (!r) {
        if (!sqlite3_get_autocommit(file_.db)) (void)step_done(rollback_, "cannot roll back");
        commit_errors_.add();
        return r;
    }
    recent_points_ = 0;
    committed_.clear();
    moving_.clear();
    return {};
}

std::expected<void, std::string> History::prepare() {
    sqlite3* db = file_.db;
    auto prepared = prepare_all(db, "history", {
        {&begin_, "BEGIN"},
        {&commit_, "COMMIT"},
        {&rollback_, "ROLLBACK"},
        {&insert_series_, "INSERT INTO series (id, device, tag) VALUES (?, ?, ?)"},
        // A second reading of one tag at the same millisecond replaces the first.
        {&insert_raw_, "INSERT INTO recent (series, ts, value) VALUES (?, ?, ?)"},
        // A second reading of one tag at the same millisecond replaces the first:
        // in key order, and of equal keys the later one last.
        {&move_recent_, "INSERT OR REPLACE INTO raw (series, ts, value)"
                        " SELECT series, ts, value FROM recent ORDER BY series, ts, rowid"},
        {&clear_recent_, "DELETE FROM recent"},
        // The sliced move (history_move.cpp): rows come in key order from memory.
        {&insert_moved_, "INSERT OR REPLACE INTO raw (series, ts, value) VALUES (?, ?, ?)"},
        {&delete_moved_, "DELETE FROM recent WHERE rowid >= ? AND rowid <= ?"},
        {&expire_recent_, "DELETE FROM recent WHERE ts < ?"},
        {&select_recent_, "SELECT ts, value FROM recent WHERE series = ? AND ts >= ? AND ts <= ? ORDER BY ts, rowid"},
        {&scan_recent_, "SELECT series, ts, value FROM recent ORDER BY rowid"},
        {&upsert_minute_, IB_HISTORY_UPSERT("minute")},
        {&upsert_hour_, IB_HISTORY_UPSERT("hour")},
        {&set_watermark_, "INSERT OR REPLACE INTO aggregated (series, until) VALUES (?, ?)"},
        {&select_[0], "SELECT ts, value FROM raw WHERE series = ? AND ts >= ? AND ts <= ? ORDER BY ts LIMIT ?"},
        {&select_[1], "SELECT ts, lo, hi, total, n, last, last_ts FROM minute"
                      " WHERE series = ? AND ts >= ? AND ts <= ? ORDER BY ts LIMIT ?"},
        {&select_[2], "SELECT ts, lo, hi, total, n, last, last_ts FROM hour"
                      " WHERE series = ? AND ts >= ? AND ts <= ? ORDER BY ts LIMIT ?"},
        // Per series, so each delete and each min/max is a seek on the key.
        {&delete_before_[0], "DELETE FROM raw WHERE series = ? AND ts < ?"},
        {&delete_before_[1], "DELETE FROM minute WHERE series = ? AND ts < ?"},
        {&delete_before_[2], "DELETE FROM hour WHERE series = ? AND ts < ?"},
        {&oldest_[0], "SELECT min(ts) FROM raw WHERE series = ?"},
        {&oldest_[1], "SELECT min(ts) FROM minute WHERE series = ?"},
        {&oldest_[2], "SELECT min(ts) FROM hour WHERE series = ?"},
        {&newest_[0], "SELECT max(ts) FROM raw WHERE series = ?"},
        {&newest_[1], "SELECT max(ts) FROM minute WHERE series = ?"},
        {&newest_[2], "SELECT max(ts) FROM hour WHERE series = ?"},
        {&page_count_, "PRAGMA page_count"},
        {&freelist_count_, "PRAGMA freelist_count"},
    });
    if (!prepared) return prepared;
    auto ps = Statement::prepare(db, "PRAGMA page_size");
    if (!ps) return std::unexpected("history: " + ps.error());
    if (sqlite3_step(ps->get()) == SQLITE_ROW) page_size_ = sqlite3_column_int64(ps->get(), 0);
    return {};
}

std::expected<void, std::string> History::load_series() {
    auto st = Statement::prepare(file_.db, "SELECT id, device, tag FROM series");
    if (!st) return std::unexpected("history: " + st.error());
    int rc;
    while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
        auto id = static_cast<uint32_t>(sqlite3_column_int64(st->get(), 0));
        std::string device(reinterpret_cast<const char*>(sqlite3_column_text(st->get(), 1)),
                           static_cast<size_t>(sqlite3_column_bytes(st->get(), 1)));
        std::string tag(reinterpret_cast<const char*>(sqlite3_column_text(st->get(), 2)),
                        static_cast<size_t>(sqlite3_column_bytes(st->get(), 2)));
        if (id == 0) continue;  // never written by us; id 0 means "none" in memory
        if (series_.size() <= id) series_.resize(id + 1);
        series_count_.store(series_.size() - 1, std::memory_order_relaxed);
        ids_[device][tag] = id;
    }
    if (rc != SQLITE_DONE) return std::unexpected(error("cannot read the series"));
    return {};
}

uint32_t History::series_id(std::string_view device, std::string_view tag) {
    auto d = ids_.find(device);
    if (d == ids_.end()) d = ids_.emplace(std::string(device), NameMap<uint32_t>{}).first;
    auto t = d->second.find(tag);
    if (t != d->second.end()) return t->second;
    auto id = static_cast<uint32_t>(series_.size());
    series_.emplace_back();
    series_count_.store(series_.size() - 1, std::memory_order_relaxed);
    d->second.emplace(std::string(tag), id);
    new_series_.push_back({id, std::string(device), std::string(tag)});
    return id;
}

void History::add(std::string_view device, std::string_view tag, int64_t ts_ms, double value) {
    const uint32_t id = series_id(device, tag);
    raw_.push_back({id, ts_ms, value});
    aggregate(id, ts_ms, value);
    if (raw_.size() >= kMaxBufferedPoints) {
        if (auto r = flush(unix_ms()); !r) IB_LOG_LIMITED_WARN("{}", r.error());
    }
}

void History::aggregate(uint32_t id, int64_t ts_ms, double value) {
    Series& s = series_[id];
    const int64_t start = floor_to(ts_ms, kMinuteMs);
    Bucket point;
    point.start = start;
    point.add(ts_ms, value);
    if (ts_ms < s.aggregated_until || (s.open.count > 0 && start < s.open.start)) {
        closing_.push_back({id, point});
        return;
    }
    if (s.open.count > 0 && start > s.open.start) {
        closing_.push_back({id, s.open});
        s.open.count = 0;
    }
    s.open.merge(point);
}

void History::close_idle_buckets(int64_t now_ms, bool all) {
    for (uint32_t id = 1; id < series_.size(); ++id) {
        Bucket& b = series_[id].open;
        if (b.count > 0 && (all || now_ms >= b.start + kMinuteMs + kCloseAfterMs)) {
            closing_.push_back({id, b});
            b.count = 0;
        }
    }
}

std::expected<size_t, std::string_view> History::ingest(std::string_view payload, int64_t now_ms) {
    auto bad = [this](std::string_view why) {
        bad_messages_.add();
        return std::unexpected(why);
    };
    // parse() copies into the parser's own padded buffer, reused from one message to the next.
    simdjson::dom::element root;
    if (rt_->parser.parse(payload.data(), payload.size()).get(root)) return bad("not valid JSON");
    simdjson::dom::object obj;
    if (root.get(obj)) return bad("not a JSON object");
    std::string_view device;
    if (obj["device"].get(device) || device.empty()) return bad("no \"device\" string");
    int64_t ts = now_ms;
    simdjson::dom::element ts_element;
    if (!obj["ts"].get(ts_element)) {
        if (ts_element.get(ts)) {
            double d = 0;
            // A float ts is accepted when it is a plausible millisecond count.
            if (ts_element.get(d) || !(d >= 0 && d < 9.2e18)) return bad("\"ts\" is not a number of milliseconds");
            ts = static_cast<int64_t>(d);
        }
        if (ts < 0) return bad("\"ts\" is negative");
    }
    simdjson::dom::object values;
    if (obj["values"].get(values)) return bad("no \"values\" object");
    size_t taken = 0;
    for (auto field : values) {
        double v = 0;
        switch (field.value.type()) {
            case simdjson::dom::element_type::INT64: v = static_cast<double>(field.value.get_int64().value_unsafe()); break;
            case simdjson::dom::element_type::UINT64: v = static_cast<double>(field.value.get_uint64().value_unsafe()); break;
            case simdjson::dom::element_type::DOUBLE: v = field.value.get_double().value_unsafe(); break;
            case simdjson::dom::element_type::BOOL: v = field.value.get_bool().value_unsafe() ? 1.0 : 0.0; break;
            default: continue;  // strings, nulls, arrays and objects have no place in a numeric series
        }
        if (field.key.empty()) continue;
        add(device, field.key, ts, v);
        ++taken;
    }
    return taken;
}

std::expected<void, std::string> History::step_done(Statement& st, const char* what) {
    const int rc = sqlite3_step(st.get());
    st.reset();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return std::unexpected(error(what));
    return {};
}

std::expected<void, std::string> History::exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(file_.db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
        std::string why = std::string("history: ") + sql + ": " + (msg ? msg : "?");
        sqlite3_free(msg);
        return std::unexpected(why);
    }
    return {};
}

std::expected<void, std::string> History::upsert(Statement& st, uint32_t series, const Bucket& b) {
    sqlite3_stmt* s = st.get();
    sqlite3_bind_int64(s, 1, series);
    sqlite3_bind_int64(s, 2, b.start);
    sqlite3_bind_double(s, 3, b.lo);
    sqlite3_bind_double(s, 4, b.hi);
    sqlite3_bind_double(s, 5, b.sum);
    sqlite3_bind_int64(s, 6, b.count);
    sqlite3_bind_double(s, 7, b.last);
    sqlite3_bind_int64(s, 8, b.last_ts);
    return step_done(st, "cannot write an aggregate");
}

std::expected<void, std::string> History::write_batch() {
    HistoryTimes::Scope timed(times_, HistoryTxn::Batch);
    if (auto r = step_done(begin_, "cannot begin a transaction"); !r) return r;
    auto body = [&]() -> std::expected<void, std::string> {
        for (const NewSeries& n : new_series_) {
            sqlite3_stmt* s = insert_series_.get();
            sqlite3_bind_int64(s, 1, n.id);
            sqlite3_bind_text(s, 2, n.device.data(), static_cast<int>(n.device.size()), SQLITE_STATIC);
            sqlite3_bind_text(s, 3, n.tag.data(), static_cast<int>(n.tag.size()), SQLITE_STATIC);
            if (auto r = step_done(insert_series_, "cannot add a series"); !r) return r;
        }
        sqlite3_stmt* s = insert_raw_.get();
        batch_first_rowid_ = 0;
        for (const RawPoint& p : raw_) {
            sqlite3_bind_int64(s, 1, p.series);
            sqlite3_bind_int64(s, 2, p.ts);
            sqlite3_bind_double(s, 3, p.value);
            if (sqlite3_step(s) != SQLITE_DONE) {
                sqlite3_reset(s);
                return std::unexpected(error("cannot write a point"));
            }
            sqlite3_reset(s);
            if (batch_first_rowid_ == 0) batch_first_rowid_ = sqlite3_last_insert_rowid(file_.db);
        }
        if (auto r = write_closing(); !r) return r;
        return step_done(commit_, "cannot commit");
    };
    auto r = body();
    if (!r && !sqlite3_get_autocommit(file_.db)) (void)step_done(rollback_, "cannot roll back");
    return r;
}

// The closed minute deltas into their minute and hour rows, and the watermark
// of each series they belong to: what is before its open minute (or, with none
// open, up to the end of the newest minute written) is in the aggregates now.
std::expected<void, std::string> History::write_closing() {
    watermarks_.clear();
    for (const PendingBucket& p : closing_) {
        if (auto r = upsert(upsert_minute_, p.series, p.bucket); !r) return r;
        Bucket hour = p.bucket;
        hour.start = floor_to(hour.start, kHourMs);
        if (auto r = upsert(upsert_hour_, p.series, hour); !r) return r;
        const Series& s = series_[p.series];
        const int64_t until = s.open.count > 0 ? s.open.start : p.bucket.start + kMinuteMs;
        if (until > s.aggregated_until) watermarks_.emplace_back(p.series, until);
    }
    // Of a series' entries, the largest is the one that counts.
    std::sort(watermarks_.begin(), watermarks_.end());
    for (std::size_t i = 0; i < watermarks_.size(); ++i) {
        if (i + 1 < watermarks_.size() && watermarks_[i + 1].first == watermarks_[i].first) continue;
        sqlite3_bind_int64(set_watermark_.get(), 1, watermarks_[i].first);
        sqlite3_bind_int64(set_watermark_.get(), 2, watermarks_[i].second);
        if (auto r = step_done(set_watermark_, "cannot write a watermark"); !r) return r;
    }
    return {};
}

std::expected<void, std::string> History::flush(int64_t now_ms, bool close_all) {
    close_idle_buckets(now_ms, close_all);
    if (raw_.empty() && closing_.empty() && new_series_.empty()) {
        if (close_all && file_.db != nullptr) return move_recent();
        return {};
    }
    std::expected<void, std::string> r;
    if (file_.db == nullptr) r = connect();
    if (r) r = write_batch();
    const std::size_t written = r ? raw_.size() : 0;
    if (r) {
        for (const auto& [id, until] : watermarks_) {
            series_[id].aggregated_until = std::max(series_[id].aggregated_until, until);
        }
        // Series are new in a burst at start, and minutes close for every series
        // at once: these lists are let go after such a commit rather than kept at
        // their peak (~200 B per series, in the memory per item of issue 13).
        clear_keeping_room(new_series_, kKeptEntries);
        clear_keeping_room(closing_, kKeptEntries);
        clear_keeping_room(watermarks_, kKeptEntries);
        if (written > 0) add_run(batch_first_rowid_);
    } else {
        // The series stay queued (their ids are in memory); the points go, counted.
        commit_errors_.add();
        dropped_error_.add(raw_.size());
    }
    raw_.clear();
    if (!r) {
        // The open minutes held points of the batch that was not written: they
        // start again from what the file has.
        if (file_.db != nullptr) {
            if (auto reloaded = load_open_buckets(); !reloaded) log::error("{}", reloaded.error());
        } else {
            closing_.clear();
            for (Series& s : series_) s = Series{};
        }
        return r;
    }
    recent_points_ += static_cast<int64_t>(written);
    if (close_all || committed_.points.size() + moving_.points.size() > kMaxUnmovedPoints) r = move_recent();
    if (r && wal_frames_ >= kForcedCheckpointFrames) r = checkpoint();
    if (r) r = enforce_cap();
    // Counted once the cap is enforced too: whoever reads the metrics from
    // another thread sees the points and the file size of one finished commit.
    points_.add(written);
    return r;
}

std::expected<int64_t, std::string> History::used_bytes() {
    int64_t pages = 0, free_pages = 0;
    if (sqlite3_step(page_count_.get()) == SQLITE_ROW) pages = sqlite3_column_int64(page_count_.get(), 0);
    page_count_.reset();
    if (sqlite3_step(freelist_count_.get()) == SQLITE_ROW) free_pages = sqlite3_column_int64(freelist_count_.get(), 0);
    freelist_count_.reset();
    if (pages == 0) return std::unexpected(error("cannot read the page count"));
    db_bytes_.store(pages * page_size_, std::memory_order_relaxed);
    return (pages - free_pages) * page_size_;
}

// The min(ts) or max(ts) of one series, when it has rows.
std::optional<int64_t> History::ts_of(Statement& st, uint32_t series) {
    sqlite3_stmt* s = st.get();
    sqlite3_bind_int64(s, 1, series);
    std::optional<int64_t> out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) out = sqlite3_column_int64(s, 0);
    st.reset();
    return out;
}

std::expected<void, std::string> History::enforce_cap() {
    auto used = used_bytes();
    if (!used) return std::unexpected(used.error());
    if (*used > config_.max_bytes) {
        // What is cut first must be in raw.
        if (auto r = move_recent(); !r) return r;
        // Down to 95 % of the cap, so that the next few commits do not each pay for a cut.
        const int64_t target = config_.max_bytes - config_.max_bytes / 20;
        unreported_.cuts += 1;
        unreported_.largest = std::max(unreported_.largest, *used);
        for (int t = 0; t < 3 && *used > target; ++t) {
            // Each round cuts the oldest tenth of the table's time span (at least
            // one slice), so the loop ends after about ten rounds per table.
            for (int round = 0; round < 64 && *used > target; ++round) {
                int64_t oldest = std::numeric_limits<int64_t>::max();
                int64_t newest = std::numeric_limits<int64_t>::min();
                for (uint32_t id = 1; id < series_.size(); ++id) {
                    if (auto v = ts_of(oldest_[t], id)) oldest = std::min(oldest, *v);
                    if (auto v = ts_of(newest_[t], id)) newest = std::max(newest, *v);
                }
                if (oldest > newest) break;  // the table is empty
                const int64_t cutoff = oldest + std::max(kSliceMs[t], (newest - oldest) / 10 + 1);
                HistoryTimes::Scope timed(times_, HistoryTxn::Cap);
                if (auto r = step_done(begin_, "cannot begin a transaction"); !r) return r;
                int64_t dropped = 0;
                for (uint32_t id = 1; id < series_.size(); ++id) {
                    sqlite3_stmt* s = delete_before_[t].get();
                    sqlite3_bind_int64(s, 1, id);
                    sqlite3_bind_int64(s, 2, cutoff);
                    auto r = step_done(delete_before_[t], "cannot delete the oldest data");
                    if (!r) {
                        (void)step_done(rollback_, "cannot roll back");
                        return r;
                    }
                    dropped += sqlite3_changes(file_.db);
                }
                if (auto r = step_done(commit_, "cannot commit"); !r) {
                    (void)step_done(rollback_, "cannot roll back");
                    return r;
                }
                // Counted per committed round: a later failure must not hide what is already gone.
                dropped_cap_.add(static_cast<uint64_t>(dropped));
                unreported_.dropped[t] += dropped;
                used = used_bytes();
                if (!used) return std::unexpected(used.error());
            }
        }
        report_cuts(false);
    }
    // Pages freed inside the file are reused by later inserts; only when the file
    // itself is over the cap (after a cut, or a lowered cap) are they given back.
    if (db_bytes() > config_.max_bytes) {
        const int64_t over = (db_bytes() - config_.max_bytes + page_size_ - 1) / page_size_;
        const std::string sql = "PRAGMA incremental_vacuum(" + std::to_string(over) + ")";
        if (auto r = exec(sql.c_str()); !r) return r;
        used = used_bytes();
        if (!used) return std::unexpected(used.error());
    }
    return {};
}

// One line per second at most, summing every cut since the last line, so that
// the log accounts for each dropped point even when the cap bites at every commit.
void History::report_cuts(bool now) {
    if (unreported_.cuts == 0) return;
    const auto t = std::chrono::steady_clock::now();
    if (!now && t - unreported_.last_line < std::chrono::seconds(1)) return;
    log::warn("history: {} reached {} bytes, over history.max_bytes = {}; {} cut(s) dropped the oldest {} raw points, "
              "{} minute and {} hour aggregates (the file is {} bytes now)",
              path_, unreported_.largest, config_.max_bytes, unreported_.cuts, unreported_.dropped[0],
              unreported_.dropped[1], unreported_.dropped[2], db_bytes());
    unreported_ = Unreported{};
    unreported_.last_line = t;
}

std::expected<void, std::string> History::apply_retention(int64_t now_ms) {
    const int64_t cutoffs[3] = {
        now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(config_.raw_retention).count(),
        now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(config_.minute_retention).count(),
        now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(config_.hour_retention).count(),
    };
    HistoryTimes::Scope timed(times_, HistoryTxn::Retention);
    if (auto r = step_done(begin_, "cannot begin a transaction"); !r) return r;
    // recent is not moved first (that would be a burst of the whole move): its
    // expired rows are deleted there (a scan of at most a move's rows), and the
    // sliced move leaves out those it holds in memory (raw_cutoff_).
    sqlite3_bind_int64(expire_recent_.get(), 1, cutoffs[0]);
    if (auto r = step_done(expire_recent_, "cannot delete expired data"); !r) {
        (void)step_done(rollback_, "cannot roll back");
        return r;
    }
    const int64_t expired_recent = sqlite3_changes(file_.db);
    for (uint32_t id = 1; id < series_.size(); ++id) {
        for (int t = 0; t < 3; ++t) {
            sqlite3_stmt* s = delete_before_[t].get();
            sqlite3_bind_int64(s, 1, id);
            sqlite3_bind_int64(s, 2, cutoffs[t]);
            if (auto r = step_done(delete_before_[t], "cannot delete expired data"); !r) {
                (void)step_done(rollback_, "cannot roll back");
                return r;
            }
        }
    }
    if (auto r = step_done(commit_, "cannot commit"); !r) {
        (void)step_done(rollback_, "cannot roll back");
        return r;
    }
    recent_points_ -= expired_recent;
    raw_cutoff_ = cutoffs[0];
    return {};
}

std::expected<void, std::string> History::commit(int64_t now_ms) {
    auto r = flush(now_ms);
    report_cuts(false);
    if (file_.db != nullptr && now_ms - last_retention_ms_ >= kRetentionEveryMs) {
        last_retention_ms_ = now_ms;
        auto kept = apply_retention(now_ms);
        if (!kept) commit_errors_.add();
        if (r && !kept) r = std::move(kept);
    }
    return r;
}

std::expected<std::vector<HistoryPoint>, std::string> History::query(const HistoryQuery& q) {
    // A failed write is counted and logged by the tick; the query still reads what is there.
    if (auto r = flush(unix_ms()); !r) IB_LOG_LIMITED_WARN("{}", r.error());
    std::vector<HistoryPoint> out;
    if (file_.db == nullptr) return out;
    auto d = ids_.find(q.device);
    if (d == ids_.end()) return out;
    auto t = d->second.find(q.tag);
    if (t == d->second.end()) return out;
    const int table = static_cast<int>(q.step);
    int64_t from = q.from_ms;
    if (q.step == HistoryStep::Minute) from = floor_to(from, kMinuteMs);
    if (q.step == HistoryStep::Hour) from = floor_to(from, kHourMs);
    Statement& st = select_[table];
    sqlite3_stmt* s = st.get();
    sqlite3_bind_int64(s, 1, t->second);
    sqlite3_bind_int64(s, 2, from);
    sqlite3_bind_int64(s, 3, q.to_ms);
    sqlite3_bind_int64(s, 4, static_cast<int64_t>(std::min<size_t>(q.limit, std::numeric_limits<int64_t>::max())));
    int rc;
    if (q.step == HistoryStep::Raw) {
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back({sqlite3_column_int64(s, 0), sqlite3_column_double(s, 1)});
        st.reset();
        if (rc != SQLITE_DONE) return std::unexpected(error(std::string("cannot read ") + kTableNames[table]));
        return merge_recent(t->second, q, std::move(out));
    }
    std::vector<Bucket> rows;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        Bucket b;
        b.start = sqlite3_column_int64(s, 0);
        b.lo = sqlite3_column_double(s, 1);
        b.hi = sqlite3_column_double(s, 2);
        b.sum = sqlite3_column_double(s, 3);
        b.count = sqlite3_column_int64(s, 4);
        b.last = sqlite3_column_double(s, 5);
        b.last_ts = sqlite3_column_int64(s, 6);
        rows.push_back(b);
    }
    st.reset();
    if (rc != SQLITE_DONE) return std::unexpected(error(std::string("cannot read ") + kTableNames[table]));
    // The series' open minute is not stored yet: merged into the answer, into its
    // row or as a row of its own.
    Bucket open = series_[t->second].open;
    if (q.step == HistoryStep::Hour) open.start = floor_to(open.start, kHourMs);
    if (open.count > 0 && open.start >= from && open.start <= q.to_ms) {
        auto at = std::lower_bound(rows.begin(), rows.end(), open.start,
                                   [](const Bucket& b, int64_t ts) { return b.start < ts; });
        if (at != rows.end() && at->start == open.start) {
            at->merge(open);
        } else {
            rows.insert(at, open);
            if (rows.size() > q.limit) rows.pop_back();
        }
    }
    out.reserve(rows.size());
    for (const Bucket& b : rows) {
        HistoryPoint p{b.start, 0};
        switch (q.agg) {
            case HistoryAgg::Min: p.value = b.lo; break;
            case HistoryAgg::Max: p.value = b.hi; break;
            case HistoryAgg::Avg: p.value = b.sum / static_cast<double>(b.count); break;
            case HistoryAgg::Count: p.value = static_cast<double>(b.count); break;
            case HistoryAgg::Last: p.value = b.last; break;
        }
        out.push_back(p);
    }
    return out;
}

// Adds to points read from raw those of the series still in recent (a scan of
// at most kMovePoints rows): of two points at one millisecond, the later wins,
// as it will once they are moved.
std::expected<std::vector<HistoryPoint>, std::string> History::merge_recent(uint32_t series, const HistoryQuery& q,
                                                                            std::vector<HistoryPoint> stored) {
    if (recent_points_ == 0) return stored;
    std::vector<HistoryPoint> recent;
    sqlite3_stmt* s = select_recent_.get();
    sqlite3_bind_int64(s, 1, series);
    sqlite3_bind_int64(s, 2, q.from_ms);
    sqlite3_bind_int64(s, 3, q.to_ms);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        HistoryPoint p{sqlite3_column_int64(s, 0), sqlite3_column_double(s, 1)};
        if (!recent.empty() && recent.back().ts_ms == p.ts_ms) {
            recent.back() = p;
        } else {
            recent.push_back(p);
        }
    }
    select_recent_.reset();
    if (rc != SQLITE_DONE) return std::unexpected(error("cannot read recent"));
    if (recent.empty()) return stored;
    std::vector<HistoryPoint> out;
    out.reserve(std::min(stored.size() + recent.size(), q.limit));
    auto a = stored.begin(), b = recent.begin();
    while ((a != stored.end() || b != recent.end()) && out.size() < q.limit) {
        if (b == recent.end() || (a != stored.end() && a->ts_ms < b->ts_ms)) {
            out.push_back(*a++);
        } else {
            if (a != stored.end() && a->ts_ms == b->ts_ms) ++a;
            out.push_back(*b++);
        }
    }
    return out;
}

std::expected<void, std::string> History::start(boost::asio::io_context& io, mqtt::broker::Router& router) {
    IB_ASSERT(rt_->router == nullptr, "start() is called once, by the app");
    rt_->io = &io;
    // The handler keeps a reference to each reading for the writer: the loop
    // neither parses nor copies it.
    auto sub = router.subscribe(config_.topic, io, [rt = rt_.get(), alive = rt_->alive, this](const mqtt::broker::Message& m) {
        if (!*alive) return;
        rt->waiting.emplace_back(m.ref(), unix_ms());
        hand_over();
    });
    if (!sub) return std::unexpected("history: cannot subscribe to '" + config_.topic + "': " + sub.error());
    rt_->router = &router;
    rt_->subscription = *sub;
    next_commit_ = std::chrono::steady_clock::now() + config_.commit_interval;
    rt_->due_ns.store(steady_ns(next_commit_));
    rt_->writer = std::thread([this] {
        pthread_setname_np(pthread_self(), "ib-history");
        if (config_.idle_priority) enter_idle_priority();
        run_writer();
    });
    if (config_.idle_priority) {
        rt_->rescuer = std::thread([this] {
            pthread_setname_np(pthread_self(), "ib-history-r");
            run_rescuer();
        });
    }
    return {};
}

void History::hand_over() {
    Runtime& rt = *rt_;
    std::unique_lock lock(rt.mutex, std::try_to_lock);
    if (!lock) {
        if (!rt.retry_posted) {
            rt.retry_posted = true;
            boost::asio::post(*rt.io, [this, alive = rt.alive] {
                if (!*alive) return;
                rt_->retry_posted = false;
                hand_over();
            });
        }
        return;
    }
    const size_t room = kMaxInbox - std::min(rt.inbox.size(), kMaxInbox);
    if (rt.waiting.size() > room) {
        dropped_backlog_.add(rt.waiting.size() - room);
        rt.waiting.resize(room);
        IB_LOG_LIMITED_WARN("history: the writer is {} readings behind; readings are dropped and counted", kMaxInbox);
    }
    const bool was_empty = rt.inbox.empty();
    if (was_empty && rt.jobs.empty()) rt.pending_since = std::chrono::steady_clock::now();
    if (was_empty) {
        rt.inbox.swap(rt.waiting);
    } else {
        rt.inbox.insert(rt.inbox.end(), std::make_move_iterator(rt.waiting.begin()),
                        std::make_move_iterator(rt.waiting.end()));
    }
    rt.waiting.clear();
    lock.unlock();
    if (was_empty) rt.wake.notify_all();
}

// SCHED_IDLE: the writer takes only CPU time no other thread wants, and a
// shard that wakes up preempts it at once (nice 19 still delays it). Entering
// it needs no privilege (leaving it would); where it fails the writer stays at
// normal priority, which is only slower for the clients.
void History::enter_idle_priority() {
    sched_param param{};
    if (int e = pthread_setschedparam(pthread_self(), SCHED_IDLE, &param); e != 0)
        log::warn("history: the writer stays at normal priority ({})", std::strerror(e));
}

namespace {
// A turn takes at most this many readings (about 64,000 points of 1,000-tag
// readings), so a backlog does not hold a query or a due commit back for long.
constexpr size_t kTurnReadings = 64;
// A rescue, once started, lasts this long before the writer gets its turns
// back; twice as long each time the writer stalls again soon after (the cores
// still busy), up to the longest.
constexpr std::chrono::seconds kRescueHold{5};
constexpr std::chrono::seconds kLongestRescueHold{80};

}  // namespace

void History::wait_for_turn(std::unique_lock<std::mutex>& lock) {
    const std::chrono::steady_clock::time_point due{std::chrono::nanoseconds(rt_->due_ns.load())};
    rt_->wake.wait_until(lock, due, [&] { return rt_->stopping || !rt_->inbox.empty() || !rt_->jobs.empty(); });
}

void History::run_writer() {
    Runtime& rt = *rt_;
    const bool rescued = config_.idle_priority;  // then the rescuer, at normal priority, takes the last turn
    for (;;) {
        {
            std::unique_lock lock(rt.mutex);
            rt.wake.wait(lock, [&] { return rt.stopping || !rt.rescuing; });
            if (rt.stopping && rescued) break;
            wait_for_turn(lock);
            if (rt.stopping && rescued) break;
            if (rt.rescuing) continue;
        }
        std::lock_guard turn(rt.turn);
        if (!writer_turn(!rescued, false)) break;
    }
}

void History::run_rescuer() {
    using Clock = std::chrono::steady_clock;
    Runtime& rt = *rt_;
    Clock::time_point hold_until{};
    Clock::duration hold = kRescueHold;
    for (;;) {
        {
            std::unique_lock lock(rt.mutex);
            if (!rt.rescuing && !rt.stopping) {
                rt.rescuer_wake.wait_for(lock, config_.rescue_after / 4, [&] { return rt.stopping; });
                if (!rt.stopping) {
                    const auto now = Clock::now();
                    const bool pending = !rt.inbox.empty() || !rt.jobs.empty();
                    const int64_t late_ns = steady_ns(now) - rt.due_ns.load();
                    const auto after = std::chrono::nanoseconds(config_.rescue_after);
                    if (!(pending && now - rt.pending_since > after) && late_ns <= after.count()) continue;
                    rt.rescuing = true;
                    hold = now - hold_until < 2 * hold ? std::min<Clock::duration>(2 * hold, kLongestRescueHold)
                                                       : Clock::duration(kRescueHold);
                    hold_until = now + hold;
                    rescues_.add();
                    IB_LOG_LIMITED_WARN("history: the writer, at idle priority, got no CPU for {} ms while "
                                        "the cores were busy; its work runs at normal priority for {} s",
                                        config_.rescue_after.count(),
                                        std::chrono::duration_cast<std::chrono::seconds>(hold).count());
                }
            } else if (!rt.stopping) {
                wait_for_turn(lock);
                if (!rt.stopping && Clock::now() >= hold_until) {
                    rt.rescuing = false;
                    lock.unlock();
                    rt.wake.notify_all();
                    continue;
                }
            }
        }
        std::lock_guard turn(rt.turn);
        if (!writer_turn(true, true)) break;
    }
}

bool History::writer_turn(bool may_end, bool by_rescuer) {
    using Clock = std::chrono::steady_clock;
    bool stopping = false;
    {
        std::lock_guard lock(rt_->mutex);
        stopping = rt_->stopping && may_end;
        // At the stop, everything that came; otherwise a bounded turn.
        const size_t n = stopping ? rt_->inbox.size() : std::min(rt_->inbox.size(), kTurnReadings);
        rt_->turn_readings.assign(std::make_move_iterator(rt_->inbox.begin()),
                              std::make_move_iterator(rt_->inbox.begin() + static_cast<std::ptrdiff_t>(n)));
        rt_->inbox.erase(rt_->inbox.begin(), rt_->inbox.begin() + static_cast<std::ptrdiff_t>(n));
        rt_->turn_jobs.swap(rt_->jobs);
        rt_->pending_since = Clock::now();
    }
    size_t since_step = 0;
    auto& readings = rt_->turn_readings;
    for (auto it = readings.begin(); it != readings.end(); ++it) {
        if (!by_rescuer && rt_->rescuing.load(std::memory_order_relaxed)) {
            // The rescuer waits for this turn: what is left of it is the rescuer's.
            std::lock_guard lock(rt_->mutex);
            rt_->inbox.insert(rt_->inbox.begin(), std::make_move_iterator(it), std::make_move_iterator(readings.end()));
            rt_->jobs.insert(rt_->jobs.begin(), std::make_move_iterator(rt_->turn_jobs.begin()),
                             std::make_move_iterator(rt_->turn_jobs.end()));
            readings.clear();
            rt_->turn_jobs.clear();
            return true;
        }
        const auto& [m, at_ms] = *it;
        auto r = ingest(as_string_view(m->payload()), at_ms);
        if (!r) IB_LOG_LIMITED_WARN("history: a message on '{}' is not a reading ({}); skipped", m->topic(), r.error());
        // Behind (the next move due before this one ended, and a backlog of
        // readings keeping the writer from its steps): a slice per slice's
        // worth of points taken, or the points would pile up for a move at once.
        since_step += r.value_or(0);
        if (since_step >= kMoveSliceRows && move_behind()) {
            since_step = 0;
            background_step(unix_ms());
        }
    }
    rt_->turn_readings.clear();
    // Queries after the readings that came before them (query() flushes first).
    for (auto& job : rt_->turn_jobs) job();
    rt_->turn_jobs.clear();
    if (stopping || Clock::now() >= next_commit_) {
        // At stop the open minutes are written too: a stopped file is complete.
        if (stopping) {
            if (auto r = flush(unix_ms(), true); !r) IB_LOG_LIMITED_WARN("{}", r.error());
        }
        if (auto r = commit(unix_ms()); !r) IB_LOG_LIMITED_WARN("{}", r.error());
        next_commit_ = Clock::now() + config_.commit_interval;
    }
    if (stopping) {
        report_cuts(true);
        return false;
    }
    if (Clock::now() >= last_slice_ + kMovePause || move_behind()) {
        move_under_way_ = background_step(unix_ms());
        last_slice_ = Clock::now();
    }
    // While a move is under way, its next slice is due a pause after the
    // last one; at once when the next move is due already (the writer is
    // behind: pausing would only pile points up for a move at once).
    const auto due = !move_under_way_ ? next_commit_
                     : move_behind()  ? Clock::now()
                                      : std::min(next_commit_, last_slice_ + kMovePause);
    rt_->due_ns.store(steady_ns(due));
    return true;
}

void History::query_async(std::string device, std::string tag, HistoryQuery q, std::function<void(QueryResult)> done) {
    auto run = [this, device = std::move(device), tag = std::move(tag), q, done = std::move(done)]() mutable {
        q.device = device;
        q.tag = tag;
        QueryResult r = query(q);
        if (rt_->io == nullptr) return done(std::move(r));
        boost::asio::post(*rt_->io, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
    };
    if (!rt_->writer.joinable()) return run();
    IB_ASSERT_ON_LOOP(*rt_->io);
    {
        std::lock_guard lock(rt_->mutex);
        if (rt_->jobs.empty() && rt_->inbox.empty()) rt_->pending_since = std::chrono::steady_clock::now();
        rt_->jobs.push_back(std::move(run));
    }
    rt_->wake.notify_all();
}

void History::stop() {
    if (rt_->router == nullptr || !*rt_->alive) return;
    IB_ASSERT_ON_LOOP(*rt_->io);
    *rt_->alive = false;
    rt_->router->unsubscribe(rt_->subscription);
    {
        // Readings a retry would have handed over are the writer's last.
        std::lock_guard lock(rt_->mutex);
        rt_->inbox.insert(rt_->inbox.end(), std::make_move_iterator(rt_->waiting.begin()),
                          std::make_move_iterator(rt_->waiting.end()));
        rt_->waiting.clear();
        rt_->stopping = true;
    }
    rt_->wake.notify_all();
    rt_->rescuer_wake.notify_all();
    if (rt_->writer.joinable()) rt_->writer.join();
    if (rt_->rescuer.joinable()) rt_->rescuer.join();
}

void History::collect_metrics(MetricSink& sink) const {
    sink.push_back({"ib_history_points_total", "Points written to the history.", MetricType::Counter, "",
                    static_cast<double>(points_.get())});
    sink.push_back({"ib_history_bad_messages_total", "Messages on the history topic that were not readings.",
                    MetricType::Counter, "", static_cast<double>(bad_messages_.get())});
    sink.push_back({"ib_history_dropped_points_total",
                    "Points and aggregates removed before their retention, or never written.", MetricType::Counter,
                    "reason=\"max_bytes\"", static_cast<double>(dropped_cap_.get())});
    sink.push_back({"ib_history_dropped_points_total",
                    "Points and aggregates removed before their retention, or never written.", MetricType::Counter,
                    "reason=\"commit_error\"", static_cast<double>(dropped_error_.get())});
    sink.push_back({"ib_history_db_bytes", "Size of history.db (without its WAL).", MetricType::Gauge, "",
                    static_cast<double>(db_bytes())});
    sink.push_back({"ib_history_commit_errors_total", "History writes or deletes that failed.", MetricType::Counter,
                    "", static_cast<double>(commit_errors_.get())});
    sink.push_back({"ib_history_series", "Series (device, tag) known to the history.", MetricType::Gauge, "",
                    static_cast<double>(series_count_.load(std::memory_order_relaxed))});
    sink.push_back({"ib_history_dropped_readings_total",
                    "Readings refused, their points never written, while 10,000 waited for the history's writer.",
                    MetricType::Counter, "", static_cast<double>(dropped_backlog_.get())});
    sink.push_back({"ib_history_writer_rescues_total",
                    "Times the history's writer, at idle priority, was starved of CPU and its work was taken over at "
                    "normal priority for a while.",
                    MetricType::Counter, "", static_cast<double>(rescues_.get())});
    times_.collect(sink);
}

}  // namespace ib::store
