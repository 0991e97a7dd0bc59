// The local history: tag readings from ib/data/# kept in SQLite (data_dir/history.db)
// as raw points and as 1-minute and 1-hour aggregates, each kept for its own age,
// the whole file capped in bytes with the oldest data going first; and the
// queries behind GET /api/v1/history. It only reads the bus; it never publishes.
// Once started, its handler on the history's loop only hands each reading (a
// reference, not a copy) to a writer thread of its own, which parses, buffers,
// writes and answers queries: no event loop waits for SQLite or an fsync.
// Without start() (tests, tools) every call runs on the caller's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/metrics.hpp"
#include "store/history_config.hpp"
#include "store/history_timing.hpp"
#include "store/sqlite_file.hpp"

namespace boost::asio {
class io_context;
}
namespace ib::mqtt::broker {
class Router;
}

namespace ib::store {

enum class HistoryStep : uint8_t { Raw, Minute, Hour };
enum class HistoryAgg : uint8_t { Avg, Min, Max, Count, Last };

struct HistoryQuery {
    std::string_view device;
    std::string_view tag;
    int64_t from_ms = 0;  // inclusive; for aggregates, the bucket holding it counts
    int64_t to_ms = 0;    // inclusive
    HistoryStep step = HistoryStep::Raw;
    HistoryAgg agg = HistoryAgg::Avg;  // ignored for Raw
    // At most this many points come back; the caller asks for one more than it
    // serves to learn that a range was too large.
    size_t limit = 100000;
};

struct HistoryPoint {
    int64_t ts_ms = 0;  // for aggregates, the start of the bucket
    double value = 0;
};

class History {
public:
    // A commit happens early when this many raw points are buffered, so a burst
    // between two ticks costs bounded memory.
    static constexpr size_t kMaxBufferedPoints = 20000;
    // Retention deletes run at most this often: they touch every series.
    static constexpr int64_t kRetentionEveryMs = 60'000;
    // A minute bucket that no newer point closed is written this long after its
    // end (by the wall clock): late points of a minute within it cost nothing
    // extra, and a kill loses nothing of it either way (see Series).
    static constexpr int64_t kCloseAfterMs = 60'000;
    // Raw points are committed into a table in arrival order (`recent`) and
    // moved into `raw`, clustered on (series, ts), this often or at this many
    // points: a series' leaf page of raw is then written once per move, with
    // ~20 new rows at 10 points/s, instead of once per commit. Queries of raw
    // read both; a kill loses nothing more than before (only uncommitted points).
    static constexpr int64_t kMoveEveryMs = 2'000;
    static constexpr int64_t kMovePoints = 200'000;
    // The move goes in slices, each its own short transaction between the
    // commits (background_step): at most this many rows inserted into raw (a range of
    // series, so a leaf of raw is still written about once per move), or this
    // many times as many rowids of recent deleted once a move's rows are all in
    // raw. One move of 200,000 rows in one transaction held the writer for
    // ~300 ms of CPU, a burst the broker's loops felt on two cores.
    static constexpr size_t kMoveSliceRows = 4'000;
    static constexpr int64_t kDeleteSliceFactor = 4;
    // The writer leaves this much time between two slices, so that the thread
    // gives its core back in between.
    static constexpr std::chrono::milliseconds kMovePause{5};
    // Committed points not yet moved beyond this (the writer far behind, or no
    // one calling background_step) are moved at once: a burst, but bounded memory.
    static constexpr size_t kMaxUnmovedPoints = 4 * kMovePoints;
    // SQLite's automatic checkpoint runs inside the commit that crosses its
    // threshold, adding its page copies to that transaction's time; it is off,
    // and a PASSIVE checkpoint runs as a step of its own once the WAL has this
    // many frames (SQLite's default threshold), or within a commit at the second.
    static constexpr int kCheckpointFrames = 1000;
    static constexpr int kForcedCheckpointFrames = 8 * kCheckpointFrames;

    // Opens `path` when it exists (loading its series); otherwise the file is
    // created at the first commit holding a point, so a node whose history never
    // sees a reading never creates one. An unreadable file is moved aside
    // (recovered_from() says where) and a new one started.
    static std::expected<std::unique_ptr<History>, std::string> open(std::string path, const HistoryConfig& config);
    ~History();
    History(const History&) = delete;
    History& operator=(const History&) = delete;

    // Subscribes to `config.topic` with its handler on `io`, and starts the
    // writer thread, which commits every `commit_interval`. After this, only
    // query_async(), stop() and collect_metrics() are called, on `io`.
    std::expected<void, std::string> start(boost::asio::io_context& io, mqtt::broker::Router& router);
    // Unsubscribes, commits what is buffered and ends the writer thread (waiting
    // for that last commit: it runs once, at shutdown). Idempotent.
    void stop();
    // A query answered after everything received so far is written; `done` runs
    // on the history's loop (at once, on the caller's thread, when not started).
    using QueryResult = std::expected<std::vector<HistoryPoint>, std::string>;
    void query_async(std::string device, std::string tag, HistoryQuery q, std::function<void(QueryResult)> done);

    // One reading message (DESIGN.md): each numeric or boolean value becomes a
    // point at the message's `ts` (`now_ms` when it has none); strings and nulls
    // are skipped. Returns the points taken, or why the message is not a reading
    // (a static string; the message is counted as bad and nothing is taken).
    std::expected<size_t, std::string_view> ingest(std::string_view payload, int64_t now_ms);
    // One point, buffered until the next commit.
    void add(std::string_view device, std::string_view tag, int64_t ts_ms, double value);
    // Writes the buffered points and the closed minutes' aggregates (see Series)
    // in one transaction, enforces max_bytes, and deletes what is past its
    // retention (at most once a minute). A failed write drops the batch,
    // counted, rather than growing without bound.
    std::expected<void, std::string> commit(int64_t now_ms);

    // One bounded piece of the work between commits: a due WAL checkpoint, or
    // else one slice of moving recent into raw (starting a move when one is due:
    // every kMoveEveryMs or kMovePoints); true while a move is under way. The
    // writer thread calls it between commits; without start(), the caller does,
    // or the points stay in recent (and are queried there) until the size cap,
    // kMaxUnmovedPoints, the stop or the next open moves them all at once, and
    // commits checkpoint when the WAL reaches kForcedCheckpointFrames.
    bool background_step(int64_t now_ms);

    // Points of one series, oldest first, after a commit so that everything
    // received so far is seen. An unknown device or tag gives no points.
    std::expected<std::vector<HistoryPoint>, std::string> query(const HistoryQuery& q);

    void collect_metrics(MetricSink& sink) const;
    // Where an unreadable file was moved, or "".
    const std::string& recovered_from() const { return file_.moved_aside; }
    // Size of history.db as SQLite sees it (the WAL not counted); 0 before it exists.
    int64_t db_bytes() const { return db_bytes_.load(std::memory_order_relaxed); }
    // The writer's transactions, timed by kind (also in collect_metrics).
    const HistoryTimes& times() const { return times_; }

private:
    // The running aggregate of some points of one series in one minute: a delta
    // that an upsert merges into the stored minute row and into its hour's row.
    struct Bucket {
        int64_t start = 0;
        int64_t count = 0;  // 0: empty
        double lo = 0, hi = 0, sum = 0, last = 0;
        int64_t last_ts = 0;
        void add(int64_t ts, double v);
        void merge(const Bucket& b);
    };
    // The stored minute and hour rows of a series hold every committed raw point
    // before `aggregated_until` (also kept in the `aggregated` table, in the same
    // transactions); its points from there on are in `open` only, a single
    // minute, written when that minute closes (a newer minute's point, or
    // kCloseAfterMs after its end) and re-read from `raw` when the file is opened
    // again after a kill. A point before `aggregated_until` (late) is merged at
    // the next commit, in the transaction of its raw row.
    struct Series {
        Bucket open;
        int64_t aggregated_until = std::numeric_limits<int64_t>::min();
    };
    struct PendingBucket {
        uint32_t series = 0;
        Bucket bucket;
    };
    struct RawPoint {
        uint32_t series = 0;
        int64_t ts = 0;
        double value = 0;

        // raw's key order: by series, then time.
        static bool by_key(const RawPoint& a, const RawPoint& b) {
            return a.series != b.series ? a.series < b.series : a.ts < b.ts;
        }
    };
    struct NewSeries {
        uint32_t id = 0;
        std::string device, tag;
    };
    struct NameHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    template <typename T>
    using NameMap = std::unordered_map<std::string, T, NameHash, std::equal_to<>>;
    struct Runtime;  // the parser, the timer and the subscription: their headers stay in the .cpp

    History(std::string path, const HistoryConfig& config);
    std::expected<void, std::string> connect();
    std::expected<void, std::string> prepare();
    std::expected<void, std::string> load_series();
    std::expected<void, std::string> upgrade_format();
    // After a kill (or a failed commit): each series' watermark from the file,
    // and its open minute re-aggregated from the raw points past it.
    std::expected<void, std::string> load_open_buckets();
    // Puts a point into its series' open minute, or into closing_ when it is late
    // or of an older minute; a point of a newer minute closes the open one.
    void aggregate(uint32_t id, int64_t ts, double value);
    // Moves to closing_ each open minute that ended kCloseAfterMs before now_ms,
    // or every one when `all` (at stop).
    void close_idle_buckets(int64_t now_ms, bool all);
    uint32_t series_id(std::string_view device, std::string_view tag);
    // The write half of commit(): one transaction, then the size cap.
    std::expected<void, std::string> flush(int64_t now_ms, bool close_all = false);
    std::expected<void, std::string> write_batch();
    std::expected<void, std::string> write_closing();
    // recent into raw, all of it in one transaction (at open, at stop, before a
    // size-cap cut); the in-memory runs of the sliced move are then done with.
    std::expected<void, std::string> move_recent();
    // A slice of the sliced move: rows of a range of series into raw, or, once
    // all are there, a range of recent's rowids deleted.
    std::expected<void, std::string> insert_slice();
    std::expected<void, std::string> delete_slice();
    // After a commit: its points, sorted by key, as a run of committed_.
    void add_run(int64_t first_rowid);
    std::expected<std::vector<HistoryPoint>, std::string> merge_recent(uint32_t series, const HistoryQuery& q,
                                                                       std::vector<HistoryPoint> stored);
    std::expected<void, std::string> upsert(Statement& st, uint32_t series, const Bucket& b);
    std::expected<void, std::string> enforce_cap();
    std::optional<int64_t> ts_of(Statement& st, uint32_t series);
    std::expected<void, std::string> apply_retention(int64_t now_ms);
    void report_cuts(bool now);
    // Pages in use, in bytes; also refreshes db_bytes_.
    std::expected<int64_t, std::string> used_bytes();
    std::expected<void, std::string> exec(const char* sql);
    std::expected<void, std::string> step_done(Statement& st, const char* what);
    std::string error(std::string_view what) const;
    // On the loop: the readings waiting go into the writer's inbox, or wait
    // for a retry while the writer holds the mutex.
    void hand_over();
    static void enter_idle_priority();
    // The writer thread's loop: readings in, queries, and a commit per interval;
    // and the rescuer's, which takes those turns while the writer is starved.
    void run_writer();
    void run_rescuer();
    // Holding the mutex: until readings or queries wait, the next timed step is
    // due, or the stop.
    void wait_for_turn(std::unique_lock<std::mutex>& lock);
    // One turn of the writer's work, under Runtime::turn: a bounded number of
    // readings, the queries, a commit when due, a step of the move. At the stop
    // (when `may_end`), everything left and the last commit; then false. The
    // writer's turn ends early, its readings put back, once a rescue begins.
    bool writer_turn(bool may_end, bool by_rescuer);

    std::string path_;
    HistoryConfig config_;
    // Between the writer's turns (writer_turn).
    std::chrono::steady_clock::time_point next_commit_{};
    bool move_under_way_ = false;
    SqliteFile file_;

    Statement begin_, commit_, rollback_;
    Statement insert_series_, insert_raw_, upsert_minute_, upsert_hour_, set_watermark_;
    Statement move_recent_, clear_recent_, select_recent_, scan_recent_;
    Statement insert_moved_, delete_moved_, expire_recent_;
    // Indexed by table: 0 raw, 1 minute, 2 hour.
    Statement select_[3], delete_before_[3], oldest_[3], newest_[3];
    Statement page_count_, freelist_count_;

    NameMap<NameMap<uint32_t>> ids_;  // device -> tag -> series id
    std::vector<Series> series_;      // by series id (0 unused)
    std::vector<PendingBucket> closing_;  // minute deltas written at the next commit
    std::vector<std::pair<uint32_t, int64_t>> watermarks_;  // a commit's new aggregated_until values
    std::vector<RawPoint> raw_;
    // Committed points in recent, in runs (one per commit) each sorted by
    // (series, ts), of equal keys the later last; the rows of recent from
    // first_rowid to last_rowid.
    struct Runs {
        std::vector<RawPoint> points;
        std::vector<size_t> starts;
        int64_t first_rowid = 0, last_rowid = 0;
        bool empty() const { return points.empty(); }
        void clear();
    };
    Runs committed_;  // not yet in a move
    Runs moving_;     // the move under way
    // Of moving_: per run, its first point not yet in raw (all there: deleting);
    // and the first rowid of recent not yet deleted.
    std::vector<size_t> moving_next_;
    bool moving_inserted_ = false;
    int64_t moving_delete_from_ = 0;
    std::vector<RawPoint> slice_;       // scratch of insert_slice
    std::vector<size_t> slice_ends_;    // likewise: per run, the end of the slice
    std::chrono::steady_clock::time_point last_slice_{};
    // Raw points before this are past retention: a move leaves them out.
    int64_t raw_cutoff_ = std::numeric_limits<int64_t>::min();
    std::vector<NewSeries> new_series_;
    int64_t page_size_ = 4096;
    std::atomic<int64_t> db_bytes_{0};      // read by collect_metrics on the loop
    std::atomic<std::size_t> series_count_{0};  // likewise: series_.size() - 1
    int64_t last_retention_ms_ = 0;
    int64_t recent_points_ = 0;  // rows in recent
    int64_t last_move_ms_ = 0;
    int64_t batch_first_rowid_ = 0;  // in recent, of write_batch's first point
    int wal_frames_ = 0;             // in the WAL after the last commit (a wal_hook sets it)
    std::expected<void, std::string> checkpoint();
    // The next move is due while one is still under way.
    bool move_behind() const { return committed_.points.size() >= static_cast<size_t>(kMovePoints); }

    // Size-cap cuts not yet in the log.
    struct Unreported {
        int64_t cuts = 0;
        int64_t dropped[3] = {0, 0, 0};
        int64_t largest = 0;
        std::chrono::steady_clock::time_point last_line{};
    } unreported_;

    std::unique_ptr<Runtime> rt_;
    HistoryTimes times_;

    LocalCounter points_;
    LocalCounter bad_messages_;
    LocalCounter dropped_cap_;
    LocalCounter dropped_error_;
    LocalCounter commit_errors_;
    LocalCounter dropped_backlog_;  // readings refused while the writer is far behind
    LocalCounter rescues_;          // times the rescuer took over a starved writer's turns
};

}  // namespace ib::store
