// The move of `recent` into `raw` in slices (History::background_step). A move takes
// the points committed since the last one, which the writer also keeps in memory
// as runs sorted by key, and inserts them into raw a range of series at a time;
// only when all of them are in raw are their rows of recent deleted, a range of
// rowids at a time. So at every point of a move (and after a kill in the middle
// of one) each committed point is in recent, in raw, or in both with the same
// value: queries merge the two with recent winning, and the next open moves
// whatever is left in recent again, which changes nothing already moved.
#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "core/log.hpp"

#include "store/history.hpp"

namespace ib::store {

void History::Runs::clear() {
    points.clear();
    starts.clear();
    first_rowid = last_rowid = 0;
}

void History::add_run(int64_t first_rowid) {
    if (committed_.empty()) committed_.first_rowid = first_rowid;
    committed_.last_rowid = first_rowid + static_cast<int64_t>(raw_.size()) - 1;
    const size_t start = committed_.points.size();
    committed_.starts.push_back(start);
    committed_.points.insert(committed_.points.end(), raw_.begin(), raw_.end());
    // Stable: of two readings of one tag at one millisecond the later stays last, and wins.
    std::stable_sort(committed_.points.begin() + static_cast<std::ptrdiff_t>(start), committed_.points.end(),
                     RawPoint::by_key);
}

std::expected<void, std::string> History::checkpoint() {
    HistoryTimes::Scope timed(times_, HistoryTxn::Checkpoint);
    int frames = 0, done = 0;
    const int rc = sqlite3_wal_checkpoint_v2(file_.db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames, &done);
    wal_frames_ = 0;  // the WAL starts over at the next commit once all is copied back
    if (rc != SQLITE_OK) return std::unexpected(error("cannot checkpoint the WAL"));
    return {};
}

bool History::background_step(int64_t now_ms) {
    if (file_.db == nullptr) return false;
    if (wal_frames_ >= kCheckpointFrames) {
        if (auto r = checkpoint(); !r) IB_LOG_LIMITED_WARN("{}", r.error());
        return !moving_.empty() || !committed_.empty();
    }
    if (moving_.empty()) {
        if (committed_.empty()) return false;
        if (now_ms - last_move_ms_ < kMoveEveryMs && committed_.points.size() < static_cast<size_t>(kMovePoints)) {
            return false;
        }
        last_move_ms_ = now_ms;
        std::swap(moving_, committed_);
        committed_.clear();
        moving_next_ = moving_.starts;
        moving_inserted_ = false;
        moving_delete_from_ = moving_.first_rowid;
    }
    auto r = moving_inserted_ ? delete_slice() : insert_slice();
    if (!r) {
        // Tried again at the next step; meanwhile the points are still in recent.
        commit_errors_.add();
        IB_LOG_LIMITED_WARN("{}", r.error());
    }
    return !moving_.empty();
}

std::expected<void, std::string> History::insert_slice() {
    const auto& pts = moving_.points;
    const size_t runs = moving_.starts.size();
    auto run_end = [&](size_t i) { return i + 1 < runs ? moving_.starts[i + 1] : pts.size(); };
    // The first point left of any run has the smallest series left.
    uint32_t lo = std::numeric_limits<uint32_t>::max();
    for (size_t i = 0; i < runs; ++i) {
        if (moving_next_[i] < run_end(i)) lo = std::min(lo, pts[moving_next_[i]].series);
    }
    if (lo == std::numeric_limits<uint32_t>::max()) {
        moving_inserted_ = true;
        return delete_slice();
    }
    // Where series `hi` starts in each run, and how many points lie before it.
    auto split = [&](size_t i, uint32_t hi) {
        return static_cast<size_t>(std::lower_bound(pts.begin() + static_cast<std::ptrdiff_t>(moving_next_[i]),
                                                    pts.begin() + static_cast<std::ptrdiff_t>(run_end(i)), hi,
                                                    [](const RawPoint& p, uint32_t s) { return p.series < s; }) -
                                   pts.begin());
    };
    auto rows_below = [&](uint32_t hi) {
        size_t n = 0;
        for (size_t i = 0; i < runs; ++i) n += split(i, hi) - moving_next_[i];
        return n;
    };
    // The widest range of series [lo, hi) within kMoveSliceRows, and at least one series.
    uint32_t hi = lo + 1;
    uint64_t step_lo = hi, step_hi = static_cast<uint64_t>(series_.size());
    while (step_lo < step_hi) {
        const auto mid = static_cast<uint32_t>((step_lo + step_hi + 1) / 2);
        if (rows_below(mid) <= kMoveSliceRows) {
            step_lo = mid;
        } else {
            step_hi = mid - 1;
        }
    }
    hi = static_cast<uint32_t>(step_lo);
    slice_.clear();
    std::vector<size_t>& ends = slice_ends_;
    ends.resize(runs);
    for (size_t i = 0; i < runs; ++i) {
        ends[i] = split(i, hi);
        slice_.insert(slice_.end(), pts.begin() + static_cast<std::ptrdiff_t>(moving_next_[i]),
                      pts.begin() + static_cast<std::ptrdiff_t>(ends[i]));
    }
    // Runs in commit order, so a stable sort keeps the later of equal keys last.
    std::stable_sort(slice_.begin(), slice_.end(), RawPoint::by_key);
    HistoryTimes::Scope timed(times_, HistoryTxn::Move);
    if (auto r = step_done(begin_, "cannot begin a transaction"); !r) return r;
    auto body = [&]() -> std::expected<void, std::string> {
        sqlite3_stmt* s = insert_moved_.get();
        for (const RawPoint& p : slice_) {
            if (p.ts < raw_cutoff_) continue;  // deleted from recent by retention meanwhile
            sqlite3_bind_int64(s, 1, p.series);
            sqlite3_bind_int64(s, 2, p.ts);
            sqlite3_bind_double(s, 3, p.value);
            const int rc = sqlite3_step(s);
            sqlite3_reset(s);
            if (rc != SQLITE_DONE) return std::unexpected(error("cannot move a point"));
        }
        return step_done(commit_, "cannot commit");
    };
    auto r = body();
    if (!r) {
        if (!sqlite3_get_autocommit(file_.db)) (void)step_done(rollback_, "cannot roll back");
        return r;
    }
    moving_next_.swap(ends);
    return {};
}

std::expected<void, std::string> History::delete_slice() {
    const int64_t to = std::min(moving_.last_rowid,
                                moving_delete_from_ + static_cast<int64_t>(kMoveSliceRows) * kDeleteSliceFactor - 1);
    HistoryTimes::Scope timed(times_, HistoryTxn::Move);
    sqlite3_bind_int64(delete_moved_.get(), 1, moving_delete_from_);
    sqlite3_bind_int64(delete_moved_.get(), 2, to);
    // One statement: its own transaction.
    if (auto r = step_done(delete_moved_, "cannot delete the moved points"); !r) return r;
    recent_points_ -= sqlite3_changes(file_.db);
    moving_delete_from_ = to + 1;
    if (moving_delete_from_ > moving_.last_rowid) moving_.clear();
    return {};
}

}  // namespace ib::store
