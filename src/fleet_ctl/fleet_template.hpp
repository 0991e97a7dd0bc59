// Templates of the fleet controller: a configuration file with ${param}
// placeholders, filled per edge from a table of parameters (CSV or TOML), and
// the reverse, an edge's running configuration turned into a template (capture).
// Pure text work: the files are read by the caller; nothing here talks MQTT.
#pragma once

#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ib::fleet_ctl {

// One edge's row of the parameters: its id, its site, and every other column.
struct EdgeParams {
    std::string edge;
    std::string site;
    std::map<std::string, std::string> values;  // edge and site included

    std::string key() const { return site + "/" + edge; }
};

// CSV (RFC 4180 quoting): a header row naming `edge`, `site` and the
// parameters, then one row per edge. Errors name the line:
// "params.csv:3: 4 fields, the header has 5".
std::expected<std::vector<EdgeParams>, std::string> parse_params_csv(std::string_view text, std::string_view source);
// TOML: `[defaults]` (optional, every edge's) and `[[edges]]` tables with
// `edge`, `site` and the parameters; numbers and booleans are written as TOML writes them.
std::expected<std::vector<EdgeParams>, std::string> parse_params_toml(std::string_view text, std::string_view source);
// By the file's extension: .csv or .toml.
std::expected<std::vector<EdgeParams>, std::string> load_params(const std::string& path);

// `${name}` is a parameter (name: letters, digits, `_`, `.`, `-`); `$${` is a
// literal `${` (a bridge's `${topic}`, a rule's `${column}`). A parameter the row
// lacks is an error naming the edge and the placeholder:
// "edge lyon/press-7: no parameter 'plc_host' (line 4 of the template)".
std::expected<std::string, std::string> fill_template(std::string_view text, const EdgeParams& params);
// The placeholders a template uses, in order of first use.
std::vector<std::string> placeholders(std::string_view text);

// The template of a captured configuration: every literal `${` escaped as
// `$${`, then the edge's own id and site inside strings, where they stand
// between separators (`'lyon-press-7'`, `"alarms/lyon/press-7"`, not inside
// `press-70`), by ${edge} and ${site}. Filling it for the same edge gives the
// captured text back. A secret the edge masked (`password = "********"`,
// fleet.capture_secrets off) becomes a parameter of its own,
// `${secret_password}`, so a push never sends the mask as a password: the
// parameters must give it.
std::string template_of_capture(std::string_view config, std::string_view edge, std::string_view site);

}  // namespace ib::fleet_ctl
