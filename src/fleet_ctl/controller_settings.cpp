#include "fleet_ctl/controller_settings.hpp"

#include <cstring>
#include <fstream>

namespace ib::fleet_ctl {
namespace {

using namespace config::fields;

// A file the node must be able to read when it starts, not at the first push.
std::string readable(std::string& field, const toml::node& n) {
    field = str(n);
    if (field.empty()) return {};
    std::ifstream f(field);
    if (!f) return "cannot read " + ib::quoted(field) + ": " + std::strerror(errno);
    return {};
}

const std::vector<Field<ControllerConfig>>& controller_fields() {
    static const std::vector<Field<ControllerConfig>> f = {
        {"enabled", Kind::Boolean, "true", "Whether the controller runs; false keeps the table but connects nowhere.", 0,
         0,
         [](ControllerConfig& c, const toml::node& n) {
             c.enabled = n.as_boolean()->get();
             return std::string();
         }},
        {"broker", Kind::String, "(required)",
         "The cloud broker, `host[:port]` (port 1883, 8883 with `tls`), as `ironbridge fleet --broker`.", 0, 0,
         [](ControllerConfig& c, const toml::node& n) -> std::string {
             BrokerOptions check;
             auto ok = parse_broker_address(str(n), check);
             if (!ok) return ok.error().substr(ok.error().find(' ') + 1);
             c.broker = str(n);
             return {};
         },
         nullptr, true},
        {"username", Kind::String, "\"\"", "MQTT user name at the cloud broker.", 0, 0,
         [](ControllerConfig& c, const toml::node& n) {
             c.connection.username = str(n);
             return std::string();
         }},
        {"password", Kind::String, "\"\"", "MQTT password at the cloud broker.", 0, 0,
         [](ControllerConfig& c, const toml::node& n) {
             c.connection.password = str(n);
             return std::string();
         }},
        {"tls", Kind::Boolean, "false", "Connect over TLS.", 0, 0,
         [](ControllerConfig& c, const toml::node& n) {
             c.connection.tls = n.as_boolean()->get();
             return std::string();
         }},
        {"ca_file", Kind::String, "\"\"", "PEM file of the CA(s) the broker's certificate chains to; \"\": the system's.",
         0, 0, [](ControllerConfig& c, const toml::node& n) { return readable(c.connection.ca_file, n); }},
        {"root", Kind::String, "\"ib/fleet/v1\"", "Topic root of the fleet (the edges' prefixes are `{root}/{site}/{edge}/`).",
         0, 0,
         [](ControllerConfig& c, const toml::node& n) -> std::string {
             std::string s = str(n);
             if (s.empty() || s.find_first_of("+#") != std::string::npos || s.back() == '/') {
                 return ib::quoted(s) + ": a topic without '+', '#' or a trailing '/'";
             }
             c.connection.root = std::move(s);
             return {};
         }},
        {"timeout", Kind::Integer, "180",
         "Seconds a push, dry run or rollback waits for every edge's final answer; then the edges still silent are "
         "`timeout`.",
         1, 86400,
         [](ControllerConfig& c, const toml::node& n) {
             c.timeout_s = static_cast<int>(integer(n));
             return std::string();
         }},
        {"sign_key", Kind::String, "\"\"",
         "PEM file of the Ed25519 private key pushes and dry runs are signed with (edges with `fleet.public_key`).", 0, 0,
         [](ControllerConfig& c, const toml::node& n) { return readable(c.sign_key, n); }},
        {"keep_pushes", Kind::Integer, "100", "How many pushes (with their per-edge results) the API remembers, kept in `data_dir/fleet-pushes.db` across restarts.", 1,
         10000,
         [](ControllerConfig& c, const toml::node& n) {
             c.keep_pushes = static_cast<int>(integer(n));
             return std::string();
         }},
    };
    return f;
}

}  // namespace

std::string render_controller_markdown() {
    std::string out = "\n## [fleet_controller]\n\n"
                      "This node plays the fleet's controller (docs/fleet-controller.md): it keeps the edges' list\n"
                      "from the cloud broker and offers `ironbridge fleet`'s push, dry run and rollback as\n"
                      "`/api/v1/fleet/...`. Without this table nothing of it runs.\n\n";
    out += render_markdown(controller_fields());
    return out;
}

config::TableList controller_table(ControllerConfig& out) {
    auto read = [&out](const toml::node& value, const std::string& display_key, const config::ReportProblem& report) {
        const toml::table* t = as_table(value, display_key, report);
        if (t == nullptr) return;
        ControllerConfig parsed;
        parsed.present = true;
        if (apply_fields(*t, controller_fields(), {}, parsed, display_key, line_of(value), report)) {
            (void)parse_broker_address(parsed.broker, parsed.connection);  // checked by its field
            out = std::move(parsed);
        }
    };
    return {"fleet_controller", std::move(read), render_controller_markdown};
}

}  // namespace ib::fleet_ctl
