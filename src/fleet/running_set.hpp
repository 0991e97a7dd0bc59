// The managed kinds as they run, and making them what a revision (or its undo)
// says: `Running` is a snapshot with who made each device and rule, a `Target`
// the kinds a change sets (each whole), and the set_* functions make one
// module's kind exactly a target through its run-time entry points, stopping at
// the first refusal (the agent then puts the snapshot back). Each set_* runs
// on its module's loop.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "auth/auth_config.hpp"
#include "bridge/bridge.hpp"
#include "drivers/device_manager.hpp"
#include "fleet/managed_config.hpp"
#include "rules/rule_engine.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::fleet {

using DeviceSource = drivers::DeviceManager::Source;

// What runs now, with who made each device and rule (an undo puts each back
// with its source).
struct Running {
    std::vector<std::pair<drivers::DeviceConfig, DeviceSource>> devices;
    std::vector<std::pair<rules::RuleConfig, rules::RuleSource>> rules;
    std::vector<bridge::BridgeConfig> bridges;
    std::vector<auth::UserConfig> users;
    std::vector<auth::AclRuleConfig> acl;

    ManagedConfig managed() const;
};

// The kinds a change sets, each the whole kind; unset: left as it runs.
struct Target {
    std::optional<std::vector<std::pair<drivers::DeviceConfig, DeviceSource>>> devices;
    std::optional<std::vector<std::pair<rules::RuleConfig, rules::RuleSource>>> rules;
    std::optional<std::vector<bridge::BridgeConfig>> bridges;
    std::optional<std::vector<auth::UserConfig>> users;
    std::optional<std::vector<auth::AclRuleConfig>> acl;
};

// A revision's parts as a target: its devices and rules made by the fleet.
Target target_of(const ManagedConfig& m);
// The undo of a change to `touched`'s kinds: each put back as it ran. An API
// object comes back without being written to the data directory again (it
// still is there), so the fleet marks it as its own until the next start.
Target undo_of(const Running& before, const Target& touched);

// Each returns "" or the first refusal's message.
std::string set_devices(drivers::DeviceManager& devices,
                        const std::vector<std::pair<drivers::DeviceConfig, DeviceSource>>& target);
std::string set_rules(rules::RuleEngine& engine,
                      const std::vector<std::pair<rules::RuleConfig, rules::RuleSource>>& target);
// A removed bridge is stopped and moved to `retired` (handlers of its link may
// still be queued), a new one made on `io` (`node`: the node's id, for its default
// client id), a changed one restarted on its queue file.
// `list_mutex` (if given) is held while the list or a bridge in it changes: the
// broker's durable gate reads them from its shards.
std::string set_bridges(std::vector<std::unique_ptr<bridge::Bridge>>& list, const std::vector<bridge::BridgeConfig>& target,
                        boost::asio::io_context& io, mqtt::broker::Router& router, const std::string& data_dir,
                        const std::string& node, std::vector<std::unique_ptr<bridge::Bridge>>& retired,
                        std::mutex* list_mutex);

}  // namespace ib::fleet
