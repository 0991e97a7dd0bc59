// The fleet protocol's messages (docs/fleet.md) as values: the desired
// configuration and the commands decoded from their JSON (errors are values:
// the cloud broker is not trusted), the state and the progress reports encoded.
// Pure: no loop, no I/O.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ib::fleet {

struct Desired {
    int64_t revision = 0;
    std::optional<int64_t> base;  // null: over whatever runs
    std::string config;
    std::string signature;  // base64; "" when absent
};

enum class CommandOp : uint8_t { DryRun, Rollback, Capture, Inspect };

struct Command {
    std::string id;
    CommandOp op = CommandOp::DryRun;
    Desired desired;  // dry-run
    int64_t to = 0;   // rollback
};

std::expected<Desired, std::string> decode_desired(std::string_view json);
// A command's id is echoed even when the rest is refused: `id_out` gets it first.
std::expected<Command, std::string> decode_command(std::string_view json, std::optional<std::string>& id_out);

enum class Phase : uint8_t { Received, Validating, Applying, Probing, Done, Failed, RolledBack };
std::string_view phase_name(Phase p);

struct Progress {
    std::optional<std::string> id;  // the command's id; null for a desired configuration
    std::optional<int64_t> revision;
    Phase phase = Phase::Received;
    std::string code;                 // on failed / rolled_back
    std::string reason;               // on rolled_back (and failed, when not a list of errors)
    std::vector<std::string> errors;  // on failed: the loader's lines
    bool dry_run = false;
    std::string diff_json;        // dry-run: the diff object
    std::string config;           // capture: the TOML text
    std::string inspection_json;  // inspect
};

std::string encode_progress(const Progress& p, int64_t ts_ms);

struct EdgeState {
    std::string edge, site, version;
    bool online = true;
    int64_t revision = 0;
    std::string hash;
    std::optional<int> health;
    std::vector<std::pair<std::string, std::string>> labels;
    std::optional<int64_t> desired_revision;
    std::optional<Progress> last_apply;  // revision, result (phase) and reason
    int64_t started_ms = 0;
};

std::string encode_state(const EdgeState& s, int64_t ts_ms);
// The last will, and what a clean stop publishes: {"edge","site","online":false}
// (with `ts` for the clean stop).
std::string encode_offline(std::string_view edge, std::string_view site, std::optional<int64_t> ts_ms);

}  // namespace ib::fleet
