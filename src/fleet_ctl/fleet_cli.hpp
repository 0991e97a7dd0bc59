// `ironbridge fleet`: the controller's command line (docs/fleet.md). list,
// status, push, diff, rollback and capture, each a short-lived MQTT client of
// the cloud broker (FleetSession). Results go to stdout as tables, progress to
// stderr; the exit code says whether every targeted edge succeeded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fleet_ctl/fleet_requests.hpp"
#include "fleet_ctl/fleet_session.hpp"

namespace CLI {
class App;
}

namespace ib::fleet_ctl {

// Exit codes: 0 every targeted edge done; 1 one did not (failed, rolled back,
// no answer in time); 2 nothing was sent (bad arguments, a template or
// parameter error, the broker unreachable).
inline constexpr int kFleetOk = 0, kFleetEdgeFailed = 1, kFleetNotSent = 2;

struct FleetOptions {
    std::string broker = "127.0.0.1:1883";
    BrokerOptions connection;
    int timeout_s = 180;           // push, rollback, diff: the wait for every edge's answer
    int connect_timeout_s = 10;
    // push / diff
    std::string template_path;
    std::string params_path;
    std::vector<std::string> targets;
    std::optional<int64_t> revision;
    std::string base = "auto";  // auto | N | none
    std::string sign_key;
    // rollback
    int64_t rollback_to = 0;
    // capture
    std::string capture_edge;
};

// Adds the options and subcommands of the `fleet` subcommand to `fleet`.
void add_fleet_options(CLI::App& fleet, FleetOptions& options);
// Runs the subcommand of `fleet` that was parsed.
int run_fleet(CLI::App& app, FleetOptions& options);

}  // namespace ib::fleet_ctl
