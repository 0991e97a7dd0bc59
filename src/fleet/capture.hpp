// The `capture` command (docs/fleet.md): the running configuration of the
// managed parts written as a desired configuration's TOML, which loads back
// through parse_managed to the same objects. Secrets are masked as ********
// unless fleet.capture_secrets. Pure.
#pragma once

#include <string>

#include "fleet/managed_config.hpp"

namespace ib::fleet {

std::string capture_toml(const ManagedConfig& running, bool include_secrets);

}  // namespace ib::fleet
