// The rule engine's evaluation path, without the bus: (a) a filter and projection
// over a 200-byte JSON reading, (b) a tumbling-window average grouped by 1,000
// device keys (window closes and their rows included), (c) 100 rules on the same
// topic, each evaluating every message. Reports messages (or rule evaluations)
// per second on one core and allocations per message; (a) must show none.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "rules/rule.hpp"

namespace ib::rules {
namespace {

constexpr int kDevices = 1000;

// A device reading as the drivers publish it, about 200 bytes.
std::string reading(int device, double temperature) {
    char buf[256];
    int n = std::snprintf(buf, sizeof buf,
                          "{\"device\":\"plc%d\",\"group\":\"fast\",\"ts\":1732200000000,\"values\":{\"temperature\":%.2f,"
                          "\"pressure\":7.93,\"running\":true,\"speed\":1450,\"setpoint\":22.5,\"alarm\":false,"
                          "\"mode\":\"auto\",\"counter\":123456}}",
                          device, temperature);
    return std::string(buf, static_cast<size_t>(n));
}

struct Inputs {
    std::vector<std::string> topics;
    std::vector<std::string> payloads;
    Inputs() {
        for (int d = 0; d < kDevices; ++d) {
            topics.push_back("ib/data/plc" + std::to_string(d) + "/fast");
            payloads.push_back(reading(d, 15.0 + (d % 13)));
        }
    }
};

const Inputs& inputs() {
    static const Inputs in;
    return in;
}

std::unique_ptr<Rule> must_compile(const std::string& sql) {
    auto r = Rule::compile(sql);
    if (!r) {
        std::fprintf(stderr, "rule refused: %s\n", r.error().c_str());
        std::abort();
    }
    return std::move(*r);
}


void BM_FilterProjection(benchmark::State& state) {
    auto rule = must_compile(
        "SELECT values.temperature AS t, values.pressure AS p, topic(3) AS device FROM \"ib/data/+/fast\" "
        "WHERE values.temperature > 20 AND values.running = true");
    uint64_t rows = 0;
    rule->on_emit([&rows](const OutputRow& r) { rows += r.json.size() > 2; });
    const Inputs& in = inputs();
    int i = 0;
    // Warm the buffers, so steady state is measured.
    for (int k = 0; k < kDevices; ++k) rule->on_message(in.topics[k], ib::as_bytes(in.payloads[k]), 0);
    const uint64_t a0 = bench::allocations();
    for (auto _ : state) {
        rule->on_message(in.topics[i], ib::as_bytes(in.payloads[i]), 0);
        if (++i == kDevices) i = 0;
    }
    state.counters["msgs/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["allocs/msg"] = static_cast<double>(bench::allocations() - a0) / static_cast<double>(state.iterations());
    benchmark::DoNotOptimize(rows);
}
BENCHMARK(BM_FilterProjection);

void BM_TumblingAvgBy1000Keys(benchmark::State& state) {
    auto rule = must_compile(
        "SELECT topic(3) AS device, avg(values.temperature) AS avg, max(values.temperature) AS hi FROM "
        "\"ib/data/+/fast\" GROUP BY topic(3), TumblingWindow(ss, 10)");
    uint64_t rows = 0;
    rule->on_emit([&rows](const OutputRow&) { ++rows; });
    const Inputs& in = inputs();
    int i = 0;
    // 1 ms of processing time per message: a 10 s window holds 10 readings per key.
    int64_t now = 0;
    const uint64_t a0 = bench::allocations();
    for (auto _ : state) {
        rule->on_message(in.topics[i], ib::as_bytes(in.payloads[i]), now++);
        if (++i == kDevices) i = 0;
    }
    state.counters["msgs/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["allocs/msg"] = static_cast<double>(bench::allocations() - a0) / static_cast<double>(state.iterations());
    state.counters["rows"] = static_cast<double>(rows);
}
BENCHMARK(BM_TumblingAvgBy1000Keys);

void BM_HundredRulesOnOneTopic(benchmark::State& state) {
    std::vector<std::unique_ptr<Rule>> rules;
    uint64_t rows = 0;
    for (int r = 0; r < 100; ++r) {
        rules.push_back(must_compile("SELECT values.temperature AS t, topic(3) AS device FROM \"ib/data/+/fast\" WHERE "
                                     "values.temperature > " + std::to_string(10 + r % 20)));
        rules.back()->on_emit([&rows](const OutputRow&) { ++rows; });
    }
    const Inputs& in = inputs();
    int i = 0;
    const uint64_t a0 = bench::allocations();
    for (auto _ : state) {
        for (auto& rule : rules) rule->on_message(in.topics[i], ib::as_bytes(in.payloads[i]), 0);
        if (++i == kDevices) i = 0;
    }
    const double evaluations = static_cast<double>(state.iterations()) * 100;
    state.counters["evals/s"] = benchmark::Counter(evaluations, benchmark::Counter::kIsRate);
    state.counters["allocs/eval"] = static_cast<double>(bench::allocations() - a0) / evaluations;
    benchmark::DoNotOptimize(rows);
}
BENCHMARK(BM_HundredRulesOnOneTopic);

}  // namespace
}  // namespace ib::rules
