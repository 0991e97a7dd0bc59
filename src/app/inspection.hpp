// The health inspection (GET /api/v1/health/inspection, `ironbridge inspect`,
// the fleet's state and `inspect` command): about ten checks, each pass, warn or
// fail with its value, threshold and a repair advice, and a score 0-100.
// Pure evaluation over a snapshot of the samples /metrics gathers plus a few
// facts of the host and the configuration; no I/O, no clock, no loop, so it is
// tested on hand-made snapshots. The runtime that gathers them is inspector.hpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.hpp"

namespace ib::app::inspection {

enum class Status : uint8_t { Pass = 0, Warn = 1, Fail = 2 };
std::string_view status_name(Status s);

struct Check {
    std::string id;  // cloud_link, backlog, ...: stable, the metric's label
    Status status = Status::Pass;
    std::string value;
    std::string threshold;
    std::string advice;  // empty when the check passes
};

struct Report {
    int score = 100;
    int64_t ts_ms = 0;
    std::vector<Check> checks;
};

// Every check, in report order, with its weight in the score: a failed check
// takes its whole weight off 100, a warning half of it. The weights add to 100.
struct CheckWeight {
    std::string_view id;
    int weight;
};
inline constexpr CheckWeight kChecks[] = {
    {"cloud_link", 15}, {"backlog", 10},  {"disk", 10},    {"sqlite_integrity", 10},
    {"devices", 10},    {"stale_tags", 5}, {"rules", 10},  {"broker", 5},
    {"security", 10},   {"certificates", 5}, {"host", 5},  {"config_drift", 5},
};

// What the configuration says about exposure (security check).
struct Listener {
    std::string name;
    std::string bind_address;
    bool tls = false;
    bool anonymous = false;
};
struct Certificate {
    std::string what;  // "listener 'secure' tls_cert", "api.tls_cert", "OPC UA own certificate"
    std::string path;
    std::optional<int64_t> not_after_ms;  // none: unreadable (then `error`)
    std::string error;
};
struct SecurityFacts {
    std::vector<Listener> listeners;
    bool api_enabled = true;
    std::string api_bind_address;
    bool api_tls = false;
    bool api_anonymous = false;  // a request without credentials acts as an admin
    std::vector<Certificate> certificates;
};

// The result of PRAGMA quick_check on each SQLite file of data_dir, run off the
// loops; `checked` false until the first run has finished.
struct IntegrityFacts {
    bool checked = false;
    int64_t checked_at_ms = 0;
    std::vector<std::string> files;
    std::vector<std::string> problems;  // "history.db: <quick_check's first line>"
};

struct HostFacts {
    std::optional<uint64_t> memory_available_bytes;
    std::optional<uint64_t> memory_total_bytes;
    std::optional<uint64_t> open_files;
    std::optional<uint64_t> open_files_limit;
    int64_t wall_clock_ms = 0;
    std::optional<bool> clock_synchronized;  // adjtimex(2); none when unknown
};

// The fleet's hook (docs/fleet.md): none while the node has no [fleet].
struct FleetFacts {
    int64_t applied_revision = 0;
    std::optional<int64_t> desired_revision;
    std::string last_apply_result;  // done, failed, rolled_back, "" for none
    std::string last_apply_reason;
};

struct BridgeLimit {
    std::string name;
    uint64_t max_queue_bytes = 0;
};

// What the inspector remembers between two evaluations, per bridge: when it was
// last seen connecting and since when it is down (the metrics give counts only).
struct BridgeMemory {
    double connects = 0;
    std::optional<int64_t> last_connect_ms;
    std::optional<int64_t> down_since_ms;
    std::vector<int64_t> recent_connects_ms;  // within the last hour
};

struct Snapshot {
    MetricSink samples;
    int64_t at_ms = 0;
};

struct Inputs {
    Snapshot now;
    std::optional<Snapshot> previous;  // for rates: fill rate, errors, drops
    int64_t started_ms = 0;            // the process's start, wall clock
    std::vector<BridgeLimit> bridges;
    std::map<std::string, BridgeMemory> bridge_memory;  // updated by remember_bridges
    SecurityFacts security;
    IntegrityFacts integrity;
    HostFacts host;
    std::optional<FleetFacts> fleet;
};

// Updates what is remembered of each bridge from the snapshot `now`.
void remember_bridges(std::map<std::string, BridgeMemory>& memory, const Snapshot& now, int64_t started_ms);

Report evaluate(const Inputs& in);
int score_of(const std::vector<Check>& checks);

// The body of GET /api/v1/health/inspection: {"score":..,"ts":..,"checks":[..]}.
std::string to_json(const Report& report);
// ib_health_score and ib_health_check{check="..."} (0 pass, 1 warn, 2 fail).
void add_report_metrics(const Report& report, MetricSink& sink);

// The value of label `name` in formatted labels (`bridge="cloud",kind="x"`),
// unescaped; "" when absent.
std::string label_value(std::string_view labels, std::string_view name);
// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(std::string_view address);

}  // namespace ib::app::inspection
