// The local history's insert path, into a real history.db on disk: readings as
// the devices publish them (100 devices, 10 tags each: floats, integers and a
// bool), parsed, buffered and committed in one transaction per simulated 200 ms
// tick. Reports points/s (target: 100,000) in wall-clock time, since the WAL
// writes and checkpoints are part of the cost, and allocations per point.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <stdlib.h>

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
constexpr int64_t kT0 = 1732200000000;

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

    Messages() {
        for (int d = 0; d < kDevices; ++d) {
            std::string m = "{\"device\":\"plc" + std::to_string(d) + "\",\"group\":\"fast\",\"ts\":";
            ts_offsets.push_back(m.size());
            m += std::to_string(kT0) + ",\"values\":{";
            for (int t = 0; t < kTagsPerDevice; ++t) {
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
        char digits[16];
        std::snprintf(digits, sizeof digits, "%013lld", static_cast<long long>(ts));
        payloads[device].replace(ts_offsets[device], 13, digits);
    }
};

void report(benchmark::State& state, uint64_t points, uint64_t allocs) {
    state.counters["points/s"] = benchmark::Counter(static_cast<double>(points), benchmark::Counter::kIsRate);
    state.counters["allocs/point"] = static_cast<double>(allocs) / static_cast<double>(points);
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
    Messages msgs;
    int64_t ts = kT0;
    int device = 0, in_tick = 0;
    uint64_t points = 0;
    // Warm-up: every series exists and the buffers have grown before counting.
    for (int d = 0; d < kDevices; ++d) (void)h.ingest(msgs.payloads[d], ts);
    (void)h.commit(ts);
    const uint64_t before = ib::bench::allocations();
    for (auto _ : state) {
        msgs.set_ts(device, ts);
        auto r = h.ingest(msgs.payloads[device], ts);
        points += r.value_or(0);
        if (++device == kDevices) {
            device = 0;
            ts += 100;  // every device publishes every 100 ms
        }
        if (++in_tick == kMessagesPerTick) {
            in_tick = 0;
            if (auto c = h.commit(ts); !c) state.SkipWithError(c.error().c_str());
        }
    }
    (void)h.commit(ts);
    report(state, points, ib::bench::allocations() - before);
}
BENCHMARK(BM_HistoryIngest)->Unit(benchmark::kMicrosecond)->MinTime(2.0)->UseRealTime();

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
    int64_t ts = kT0;
    int device = 0, tag = 0;
    uint64_t points = 0, in_tick = 0;
    for (const auto& d : devices) {
        for (const auto& t : tags) h.add(d, t, ts, 1);
    }
    (void)h.commit(ts);
    const uint64_t before = ib::bench::allocations();
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
    report(state, points, ib::bench::allocations() - before);
}
BENCHMARK(BM_HistoryAdd)->Unit(benchmark::kNanosecond)->MinTime(2.0)->UseRealTime();

}  // namespace
}  // namespace ib::store
