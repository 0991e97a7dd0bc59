// The health inspection at run time: gathers what /metrics gathers (each
// module's collector on its loop, HttpServer::gather_metrics) and a few facts of
// the host, evaluates the checks of inspection.hpp, and serves the result as
// GET /api/v1/health/inspection and the gauges ib_health_score and
// ib_health_check. SQLite's quick_check and the certificates' dates are read on
// a thread of its own (`ib-inspect`), never on a loop. No Asio in this header.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/inspection.hpp"

namespace boost::asio {
class io_context;
}
namespace ib::api {
class HttpServer;
}
namespace ib::config {
struct NodeConfig;
}
namespace ib::bridge {
class Bridge;
}

namespace ib::app {

struct InspectorSetup {
    std::string data_dir;
    std::vector<inspection::BridgeLimit> bridges;
    // Listeners, the API's exposure; `certificates` with their paths only (the
    // dates are read by the inspector's thread).
    inspection::SecurityFacts security;
    int64_t started_ms = 0;  // wall clock
};

// What the configuration says for the inspection: listeners, the API, the
// certificates (the broker's, the API's, the OPC UA client's own).
InspectorSetup inspector_setup(const config::NodeConfig& cfg, std::vector<inspection::BridgeLimit> bridges);

class Inspector {
public:
    // Every 30 s an evaluation refreshes the gauges and the memory of rates.
    static constexpr int kIntervalSeconds = 30;
    static constexpr int kFirstEvaluationMs = 2000;
    // SQLite's quick_check and the certificates: at start, then this often.
    static constexpr int kSlowChecksSeconds = 600;

    // `loop`: the API's loop, where `http` runs; the inspector runs there too.
    Inspector(boost::asio::io_context& loop, api::HttpServer& http, InspectorSetup setup);
    ~Inspector();
    Inspector(const Inspector&) = delete;
    Inspector& operator=(const Inspector&) = delete;

    // Adds the route and the gauges to `http` (before it starts) and starts the
    // timer and the thread.
    void start();
    // Stops the timer and joins the thread; idempotent.
    void stop();

    // A fresh evaluation; `done` runs on the API's loop. Callable from any thread
    // (the fleet asks for it from its own loop, for the `inspect` command).
    void inspect(std::function<void(const inspection::Report&)> done);
    // The last evaluation (at most kIntervalSeconds old), for callers that
    // cannot wait: the fleet's state message (`health`) and its `inspect`
    // command (FleetHooks). None before the first evaluation. Any thread.
    std::optional<int> last_score() const;
    std::optional<std::string> last_json() const;
    // The fleet's hook (docs/fleet.md: configuration drift); any thread. Until
    // it is set the config_drift check passes with "no fleet".
    void set_fleet_facts(std::optional<inspection::FleetFacts> facts);

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// The inspector of a node, its route and gauges added to `http` and started:
// what main() calls once the bridges exist and before the server starts.
std::unique_ptr<Inspector> start_inspector(boost::asio::io_context& api_loop, api::HttpServer& http,
                                           const config::NodeConfig& cfg,
                                           const std::vector<std::unique_ptr<bridge::Bridge>>& bridges);

// The host's figures for the host check: /proc/meminfo, /proc/self/fd against
// RLIMIT_NOFILE, the wall clock and adjtimex(2)'s synchronisation flag.
inspection::HostFacts read_host_facts();

}  // namespace ib::app
