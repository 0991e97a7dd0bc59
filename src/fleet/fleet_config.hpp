// What the fleet's edge side is configured with ([fleet], docs/fleet.md): who
// this edge is on the cloud broker, through which bridge it talks, and how
// careful an apply is. Produced by its key table (fleet/fleet_settings); without
// a [fleet] table `present` is false and nothing of the fleet runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ib::fleet {

struct FleetConfig {
    bool present = false;  // a [fleet] table was given
    bool enabled = true;
    std::string site;
    std::string edge;
    // The edge's topic prefix P on the cloud broker, {site} and {edge} filled in
    // by prefix_topic(); ends with '/'.
    std::string prefix = "ib/fleet/v1/{site}/{edge}/";
    // The [[bridges]] name the fleet talks through.
    std::string bridge;
    std::chrono::seconds probe_window{60};
    uint32_t keep_revisions = 20;
    std::chrono::seconds state_interval{60};
    std::vector<std::pair<std::string, std::string>> labels;
    // PEM file of the Ed25519 public key desired configurations must be signed
    // with; "" accepts unsigned ones.
    std::string public_key;
    bool capture_secrets = false;

    bool active() const { return present && enabled; }
    // The prefix with {site} and {edge} filled in.
    std::string prefix_topic() const;
};

}  // namespace ib::fleet
