#include "store/history_timing.hpp"

#include <time.h>

#include <fmt/format.h>

namespace ib::store {
namespace {

constexpr const char* kKindNames[HistoryTimes::kKinds] = {"batch", "move", "retention", "cap", "checkpoint"};

int64_t now_ns(clockid_t clock) {
    timespec t{};
    clock_gettime(clock, &t);
    return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

}  // namespace

HistoryTimes::Scope::Scope(HistoryTimes& times, HistoryTxn kind)
    : times_(times), kind_(kind), wall0_ns_(now_ns(CLOCK_MONOTONIC)), cpu0_ns_(now_ns(CLOCK_THREAD_CPUTIME_ID)) {}

HistoryTimes::Scope::~Scope() {
    times_.record(kind_, now_ns(CLOCK_MONOTONIC) - wall0_ns_, now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0_ns_);
}

// One writer thread records: load-then-store keeps it free of locked instructions.
void HistoryTimes::record(HistoryTxn kind, int64_t wall_ns, int64_t cpu_ns) {
    PerKind& k = kinds_[static_cast<size_t>(kind)];
    const double ms = static_cast<double>(wall_ns) / 1e6;
    size_t b = 0;
    while (b < kBoundsMs.size() && ms > kBoundsMs[b]) ++b;
    auto bump = [](auto& a, auto n) { a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); };
    bump(k.buckets[b], uint64_t{1});
    bump(k.count, uint64_t{1});
    bump(k.wall_ns, wall_ns);
    bump(k.cpu_ns, cpu_ns);
    if (wall_ns > k.max_wall_ns.load(std::memory_order_relaxed)) k.max_wall_ns.store(wall_ns, std::memory_order_relaxed);
}

void HistoryTimes::collect(MetricSink& sink) const {
    constexpr const char* kHelp = "Wall-clock time of the history writer's transactions, by kind.";
    for (int i = 0; i < kKinds; ++i) {
        const PerKind& k = kinds_[static_cast<size_t>(i)];
        const std::string kind = fmt::format("kind=\"{}\"", kKindNames[i]);
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= kBoundsMs.size(); ++b) {
            cumulative += k.buckets[b].load(std::memory_order_relaxed);
            const std::string le = b < kBoundsMs.size() ? fmt::format("{}", kBoundsMs[b] / 1e3) : "+Inf";
            sink.push_back({"ib_history_transaction_seconds_bucket", kHelp, MetricType::Counter,
                            fmt::format("{},le=\"{}\"", kind, le), static_cast<double>(cumulative)});
        }
        sink.push_back({"ib_history_transaction_seconds_sum", kHelp, MetricType::Counter, kind,
                        static_cast<double>(k.wall_ns.load(std::memory_order_relaxed)) / 1e9});
        sink.push_back({"ib_history_transaction_seconds_count", kHelp, MetricType::Counter, kind,
                        static_cast<double>(k.count.load(std::memory_order_relaxed))});
        sink.push_back({"ib_history_transaction_cpu_seconds_total", "CPU time of the history writer's transactions.",
                        MetricType::Counter, kind,
                        static_cast<double>(k.cpu_ns.load(std::memory_order_relaxed)) / 1e9});
    }
}

std::string HistoryTimes::summary() const {
    std::string out;
    for (int i = 0; i < kKinds; ++i) {
        const PerKind& k = kinds_[static_cast<size_t>(i)];
        const uint64_t n = k.count.load(std::memory_order_relaxed);
        if (n == 0) continue;
        out += fmt::format("{:<10} n={:<6} wall mean {:.2f} max {:.1f} ms, cpu mean {:.2f} ms; ms buckets:", kKindNames[i],
                           n, static_cast<double>(k.wall_ns.load(std::memory_order_relaxed)) / 1e6 / static_cast<double>(n),
                           static_cast<double>(k.max_wall_ns.load(std::memory_order_relaxed)) / 1e6,
                           static_cast<double>(k.cpu_ns.load(std::memory_order_relaxed)) / 1e6 / static_cast<double>(n));
        for (size_t b = 0; b <= kBoundsMs.size(); ++b) {
            const uint64_t c = k.buckets[b].load(std::memory_order_relaxed);
            if (c == 0) continue;
            if (b < kBoundsMs.size()) {
                out += fmt::format(" <={}:{}", kBoundsMs[b], c);
            } else {
                out += fmt::format(" >{}:{}", kBoundsMs.back(), c);
            }
        }
        out += '\n';
    }
    return out;
}

}  // namespace ib::store
