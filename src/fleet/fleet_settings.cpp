#include "fleet/fleet_settings.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>

namespace ib::fleet {
namespace {

using namespace config::fields;

std::string store_id(std::string& field, const toml::node& n) {
    std::string s = str(n);
    if (!valid_fleet_id(s)) return ib::quoted(s) + " is not a valid id: use 1 to 64 letters, digits, '_', '.' or '-'";
    field = std::move(s);
    return {};
}

const std::vector<Field<FleetConfig>>& fleet_fields() {
    static const std::vector<Field<FleetConfig>> f = {
        {"enabled", Kind::Boolean, "true", "Whether the fleet agent runs; false keeps the table but manages nothing.", 0, 0,
         [](FleetConfig& c, const toml::node& n) {
             c.enabled = n.as_boolean()->get();
             return std::string();
         }},
        {"site", Kind::String, "(required)", "The site this edge belongs to (1–64 of `A-Za-z0-9_.-`); a level of its topics.",
         0, 0, [](FleetConfig& c, const toml::node& n) { return store_id(c.site, n); }, nullptr, true},
        {"edge", Kind::String, "(required)", "This edge's id, unique in its site (1–64 of `A-Za-z0-9_.-`).", 0, 0,
         [](FleetConfig& c, const toml::node& n) { return store_id(c.edge, n); }, nullptr, true},
        {"prefix", Kind::String, "\"ib/fleet/v1/{site}/{edge}/\"",
         "The edge's topic prefix on the cloud broker; `{site}` and `{edge}` are filled in (docs/fleet.md).", 0, 0,
         [](FleetConfig& c, const toml::node& n) -> std::string {
             std::string s = str(n);
             if (s.empty() || s.back() != '/') return ib::quoted(s) + ": the prefix must end with '/'";
             if (s.find_first_of("+#") != std::string::npos) return ib::quoted(s) + ": the prefix cannot hold '+' or '#'";
             c.prefix = std::move(s);
             return {};
         }},
        {"bridge", Kind::String, "(required)",
         "The `[[bridges]]` name the fleet talks through; its link carries the state, the desired configuration and "
         "the commands, and carries the last will.",
         0, 0, [](FleetConfig& c, const toml::node& n) { return store_name(c.bridge, n); }, nullptr, true},
        {"probe_window", Kind::Integer, "60",
         "Seconds after an apply during which the fleet bridge must stay connected and the new devices and rules run "
         "without errors, else the edge rolls back by itself.",
         1, 3600,
         [](FleetConfig& c, const toml::node& n) {
             c.probe_window = std::chrono::seconds(integer(n));
             return std::string();
         }},
        {"keep_revisions", Kind::Integer, "20", "How many revisions data_dir/fleet.db keeps (the one in force always).", 1,
         1000,
         [](FleetConfig& c, const toml::node& n) {
             c.keep_revisions = static_cast<uint32_t>(integer(n));
             return std::string();
         }},
        {"state_interval", Kind::Integer, "60", "Seconds between state messages (also sent at connect and after an apply).",
         1, 86400,
         [](FleetConfig& c, const toml::node& n) {
             c.state_interval = std::chrono::seconds(integer(n));
             return std::string();
         }},
        {"labels", Kind::StringArray, "[]",
         "Labels the controller targets edges by, as `\"key=value\"` strings (`[\"line=A\"]`); in the state message.", 0, 0,
         [](FleetConfig& c, const toml::node& n) -> std::string {
             c.labels.clear();
             for (const auto& e : *n.as_array()) {
                 std::string s = e.as_string()->get();
                 auto eq = s.find('=');
                 if (eq == std::string::npos || eq == 0) return ib::quoted(s) + ": a label is written \"key=value\"";
                 c.labels.emplace_back(s.substr(0, eq), s.substr(eq + 1));
             }
             return {};
         }},
        {"public_key", Kind::String, "\"\"",
         "PEM file of an Ed25519 public key: when set, a desired configuration not signed by its private key is "
         "refused.",
         0, 0,
         [](FleetConfig& c, const toml::node& n) -> std::string {
             c.public_key = str(n);
             if (c.public_key.empty()) return {};
             std::ifstream f(c.public_key);
             if (!f) return "cannot read " + ib::quoted(c.public_key) + ": " + std::strerror(errno);
             return {};
         }},
        {"capture_secrets", Kind::Boolean, "false",
         "Whether a `capture` command's TOML includes passwords; else they are masked as `********`.", 0, 0,
         [](FleetConfig& c, const toml::node& n) {
             c.capture_secrets = n.as_boolean()->get();
             return std::string();
         }},
    };
    return f;
}

}  // namespace

bool valid_fleet_id(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
               c == '-';
    });
}

std::string FleetConfig::prefix_topic() const {
    std::string out = prefix;
    for (auto [key, value] : {std::pair<std::string_view, const std::string*>{"{site}", &site}, {"{edge}", &edge}}) {
        for (auto at = out.find(key); at != std::string::npos; at = out.find(key, at + value->size())) {
            out.replace(at, key.size(), *value);
        }
    }
    return out;
}

std::string render_fleet_markdown() {
    std::string out = "\n## [fleet]\n\n"
                      "Fleet management from the cloud broker (docs/fleet.md): this edge publishes its state there\n"
                      "through one of its bridges and applies the desired configuration it finds there as a\n"
                      "transaction that rolls itself back. Without this table nothing of it runs.\n\n";
    out += render_markdown(fleet_fields());
    return out;
}

config::TableList fleet_table(FleetConfig& out) {
    auto read = [&out](const toml::node& value, const std::string& display_key, const config::ReportProblem& report) {
        const toml::table* t = as_table(value, display_key, report);
        if (t == nullptr) return;
        FleetConfig parsed;
        parsed.present = true;
        if (apply_fields(*t, fleet_fields(), {}, parsed, display_key, line_of(value), report)) out = std::move(parsed);
    };
    return {"fleet", std::move(read), render_fleet_markdown};
}

}  // namespace ib::fleet
