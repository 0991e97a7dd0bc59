// The parts of a node's configuration a fleet manages (docs/fleet.md):
// [[devices]], [[rules]], [[bridges]], [[users]] and [[acl]]. A desired
// configuration's TOML is read by the same loader and key tables as the config
// file, so its messages are the file's; any other table is refused. Also the
// merge of a revision's parts over the ones in force, and the diff per kind.
// Pure: no loop, no I/O.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_config.hpp"
#include "bridge/bridge_config.hpp"
#include "drivers/device_settings.hpp"
#include "rules/rule_config.hpp"

namespace ib::fleet {

// Each part is set when the TOML has it (possibly empty: `devices = []`
// removes every device); an absent part leaves that kind as it is.
struct ManagedConfig {
    std::optional<std::vector<drivers::DeviceConfig>> devices;
    std::optional<std::vector<rules::RuleConfig>> rules;
    std::optional<std::vector<bridge::BridgeConfig>> bridges;
    std::optional<std::vector<auth::UserConfig>> users;
    std::optional<std::vector<auth::AclRuleConfig>> acl;
};

// Reads `toml` (named `source` in the messages, e.g. "revision 13") with the
// config file's loader; the errors are its lines, one problem each.
std::expected<ManagedConfig, std::vector<std::string>> parse_managed(std::string_view toml, std::string_view source,
                                                                     drivers::AddressCheck check);

// `over`'s top-level tables replace `base`'s of the same kind; the TOML text of
// the parts in force once `over` is applied.
std::expected<std::string, std::string> merge_managed(std::string_view base, std::string_view over);

// What a change does to one kind, by name (devices, bridges, users) or id (rules).
struct KindDiff {
    std::vector<std::string> added, removed, changed;
    bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
};

// Kinds the change touches (a part it holds); the others are left out.
struct ManagedDiff {
    std::optional<KindDiff> devices, rules, bridges, users;
    std::optional<bool> acl_changed;
};

// From the parts in force (`from`, every part set) to `to`'s parts.
ManagedDiff diff_managed(const ManagedConfig& from, const ManagedConfig& to);
// {"devices":{"added":[..],"removed":[..],"changed":[..]},...,"acl":{"changed":true}}
std::string diff_json(const ManagedDiff& d);

bool same_user(const auth::UserConfig& a, const auth::UserConfig& b);
bool same_acl(const std::vector<auth::AclRuleConfig>& a, const std::vector<auth::AclRuleConfig>& b);

// The TOML text of `toml` with every secret (passwords, password hashes)
// replaced by ******** (a non-admin's view of a revision, or a capture).
std::string mask_secrets(std::string_view toml);

}  // namespace ib::fleet
