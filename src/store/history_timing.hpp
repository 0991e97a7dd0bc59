// How long the history's writer holds its thread per transaction, by kind: a
// histogram of wall-clock time and the CPU time spent, so that a burst (one long
// transaction while the broker's loops need the core) shows in /metrics and in
// bench/micro/history_bench.cpp, not only as the thread's average share.
// Written by the writer thread, read by collect_metrics on the history's loop.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "core/metrics.hpp"

namespace ib::store {

enum class HistoryTxn : uint8_t {
    Batch,       // a commit's raw points, new series and closed minutes
    Move,        // recent into raw (a slice of it, or all of it)
    Retention,   // the per-minute deletes past each table's retention
    Cap,         // the size cap's cuts
    Checkpoint,  // a WAL checkpoint run by the writer between transactions
};

class HistoryTimes {
public:
    static constexpr int kKinds = 5;
    // Upper bounds of the wall-clock buckets, in ms; one more bucket holds the rest.
    static constexpr std::array<double, 9> kBoundsMs = {0.5, 1, 2, 5, 10, 20, 50, 100, 250};

    // Times what runs between its construction and its end.
    class Scope {
    public:
        Scope(HistoryTimes& times, HistoryTxn kind);
        ~Scope();
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

    private:
        HistoryTimes& times_;
        HistoryTxn kind_;
        int64_t wall0_ns_, cpu0_ns_;
    };

    void record(HistoryTxn kind, int64_t wall_ns, int64_t cpu_ns);
    // Prometheus histogram samples: ib_history_transaction_seconds_{bucket,sum,count}
    // and ib_history_transaction_cpu_seconds_total, labelled by kind.
    void collect(MetricSink& sink) const;
    // One line per kind that ran: count, buckets, max and CPU (for benchmarks).
    std::string summary() const;

private:
    struct PerKind {
        std::array<std::atomic<uint64_t>, kBoundsMs.size() + 1> buckets{};
        std::atomic<uint64_t> count{0};
        std::atomic<int64_t> wall_ns{0}, cpu_ns{0}, max_wall_ns{0};
    };
    std::array<PerKind, kKinds> kinds_{};
};

}  // namespace ib::store
