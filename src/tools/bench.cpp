// `ironbridge bench`: command line, option checks, the loopback-only rule and
// the report. The load itself runs in bench_load.cpp.
#include "tools/bench.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "tools/bench_load.hpp"

namespace ib::tools {
namespace {

const char* mode_name(BenchMode m) {
    switch (m) {
        case BenchMode::Conn: return "conn";
        case BenchMode::Pub: return "pub";
        case BenchMode::Sub: return "sub";
        case BenchMode::PubSub: return "pubsub";
        case BenchMode::Connack: return "connack";
    }
    return "?";
}

// Resolves `host` and returns its address only when every address it resolves
// to is loopback: a load generator pointed elsewhere is a denial-of-service
// tool, so a name that mixes loopback and other addresses is refused too.
std::optional<std::string> resolve_loopback(const std::string& host, std::string& why) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0) {
        why = fmt::format("cannot resolve {}: {}", host, gai_strerror(rc));
        return std::nullopt;
    }
    std::optional<std::string> first;
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        bool loopback = false;
        if (a->ai_family == AF_INET) {
            const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
            loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;  // 127.0.0.0/8
            inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
        } else if (a->ai_family == AF_INET6) {
            const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
            const uint8_t* b = sin6->sin6_addr.s6_addr;
            // ::1, or an IPv4-mapped 127.x.y.z.
            loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
                       (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && b[12] == 127);
            inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
        } else {
            continue;
        }
        if (!loopback) {
            why = fmt::format("{} resolves to {}, which is not a loopback address; bench only loads 127.0.0.0/8 or ::1",
                              host, text);
            freeaddrinfo(res);
            return std::nullopt;
        }
        if (!first) first = text;
    }
    freeaddrinfo(res);
    if (!first) why = fmt::format("{} has no IPv4 or IPv6 address", host);
    return first;
}

std::optional<std::string> check_options(const BenchOptions& o) {
    if (o.qos > 2) return "--qos must be 0, 1 or 2";
    if (o.version != 4 && o.version != 5) return "--version must be 4 (MQTT 3.1.1) or 5";
    if (o.size < kMinPayload) return fmt::format("--size must be at least {} bytes (timestamp, publisher, sequence)", kMinPayload);
    if (o.size > 256 * 1024 * 1024) return "--size must be below 256 MiB";
    if (o.threads < 1 || o.threads > 256) return "--threads must be 1..256";
    if (o.inflight < 1 || o.inflight > 65535) return "--inflight must be 1..65535";
    if (o.rate < 0 || o.total_rate < 0) return "--rate and --total-rate must not be negative";
    if (o.duration_s < 0 || o.warmup_s < 0 || o.timeout_s <= 0) return "durations must not be negative";
    bool pub = o.mode == BenchMode::Pub || o.mode == BenchMode::PubSub;
    bool sub = o.mode == BenchMode::Sub || o.mode == BenchMode::PubSub;
    if (pub && o.pubs == 0) return "--pubs must be at least 1";
    if (sub && o.subs == 0) return "--subs must be at least 1";
    if (o.mode == BenchMode::Conn && o.conns == 0) return "--conns must be at least 1";
    if (pub && o.topic.find_first_of("+#") != std::string::npos) return "--topic must not contain wildcards";
    return std::nullopt;
}

std::string json_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
            out += c;
        }
    }
    return out;
}

double per_s(uint64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; }
double us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

int run_connack(const BenchOptions& opts, const std::string& address) {
    ConnackProbe p = probe_connack(opts, address);
    if (opts.json) {
        fmt::print("{{\"mode\":\"connack\",\"ok\":{},\"connack_us\":{:.1f},\"connack_unix_ns\":{},\"attempts\":{},"
                   "\"error\":\"{}\"}}\n",
                   p.ok, p.connack_us, p.connack_unix_ns, p.attempts, json_escape(p.ok ? "" : p.error));
    } else if (p.ok) {
        fmt::print("CONNACK after {:.1f} µs (attempt {})\n", p.connack_us, p.attempts);
    }
    if (!p.ok) {
        fmt::print(stderr, "bench: no CONNACK from {}:{} within {} s after {} attempts: {}\n", address, opts.port,
                   opts.timeout_s, p.attempts, p.error);
        return 1;
    }
    return 0;
}

void print_human(const BenchOptions& o, const std::string& address, const std::string& sub_address,
                 const LoadResult& r) {
    const bool pub = o.mode == BenchMode::Pub || o.mode == BenchMode::PubSub;
    const bool sub = o.mode == BenchMode::Sub || o.mode == BenchMode::PubSub;
    const uint16_t sub_port = o.sub_port != 0 ? o.sub_port : o.port;
    fmt::print("ironbridge bench {} → {}:{}  MQTT {}  QoS {}  {} B  threads {}\n", mode_name(o.mode), address, o.port,
               o.version == 5 ? "5.0" : "3.1.1", o.qos, o.size, o.threads);
    if (sub && (sub_address != address || sub_port != o.port)) {
        fmt::print("  subscribers on {}:{}\n", sub_address, sub_port);
    }
    fmt::print("  connections    {} established in {:.3f} s ({:.0f}/s), {} failed\n", r.connected, r.connect_s,
               per_s(r.connected, r.connect_s), r.failed);
    if (pub) fmt::print("  sent           {:.0f} msg/s ({} in {:.2f} s)\n", per_s(r.sent, r.window_s), r.sent, r.window_s);
    if (sub) {
        fmt::print("  received       {:.0f} msg/s deliveries ({} in {:.2f} s)\n", per_s(r.received, r.window_s),
                   r.received, r.window_s);
    }
    if (pub && sub) {
        fmt::print("  loss           {} of {} expected; out of order {}; duplicates {}\n", r.lost, r.expected_total,
                   r.out_of_order, r.duplicates);
    }
    if (r.foreign > 0) fmt::print("  foreign        {} PUBLISHes not from this run\n", r.foreign);
    if (r.latency.count() > 0) {
        fmt::print("  latency µs     p50 {:.1f}  p99 {:.1f}  p999 {:.1f}  max {:.1f}  (n={})\n",
                   us(r.latency.quantile(0.5)), us(r.latency.quantile(0.99)), us(r.latency.quantile(0.999)),
                   us(r.latency.max()), r.latency.count());
    }
    fmt::print("  generator CPU  {:.0f}% of one core\n", r.cpu_percent);
    if (!r.first_error.empty()) fmt::print("  first error    {}\n", r.first_error);
}

void print_json(const BenchOptions& o, const LoadResult& r) {
    fmt::print(
        "{{\"mode\":\"{}\",\"qos\":{},\"size\":{},\"pubs\":{},\"subs\":{},\"window_s\":{:.3f},"
        "\"sent\":{},\"received\":{},\"sent_per_s\":{:.1f},\"recv_per_s\":{:.1f},"
        "\"sent_total\":{},\"expected\":{},\"received_total\":{},\"lost\":{},\"out_of_order\":{},\"duplicates\":{},"
        "\"foreign\":{},\"samples\":{},\"p50_us\":{:.1f},\"p99_us\":{:.1f},\"p999_us\":{:.1f},\"max_us\":{:.1f},"
        "\"mean_us\":{:.1f},\"connected\":{},\"failed\":{},\"connect_s\":{:.4f},\"conn_per_s\":{:.1f},"
        "\"cpu_percent\":{:.1f},\"error\":\"{}\"}}\n",
        mode_name(o.mode), o.qos, o.size, o.pubs, o.subs, r.window_s, r.sent, r.received, per_s(r.sent, r.window_s),
        per_s(r.received, r.window_s), r.sent_total, r.expected_total, r.received_total, r.lost, r.out_of_order,
        r.duplicates, r.foreign, r.latency.count(), us(r.latency.quantile(0.5)), us(r.latency.quantile(0.99)),
        us(r.latency.quantile(0.999)), us(r.latency.max()), r.latency.mean() / 1000.0, r.connected, r.failed,
        r.connect_s, per_s(r.connected, r.connect_s), r.cpu_percent, json_escape(r.first_error));
}

}  // namespace

void add_bench_options(CLI::App& bench, BenchOptions& opts) {
    const std::map<std::string, BenchMode> modes{{"conn", BenchMode::Conn},       {"pub", BenchMode::Pub},
                                                 {"sub", BenchMode::Sub},         {"pubsub", BenchMode::PubSub},
                                                 {"connack", BenchMode::Connack}};
    bench.add_option("--mode", opts.mode, "conn | pub | sub | pubsub | connack (readiness probe)")
        ->transform(CLI::CheckedTransformer(modes, CLI::ignore_case).description(""))
        ->type_name("MODE")
        ->default_str("pubsub");
    bench.add_option("--host", opts.host, "broker host; must resolve to 127.0.0.0/8 or ::1")->capture_default_str();
    bench.add_option("--port", opts.port, "broker port")->capture_default_str();
    bench.add_option("--sub-host", opts.sub_host,
                  "broker host for subscribers (e.g. the upstream of a bridge); loopback only [--host]");
    bench.add_option("--sub-port", opts.sub_port, "broker port for subscribers [--port]");
    bench.add_option("--pubs", opts.pubs, "publishers")->capture_default_str();
    bench.add_option("--subs", opts.subs, "subscribers")->capture_default_str();
    bench.add_option("--conns", opts.conns, "idle connections (conn mode)")->capture_default_str();
    // Through an int: CLI11 would read a uint8_t as a character.
    bench.add_option_function<int>("--qos", [&opts](int q) { opts.qos = static_cast<uint8_t>(q); }, "QoS 0, 1 or 2")
        ->check(CLI::Range(0, 2))
        ->default_str("0");
    bench.add_option("--size", opts.size, fmt::format("payload bytes (>= {})", kMinPayload))->capture_default_str();
    bench.add_option("--topic", opts.topic, "publish topic; %i = publisher index")->capture_default_str();
    bench.add_option("--sub-topic", opts.sub_topic, "subscription filter; %i = subscriber index")->capture_default_str();
    bench.add_option("--rate", opts.rate, "msgs/s per publisher, 0 = as fast as possible")->capture_default_str();
    bench.add_option("--total-rate", opts.total_rate, "msgs/s over all publishers (overrides --rate)");
    bench.add_option("--duration", opts.duration_s, "measured seconds (conn mode: hold time)")->capture_default_str();
    bench.add_option("--warmup", opts.warmup_s, "seconds of load before measuring")->capture_default_str();
    bench.add_option("--timeout", opts.timeout_s, "connack mode: seconds to keep retrying")->capture_default_str();
    bench.add_option("--threads", opts.threads, "generator threads, one event loop each")->capture_default_str();
    bench.add_option_function<int>(
         "--version", [&opts](int v) { opts.version = static_cast<uint8_t>(v); }, "MQTT version: 4 (3.1.1) or 5")
        ->check(CLI::IsMember({4, 5}))
        ->default_str("4");
    bench.add_option("--inflight", opts.inflight, "max unacknowledged QoS 1/2 PUBLISHes per publisher")
        ->capture_default_str();
    bench.add_option("--max-backlog", opts.max_backlog,
                  "pubsub: a publisher pauses while it is more than this many messages ahead of the newest "
                  "delivery of its messages; 0 = open loop")
        ->capture_default_str();
    bench.add_flag("--persistent-subs", opts.persistent_subs,
                "subscribers keep their session (3.1.1 clean session 0, 5.0 session expiry 1 h)");
    bench.add_flag("--json", opts.json, "print one JSON line of results");
}

int run_bench(const BenchOptions& opts) {
    if (auto bad = check_options(opts)) {
        fmt::print(stderr, "bench: {}\n", *bad);
        return 1;
    }
    std::string why;
    auto address = resolve_loopback(opts.host, why);
    if (!address) {
        fmt::print(stderr, "bench: {}\n", why);
        return 1;
    }
    if (opts.mode == BenchMode::Connack) return run_connack(opts, *address);
    // Subscribers may use another broker; the loopback rule holds for it too.
    auto sub_address = opts.sub_host.empty() ? address : resolve_loopback(opts.sub_host, why);
    if (!sub_address) {
        fmt::print(stderr, "bench: --sub-host: {}\n", why);
        return 1;
    }

    LoadResult r = run_load(opts, *address, *sub_address);
    if (opts.json) {
        print_json(opts, r);
    } else {
        print_human(opts, *address, *sub_address, r);
    }
    const uint64_t wanted = opts.mode == BenchMode::Conn ? opts.conns
                            : opts.mode == BenchMode::Pub ? opts.pubs
                            : opts.mode == BenchMode::Sub ? opts.subs
                                                          : opts.pubs + opts.subs;
    if (r.connected < wanted || r.failed > 0) {
        fmt::print(stderr, "bench: {} of {} connections established, {} failed: {}\n", r.connected, wanted, r.failed,
                   r.first_error.empty() ? "timed out" : r.first_error);
        return 1;
    }
    return 0;
}

}  // namespace ib::tools
