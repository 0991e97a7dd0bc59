// The load generator's client engine, behind a plain interface so that the CLI
// and report code (bench.cpp) never see Asio. One io_context per generator
// thread; each connection lives on one of them for the whole run.
#pragma once

#include <cstdint>
#include <string>

#include "tools/bench.hpp"
#include "tools/latency_histogram.hpp"

namespace ib::tools {

// What a run measured. Rates cover the measurement window only (after warmup);
// loss and order counters cover the whole run, warmup included.
struct LoadResult {
    double window_s = 0;
    uint64_t sent = 0;                // PUBLISHes written in the window
    uint64_t received = 0;            // PUBLISHes delivered to subscribers in the window
    uint64_t sent_total = 0;          // every PUBLISH written, warmup included
    uint64_t expected_total = 0;      // deliveries the subscriptions imply for sent_total
    uint64_t received_total = 0;      // every delivery, duplicates included
    uint64_t lost = 0;                // expected deliveries that never arrived
    uint64_t out_of_order = 0;        // arrived after a later sequence number
    uint64_t duplicates = 0;          // a sequence number delivered twice
    uint64_t foreign = 0;             // PUBLISHes that were not ours (short payload, bad index)
    uint64_t connected = 0;           // connections that got a successful CONNACK
    uint64_t failed = 0;              // connections refused, reset or closed
    double connect_s = 0;             // time to establish every connection
    double cpu_percent = 0;           // generator CPU (user+sys) / window, % of one core
    LatencyHistogram latency;         // publish → delivery, window only
    std::string first_error;          // the first failure, for the report
};

// Runs one load according to `opts`: publishers (and idle clients) connect to
// `address`, subscribers to `sub_address` (both already resolved and checked
// to be loopback). Blocks for warmup + duration (+ drain).
LoadResult run_load(const BenchOptions& opts, const std::string& address, const std::string& sub_address);

struct ConnackProbe {
    bool ok = false;
    double connack_us = 0;       // connect() to CONNACK of the successful attempt
    uint64_t connack_unix_ns = 0;  // CLOCK_REALTIME when that CONNACK arrived
    uint32_t attempts = 0;
    std::string error;
};

// Connects, sends CONNECT, waits for CONNACK; retries every 0.5 ms until one
// succeeds or `opts.timeout_s` passes. Used by scripts to detect readiness.
ConnackProbe probe_connack(const BenchOptions& opts, const std::string& address);

// MQTT topic matching (§4.7) of a topic name against a filter with + and #,
// used to know which deliveries a run should produce.
bool topic_matches(std::string_view filter, std::string_view topic);

// Replaces every "%i" in `pattern` with `index`.
std::string expand_topic(std::string_view pattern, uint32_t index);

}  // namespace ib::tools
