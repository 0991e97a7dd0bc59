// The local history's insert path, into a real history.db on disk: readings as
// the devices publish them (100 devices, 10 tags each: floats, integers and a
// bool), parsed, buffered and committed in one transaction per simulated 200 ms
// tick; also 10 devices of 1,000 tags, bench/mixed.sh's 10,000 series. Reports
// points/s (target: 100,000) in wall-clock time, since the WAL writes and
// checkpoints are part of the cost, the thread's CPU time per 100,000 points,
// and allocations per point; and on stderr, the wall and CPU time of each kind
// of the writer's transactions (HistoryTimes), where its bursts show.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <stdlib.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "store/history.hpp"

namespace ib::store {
namespace {

constexpr int kDevices = 100;
constexpr int kTagsPerDevice = 10;
// A 200 ms tick at the target rate holds 20,000 points: 2,000 messages.
constexpr int kMessagesPerTick = 2000;
constexpr int64_t kT0 = 1732200000000;  // a placeholder of the right width in the messages

// Simulated time starts at the wall clock, so readings look current to the
// store (their buckets are open, not late).
int64_t start_ts() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class TempFile {
public:
    TempFile() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "ib-history-bench-XXXXXX").string();
        dir_ = mkdtemp(tmpl.data());
    }
    ~TempFile() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::string path() const { return dir_ + "/history.db"; }

private:
    std::string dir_;
};

// One message per device; "ts" is 13 digits so the benchmark can rewrite it in place.
struct Messages {
    std::vector<std::string> payloads;
    std::vector<size_t> ts_offsets;

    explicit Messages(int devices = kDevices, int tags = kTagsPerDevice) {
        for (int d = 0; d < devices; ++d) {
            std::string m = "{\"device\":\"plc" + std::to_string(d) + "\",\"group\":\"fast\",\"ts\":";
            ts_offsets.push_back(m.size());
            m += std::to_string(kT0) + ",\"values\":{";
            for (int t = 0; t < tags; ++t) {
                if (t) m += ',';
                m += "\"tag" + std::to_string(t) + "\":";
                if (t == 0) m += "true";
                else if (t % 3 == 0) m += std::to_string(1000 + d * t);
                else m += std::to_string(20.0 + d * 0.25 + t * 0.125);
            }
            m += "},\"errors\":{}}";
            payloads.push_back(std::move(m));
        }
    }
    void set_ts(int device, int64_t ts) {
        // Room for any long long: the compiler cannot know ts keeps to 13 digits.
        char digits[24];
        std::snprintf(digits, sizeof digits, "%013lld", static_cast<long long>(ts));
        payloads[device].replace(ts_offsets[device], 13, digits);
    }
};

// This thread's user + system CPU time: on a shared machine, wall-clock rates
// move with the neighbours' load, CPU per point much less.
double thread_cpu_ms() {
    rusage ru{};
    getrusage(RUSAGE_THREAD, &ru);
    auto ms = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3; };
    return ms(ru.ru_utime) + ms(ru.ru_stime);
}

// Bytes this process has written through write() and pwrite() so far (the WAL's
// frames and the checkpoints into history.db), from /proc/self/io.
double written_bytes() {
    std::FILE* f = std::fopen("/proc/self/io", "r");
    if (f == nullptr) return 0;
    char line[128];
    double out = 0;
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::sscanf(line, "wchar: %lf", &out) == 1) break;
    }
    std::fclose(f);
    return out;
}

void report(benchmark::State& state, uint64_t points, uint64_t allocs, double cpu_ms, double written) {
    state.counters["points/s"] = benchmark::Counter(static_cast<double>(points), benchmark::Counter::kIsRate);
    state.counters["allocs/point"] = static_cast<double>(allocs) / static_cast<double>(points);
    state.counters["cpu_ms/100k"] = cpu_ms * 1e5 / static_cast<double>(points);
    state.counters["written_B/point"] = written / static_cast<double>(points);
}

// ingest() of each message, commit() every kMessagesPerTick messages: the
// whole path of a reading from the router's handler into SQLite.
void BM_HistoryIngest(benchmark::State& state) {
    TempFile tmp;
    auto opened = History::open(tmp.path(), HistoryConfig{});
    if (!opened) {
        state.SkipWithError(opened.error().c_str());
        return;
    }
    History& h = **opened;
    // Arguments: devices, tags per device (10 x 1,000 is bench/mixed.sh's plant).
    const int devices = static_cast<int>(state.range(0));
    const int tags = static_cast<int>(state.range(1));
    const int messages_per_tick = kMessagesPerTick * kTagsPerDevice / tags;
    Messages msgs(devices, tags);
    int64_t ts = start_ts();
    int device = 0, in_tick = 0;
    uint64_t points = 0;
    // Warm-up: every series exists and the buffers have grown before counting.
    for (int d = 0; d < devices; ++d) (void)h.ingest(msgs.payloads[d], ts);
    (void)h.commit(ts);
    const uint64_t before = ib::bench::allocations();
    const double cpu0 = thread_cpu_ms();
    const double written0 = written_bytes();
    for (auto _ : state) {
        msgs.set_ts(device, ts);
        auto r = h.ingest(msgs.payloads[device], ts);
        points += r.value_or(0);
        if (++device == devices) {
            device = 0;
            ts += 100;  // every device publishes every 100 ms
        }
        if (++in_tick == messages_per_tick) {
            in_tick = 0;
            if (auto c = h.commit(ts); !c) state.SkipWithError(c.error().c_str());
            // The writer thread's slices of the move between two commits; here
            // all that is due before the next (the same work, timed per slice).
            while (h.background_step(ts)) {
            }
        }
    }
    (void)h.commit(ts);
    report(state, points, ib::bench::allocations() - before, thread_cpu_ms() - cpu0, written_bytes() - written0);
    // One series' raw points over the whole run, right after a commit (what the
    // API answers): its wall-clock time.
    HistoryQuery q;
    q.device = "plc1";
    q.tag = "tag7";
    q.from_ms = 0;
    q.to_ms = ts;
    const auto t0 = std::chrono::steady_clock::now();
    auto got = h.query(q);
    const auto t1 = std::chrono::steady_clock::now();
    state.counters["query_ms"] = std::chrono::duration<double, std::milli>(t1 - t0).count();
    state.counters["query_points"] = got ? static_cast<double>(got->size()) : -1;
    // The bursts: how long each of the writer's transactions held the thread.
    std::fprintf(stderr, "history transactions, %d x %d tags:\n%s", devices, tags, h.times().summary().c_str());
}
BENCHMARK(BM_HistoryIngest)->Args({kDevices, kTagsPerDevice})->Unit(benchmark::kMicrosecond)->MinTime(2.0)->UseRealTime();
// A fixed count: the cost per point grows with the table (each series' rows
// fill leaves of their own after ~200 points), so runs compare at equal size.
// 3,000 readings of 1,000 tags: 30 s of the plant, 300 points per series.
BENCHMARK(BM_HistoryIngest)->Args({10, 1000})->Unit(benchmark::kMicrosecond)->Iterations(3000)->UseRealTime();

// add() alone: what the store costs without the JSON.
void BM_HistoryAdd(benchmark::State& state) {
    TempFile tmp;
    auto opened = History::open(tmp.path(), HistoryConfig{});
    if (!opened) {
        state.SkipWithError(opened.error().c_str());
        return;
    }
    History& h = **opened;
    std::vector<std::string> devices, tags;
    for (int d = 0; d < kDevices; ++d) devices.push_back("plc" + std::to_string(d));
    for (int t = 0; t < kTagsPerDevice; ++t) tags.push_back("tag" + std::to_string(t));
    int64_t ts = start_ts();
    int device = 0, tag = 0;
    uint64_t points = 0, in_tick = 0;
    for (const auto& d : devices) {
        for (const auto& t : tags) h.add(d, t, ts, 1);
    }
    (void)h.commit(ts);
    const uint64_t before = ib::bench::allocations();
    const double cpu0 = thread_cpu_ms();
    const double written0 = written_bytes();
    for (auto _ : state) {
        h.add(devices[device], tags[tag], ts, static_cast<double>(points % 1000) * 0.5);
        ++points;
        if (++tag == kTagsPerDevice) {
            tag = 0;
            if (++device == kDevices) {
                device = 0;
                ts += 100;
            }
        }
        if (++in_tick == kMessagesPerTick * kTagsPerDevice) {
            in_tick = 0;
            if (auto c = h.commit(ts); !c) state.SkipWithError(c.error().c_str());
        }
    }
    (void)h.commit(ts);
    report(state, points, ib::bench::allocations() - before, thread_cpu_ms() - cpu0, written_bytes() - written0);
}
BENCHMARK(BM_HistoryAdd)->Unit(benchmark::kNanosecond)->MinTime(2.0)->UseRealTime();

}  // namespace
}  // namespace ib::store
