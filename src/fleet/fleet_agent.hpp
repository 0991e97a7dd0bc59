// The fleet's edge side (docs/fleet.md): talks to the cloud broker through the
// control channel of its bridge (fleet.bridge), publishes the edge's state,
// and applies a desired configuration as a transaction: validate everything,
// apply all or nothing (devices and rules through their modules' run-time
// entry points on their loops, users and ACL through Auth::reload, a changed
// bridge restarted on its queue file), probe, and put back the previous
// revision by itself when the probe fails or the link is lost. Runs on the
// bridges' loop (it restarts bridges); Asio stays in the .cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth.hpp"
#include "bridge/bridge.hpp"
#include "drivers/device_manager.hpp"
#include "fleet/fleet_config.hpp"
#include "fleet/fleet_protocol.hpp"
#include "fleet/managed_config.hpp"
#include "rules/rule_engine.hpp"
#include "store/revision_store.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::fleet {

// The revision facts the health inspection's config_drift check reads.
struct DriftFacts {
    int64_t applied_revision = 0;
    std::optional<int64_t> desired_revision;  // the highest a desired message named
    std::string last_apply_result;            // done, failed, rolled_back; "" before any
    std::string last_apply_reason;

    bool operator==(const DriftFacts&) const = default;
};

// What the app hands in from the health inspection; `health` and `inspect` may
// return nothing (then `health` is left out of the state and `inspect` fails as
// unsupported). `drift` is called on the agent's loop, once when the loops
// start and then each time the facts change; it must not block.
struct FleetHooks {
    std::function<std::optional<int>()> health;
    std::function<std::optional<std::string>()> inspect;  // the inspection's JSON
    std::function<void(const DriftFacts&)> drift;
};

// The modules a revision changes, each with the loop it runs on.
struct FleetTargets {
    boost::asio::io_context* devices_loop = nullptr;
    drivers::DeviceManager* devices = nullptr;
    boost::asio::io_context* rules_loop = nullptr;
    rules::RuleEngine* rules = nullptr;
    // On the agent's own loop.
    std::vector<std::unique_ptr<bridge::Bridge>>* bridges = nullptr;
    // Held while `bridges` or a bridge in it changes (the broker's durable gate reads them).
    std::mutex* bridges_mutex = nullptr;
    mqtt::broker::Router* router = nullptr;
    std::string data_dir;
    auth::Auth* auth = nullptr;
    // The file's auth settings (anonymous access, API tokens, ...): the fleet's
    // users and ACL go over them.
    std::function<auth::AuthConfig()> file_auth;
    drivers::AddressCheck check = nullptr;
    // The node's id for the bridges' default client ids (bridge::default_client_id).
    std::string node;
    // On the agent's loop, after a revision or its undo changed `bridges` (the
    // node's file transfer follows their forward_files); may be empty.
    std::function<void(const std::vector<std::unique_ptr<bridge::Bridge>>&)> bridges_changed;
};

// The revision in force at start-up, read before the modules start: its parts
// go over the file's (fleet_wiring in the app puts them in place).
struct FleetStart {
    store::RevisionStore store;
    ManagedConfig parts;  // of the revision in force; nothing set for revision 0
    std::vector<int64_t> interrupted;
};
// Opens data_dir/fleet.db; a revision left applying or probing is marked
// rolled back (`interrupted`) and the previous applied one is used.
std::expected<FleetStart, std::string> open_fleet(const std::string& data_dir, drivers::AddressCheck check);

// A revision list entry for the REST API.
using RevisionList = std::vector<store::Revision>;

class FleetAgent {
public:
    // `base` is what the node runs without any revision (the file's and the
    // API's objects, every part set): the target of a rollback to revision 0.
    FleetAgent(boost::asio::io_context& io, FleetConfig config, FleetStart start, FleetTargets targets,
               ManagedConfig base, std::string version, FleetHooks hooks);
    ~FleetAgent();
    FleetAgent(const FleetAgent&) = delete;
    FleetAgent& operator=(const FleetAgent&) = delete;

    // On the agent's loop: attaches to the fleet bridge (its will, its control
    // channel) and starts the state timer.
    std::expected<void, std::string> start();
    // Publishes the offline state (a clean stop); on the agent's loop.
    void stop();

    // The REST API's view, on the agent's loop.
    RevisionList revisions() const;
    std::optional<store::Revision> revision(int64_t n) const;
    int64_t current() const;
    // From one revision's parts in force to another's (0: the node without revisions).
    std::expected<std::string, std::string> diff(int64_t from, int64_t to) const;
    // Applies revision `to` again through the same transaction and probe;
    // `done` gets the final report (done, failed or rolled_back).
    void rollback(int64_t to, std::function<void(const Progress&)> done);

    // Puts the fleet's users and ACL, when a revision in force has them, over
    // `file` (a reload of the file, SIGHUP). Thread-safe.
    void overlay_auth(auth::AuthConfig& file) const;

    // The last will the fleet sets on its bridge (before it starts).
    static void set_will(const FleetConfig& config, bridge::BridgeConfig& bridge);

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace ib::fleet
