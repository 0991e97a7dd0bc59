// The fleet's edge side wired into the node (docs/fleet.md, src/fleet/): the
// revision in force put over the file's objects before the modules start, the
// agent started on the bridges' loop, and the REST routes under
// /api/v1/config/revisions. main calls these few functions and nothing else of
// the fleet; without [fleet] open() gives nothing and nothing changes.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/auth.hpp"
#include "bridge/bridge.hpp"
#include "drivers/device_manager.hpp"
#include "fleet/fleet_agent.hpp"
#include "rules/rule_engine.hpp"

namespace ib::api {
class HttpServer;
}

namespace ib::app {

class Inspector;

// FleetHooks::drift for the node's inspector: the agent calls it on the
// bridges' loop, Inspector::set_fleet_facts takes the inspector's mutex (any
// thread). `inspector` is made after the agent and before the loops run; while
// it is null (the API off) the facts go nowhere.
std::function<void(const fleet::DriftFacts&)> drift_hook(const std::unique_ptr<Inspector>& inspector);

class FleetWiring {
public:
    // Null when the fleet is off. Reads data_dir/fleet.db: the revision in force.
    static std::expected<std::unique_ptr<FleetWiring>, std::string> open(const fleet::FleetConfig& config,
                                                                       const std::string& data_dir,
                                                                       drivers::AddressCheck check);

    // Before the modules start: what the file and the data directory give is
    // kept (a rollback to revision 0 goes back to it), then each kind the
    // revision in force holds replaces theirs; its devices and rules are made
    // by start_managed. The fleet's bridge gets its last will.
    void overlay(std::vector<drivers::DeviceConfig>& file_devices, std::vector<drivers::DeviceConfig>& stored_devices,
                 std::vector<rules::RuleConfig>& file_rules, std::vector<rules::RuleConfig>& stored_rules,
                 std::vector<bridge::BridgeConfig>& bridges, auth::AuthConfig& auth);
    // The revision's own devices and rules, made once their modules started
    // (before the loops run).
    void start_managed(drivers::DeviceManager& devices, rules::RuleEngine& rules);
    // The agent, once the bridges are made; `file_auth` is the file's auth settings.
    std::expected<void, std::string> start_agent(boost::asio::io_context& bridges_loop, fleet::FleetTargets targets,
                                                 std::string version, fleet::FleetHooks hooks);
    // A reload of the file keeps the fleet's users and ACL.
    void overlay_auth(auth::AuthConfig& file) const;
    // GET /api/v1/config/revisions[/{rev}], .../diff, POST .../{rev}/rollback.
    void add_routes(api::HttpServer& server, boost::asio::io_context& bridges_loop);
    // A clean stop: the offline state, on the bridges' loop before they stop.
    void stop();

private:
    FleetWiring(fleet::FleetConfig config, fleet::FleetStart start)
        : config_(std::move(config)), start_(std::move(start)) {}

    fleet::FleetConfig config_;
    std::optional<fleet::FleetStart> start_;  // moved into the agent when it starts
    fleet::ManagedConfig base_;
    std::vector<drivers::DeviceConfig> managed_devices_;
    std::vector<rules::RuleConfig> managed_rules_;
    std::unique_ptr<fleet::FleetAgent> agent_;
};

}  // namespace ib::app
