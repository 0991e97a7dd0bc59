// `ironbridge bench`: an MQTT load generator for comparing brokers on one machine.
// It only ever connects to loopback addresses (127.0.0.0/8, ::1): it is a
// measuring tool, never a way to load someone else's server. The CLI layer here
// knows nothing of sockets; the Asio client engine lives in bench_load.cpp.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace ib::tools {

enum class BenchMode : uint8_t {
    Conn,     // hold --conns idle connections, report the connect rate
    Pub,      // publishers only
    Sub,      // subscribers only (someone else publishes)
    PubSub,   // publishers and subscribers, latency and loss
    Connack,  // one connect→CONNACK, retried until it succeeds: readiness probe
};

struct BenchOptions {
    BenchMode mode = BenchMode::PubSub;
    std::string host = "127.0.0.1";
    uint16_t port = 1883;
    // Where subscribers connect; empty / 0 = the same as host / port. Lets a
    // run publish into one broker and receive from another that it forwards
    // to (a bridge), with latency still measured publish → receipt.
    std::string sub_host;
    uint16_t sub_port = 0;
    uint32_t pubs = 1;
    uint32_t subs = 1;
    uint32_t conns = 1000;
    uint8_t qos = 0;
    uint32_t size = 64;                      // payload bytes, >= kMinPayload
    std::string topic = "bench/%i";          // %i: publisher index
    std::string sub_topic = "bench/#";       // %i: subscriber index
    double rate = 0;                         // msgs/s per publisher, 0 = as fast as possible
    double total_rate = 0;                   // msgs/s over all publishers; overrides rate
    double duration_s = 10;
    double warmup_s = 1;
    double timeout_s = 10;                   // connack mode: give up after this long
    uint32_t threads = 1;
    uint8_t version = 4;                     // 4 = MQTT 3.1.1, 5 = MQTT 5.0
    uint32_t inflight = 64;                  // unacked QoS 1/2 PUBLISHes per publisher
    // pubsub mode: a publisher pauses while it is more than this many messages
    // ahead of the newest delivery of its messages, so a saturated broker is
    // measured at the rate it sustains rather than by how much it can buffer
    // (kernel socket buffers alone hold seconds of traffic). 0 = open loop.
    uint32_t max_backlog = 0;
    // Subscribers keep their session (3.1.1 clean session 0, 5.0 expiry 1 h):
    // what a broker with persistence stores.
    bool persistent_subs = false;
    bool json = false;
};

// Payload layout: 8-byte CLOCK_MONOTONIC send time (ns), 4-byte publisher index,
// 8-byte sequence number, all little-endian; the rest is padding.
inline constexpr uint32_t kMinPayload = 20;

// Adds the options of the `bench` subcommand to `bench`; the parsed values land
// in `opts`. The caller runs run_bench(opts) when that subcommand was parsed.
void add_bench_options(CLI::App& bench, BenchOptions& opts);

// Runs the benchmark and prints its report to stdout. Returns the process exit
// code: 0 on success, 1 when the run failed (bad options, broker unreachable,
// connections refused), with one line on stderr saying why.
int run_bench(const BenchOptions& opts);

}  // namespace ib::tools
