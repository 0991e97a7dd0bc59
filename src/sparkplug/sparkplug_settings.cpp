#include "sparkplug/sparkplug_settings.hpp"

#include "sparkplug/topic.hpp"

namespace ib::sparkplug {
namespace {

using namespace config::fields;
using config::ReportProblem;

std::string store_id(std::string& field, const toml::node& n) {
    std::string s = str(n);
    if (std::string why = id_problem(s); !why.empty()) return ib::quoted(s) + " " + why;
    field = std::move(s);
    return {};
}

std::vector<std::string> strings(const toml::node& n) {
    std::vector<std::string> out;
    for (const auto& e : *n.as_array()) out.push_back(e.as_string()->get());
    return out;
}

const std::vector<Field<SparkplugConfig>>& sparkplug_fields() {
    static const std::vector<Field<SparkplugConfig>> f = {
        {"enabled", Kind::Boolean, "false", "Publish the node's devices as a Sparkplug B edge node.", 0, 0,
         [](SparkplugConfig& c, const toml::node& n) {
             c.enabled = n.as_boolean()->get();
             return std::string();
         }},
        {"group_id", Kind::String, "(required)", "The Sparkplug group id: the topic level after `spBv1.0`.", 0, 0,
         [](SparkplugConfig& c, const toml::node& n) { return store_id(c.group_id, n); }, nullptr, true},
        {"edge_node_id", Kind::String, "(required)", "The edge node id this node publishes as.", 0, 0,
         [](SparkplugConfig& c, const toml::node& n) { return store_id(c.edge_node_id, n); }, nullptr, true},
        {"devices", Kind::StringArray, "[]",
         "Devices published as Sparkplug devices (each keeps its name as its device id); empty: every device.", 0, 0,
         [](SparkplugConfig& c, const toml::node& n) {
             c.devices = strings(n);
             return std::string();
         }},
        {"tags", Kind::StringArray, "[]",
         "`device/tag` entries: the tags published as metrics; empty: every tag of those devices.", 0, 0,
         [](SparkplugConfig& c, const toml::node& n) {
             c.tags = strings(n);
             for (const auto& t : c.tags) {
                 auto slash = t.find('/');
                 if (slash == std::string::npos || slash == 0 || slash + 1 == t.size() ||
                     t.find('/', slash + 1) != std::string::npos) {
                     return ib::quoted(t) + " is not of the form \"device/tag\"";
                 }
             }
             return std::string();
         }},
        {"broker", Kind::String, "\"local\"",
         "`local` (this node's broker) or the name of a `[[bridges]]` table: its upstream, on a connection of the "
         "edge node's own that carries the NDEATH will.",
         0, 0,
         [](SparkplugConfig& c, const toml::node& n) {
             c.broker = str(n);
             return c.broker.empty() ? std::string("is empty: give \"local\" or a bridge's name") : std::string();
         }},
        {"client_id", Kind::String, "\"ironbridge-sparkplug-<edge_node_id>\"",
         "MQTT client id on an upstream broker.", 0, 0,
         [](SparkplugConfig& c, const toml::node& n) {
             c.client_id = str(n);
             return std::string();
         }},
        {"primary_host_id", Kind::String, "\"\"",
         "A host application's id: births and data go out only while its `spBv1.0/STATE/<id>` says online.", 0, 0,
         [](SparkplugConfig& c, const toml::node& n) {
             c.primary_host_id = str(n);
             if (c.primary_host_id.empty()) return std::string();
             std::string why = id_problem(c.primary_host_id);
             return why.empty() ? why : ib::quoted(c.primary_host_id) + " " + why;
         }},
    };
    return f;
}

}  // namespace

std::string render_sparkplug_markdown() {
    std::string out =
        "\n## [sparkplug]\n\n"
        "The node as a Sparkplug B edge node (Eclipse Sparkplug 3.0): births with every metric, data on change,\n"
        "NDEATH as the will, commands written to the devices. Naming and behaviour: docs/sparkplug.md.\n\n";
    out += render_markdown(sparkplug_fields());
    return out;
}

config::TableList sparkplug_tables(SparkplugConfig& out) {
    auto read = [&out](const toml::node& value, const std::string& display_key, const ReportProblem& report) {
        const toml::table* t = as_table(value, display_key, report);
        if (t == nullptr) return;
        SparkplugConfig c;
        if (!apply_fields(*t, sparkplug_fields(), {}, c, display_key, line_of(*t), report)) return;
        if (c.client_id.empty()) c.client_id = "ironbridge-sparkplug-" + c.edge_node_id;
        out = std::move(c);
    };
    return {"sparkplug", std::move(read), render_sparkplug_markdown};
}

}  // namespace ib::sparkplug
