// Metrics every module reports: cheap per-thread counters on the hot path, and a
// generic sample list that the API formats as Prometheus text. A module knows
// nothing of HTTP or of the exposition format.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ib {

// A counter written by one thread (its event loop) and read by any: a relaxed
// load and store instead of a locked read-modify-write on the hot path.
class LocalCounter {
public:
    void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

// A counter written from any thread.
class SharedCounter {
public:
    void add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
    void sub(uint64_t n = 1) { v_.fetch_sub(n, std::memory_order_relaxed); }
    uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

enum class MetricType : uint8_t { Counter, Gauge };

struct MetricSample {
    std::string name;    // e.g. "ib_mqtt_messages_received_total"
    std::string help;    // one line
    MetricType type = MetricType::Counter;
    std::string labels;  // already formatted: qos="1",listener="default"; may be empty
    double value = 0;
};

using MetricSink = std::vector<MetricSample>;
// A module registers one of these; the API calls every collector per scrape.
using MetricCollector = std::function<void(MetricSink&)>;

}  // namespace ib
