// The fleet protocol's messages as the controller reads and writes them
// (docs/fleet.md): an edge's state, a progress report, the desired
// configuration with its optional Ed25519 signature, the commands; and which
// edges a --targets pattern selects. Pure: JSON in and out, no MQTT.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ib::fleet_ctl {

inline constexpr std::string_view kDefaultRoot = "ib/fleet/v1";

// An edge as its retained state message says (or, for an edge only named in the
// parameters, as far as the controller knows: `seen` false).
struct EdgeState {
    std::string site;
    std::string edge;
    std::string prefix;  // "ib/fleet/v1/lyon/press-7/": where its topics are
    bool seen = false;
    bool online = false;
    std::string version;
    int64_t revision = 0;
    std::optional<int64_t> desired_revision;
    std::optional<int64_t> health;
    std::map<std::string, std::string> labels;
    std::optional<int64_t> last_apply_revision;
    std::string last_apply_result;
    std::string last_apply_reason;
    int64_t ts = 0;

    std::string key() const { return site + "/" + edge; }
};

// `topic` is "<prefix>state"; the payload's edge and site win over the topic's
// levels. Nothing when the payload is not a state (an empty retained message
// clears it).
std::optional<EdgeState> parse_state(std::string_view topic, std::string_view payload);
std::string default_prefix(std::string_view root, std::string_view site, std::string_view edge);

struct Progress {
    std::optional<std::string> id;
    std::optional<int64_t> revision;
    std::string phase;  // received ... done, failed, rolled_back
    std::string code;
    std::string reason;
    std::vector<std::string> errors;
    bool dry_run = false;
    std::string diff_json;        // the dry run's diff, as JSON text
    std::string config;           // a capture's TOML
    std::string inspection_json;  // an inspect's report
    int64_t ts = 0;

    // done, failed and rolled_back end a request.
    bool final() const;
    // The reason, or the errors joined: what a person reads in the table.
    std::string message() const;
};
std::optional<Progress> parse_progress(std::string_view payload);

// The "revision" of a desired configuration or a progress report.
std::optional<int64_t> revision_of(std::string_view payload);

// The bytes an Ed25519 signature covers: "ib-fleet-v1\n{revision}\n{base}\n{config}".
std::string signed_bytes(int64_t revision, std::optional<int64_t> base, std::string_view config);
// Signs with the private key in `key_pem_path` (PEM, Ed25519); base64.
std::expected<std::string, std::string> sign_ed25519(const std::string& key_pem_path, std::string_view bytes);

// {"revision":..,"base":..|null,"config":"..","signature":".."} (no signature key when empty).
std::string desired_json(int64_t revision, std::optional<int64_t> base, std::string_view config,
                         std::string_view signature);
// A command: op dry-run (with the desired's fields), rollback (to), capture, inspect.
struct Command {
    std::string id;
    std::string op;
    int64_t revision = 0;
    std::optional<int64_t> base;
    std::string config;
    std::string signature;
    int64_t to = 0;
};
std::string command_json(const Command& c);

// --targets: one pattern per option, any of which selects an edge; within one,
// comma-separated terms that must all hold: `site/edge` globs (`lyon/*`,
// `*/press-?`), an edge glob alone (`press-*`, any site), or `label=value`
// (a label of the edge's state; value may be a glob).
class Targets {
public:
    static std::expected<Targets, std::string> parse(const std::vector<std::string>& patterns);
    bool matches(const EdgeState& e) const;

private:
    struct Term {
        std::string label;  // empty: an id glob
        std::string site_glob;
        std::string edge_glob;
        std::string value_glob;
    };
    std::vector<std::vector<Term>> any_of_;
};

bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace ib::fleet_ctl
