#include "rules/rule_settings.hpp"

#include "config/json_tree.hpp"
#include "core/quote.hpp"
#include "mqtt/codec/codec.hpp"
#include "rules/call_settings.hpp"
#include "rules/postgres_settings.hpp"
#include "rules/rule_engine.hpp"
#include "rules/rule_secrets.hpp"

namespace ib::rules {
namespace {

using namespace config::fields;
using config::ReportProblem;

const std::vector<Field<RuleConfig>>& rule_fields() {
    static const std::vector<Field<RuleConfig>> f = {
        {"id", Kind::String, "(required)", "Unique rule id; used in logs, metrics and /api/v1/rules/{id}.", 0, 0,
         [](RuleConfig& r, const toml::node& n) { return store_name(r.id, n); }, nullptr, true},
        {"sql", Kind::String, "(required)",
         "The rule: `SELECT <columns> FROM \"<topic filter>\" [WHERE ...] [GROUP BY <keys>, <window>] [HAVING ...]` (docs/rules.md).",
         0, 0,
         [](RuleConfig& r, const toml::node& n) {
             r.sql = str(n);
             return std::string();
         },
         nullptr, true},
        {"enabled", Kind::Boolean, "true", "A disabled rule is kept but receives nothing.", 0, 0,
         [](RuleConfig& r, const toml::node& n) {
             r.enabled = n.as_boolean()->get();
             return std::string();
         }},
        {"event_time", Kind::String, "\"\"",
         "Payload field (e.g. `ts`, Unix milliseconds) that windows follow instead of the receive time.", 0, 0,
         [](RuleConfig& r, const toml::node& n) {
             r.event_time = str(n);
             return std::string();
         }},
        {"late_tolerance_ms", Kind::Integer, "0",
         "Event time: how long a window waits for late messages after its end; later ones are counted and dropped.", 0,
         86400000,
         [](RuleConfig& r, const toml::node& n) {
             r.late_tolerance_ms = integer(n);
             return std::string();
         }},
    };
    return f;
}

const std::vector<Field<ActionConfig>>& publish_fields() {
    static const std::vector<Field<ActionConfig>> f = {
        {"topic", Kind::String, "(required)", "Topic template: `${column}` is a column of the row, e.g. `alarms/${device}`.", 0, 0,
         [](ActionConfig& a, const toml::node& n) {
             a.topic = str(n);
             return std::string();
         },
         nullptr, true},
        {"payload", Kind::String, "\"\"", "Payload template; empty sends the row as a JSON object.", 0, 0,
         [](ActionConfig& a, const toml::node& n) {
             a.payload = str(n);
             return std::string();
         }},
        {"qos", Kind::Integer, "0", "QoS of the published message.", 0, 2,
         [](ActionConfig& a, const toml::node& n) {
             a.qos = static_cast<uint8_t>(integer(n));
             return std::string();
         }},
        {"retain", Kind::Boolean, "false", "Whether the message is retained.", 0, 0,
         [](ActionConfig& a, const toml::node& n) {
             a.retain = n.as_boolean()->get();
             return std::string();
         }},
    };
    return f;
}

const std::vector<Field<ActionConfig>>& write_fields() {
    static const std::vector<Field<ActionConfig>> f = {
        {"device", Kind::String, "(required)", "Device to write, a template such as `${device}`; written through `ib/write/<device>`.",
         0, 0,
         [](ActionConfig& a, const toml::node& n) {
             a.device = str(n);
             return std::string();
         },
         nullptr, true},
        {"tag", Kind::String, "\"\"",
         "Tag written with the row's `value` column (or its only column); empty writes each column to the tag of that name.", 0,
         0,
         [](ActionConfig& a, const toml::node& n) {
             a.tag = str(n);
             return std::string();
         }},
    };
    return f;
}

const std::vector<Field<ActionConfig>>& http_fields() {
    static const std::vector<Field<ActionConfig>> f = {
        {"url", Kind::String, "(required)", "Endpoint, `http[s]://host[:port]/path`; rows go in order per key over kept-alive connections; https verifies the server.", 0, 0,
         [](ActionConfig& a, const toml::node& n) {
             a.url = str(n);
             return std::string();
         },
         nullptr, true},
        {"method", Kind::String, "\"POST\"", "`POST` or `PUT`.", 0, 0,
         [](ActionConfig& a, const toml::node& n) -> std::string {
             a.method = str(n);
             if (a.method != "POST" && a.method != "PUT") return ib::quoted(a.method) + " is not one of POST, PUT";
             return {};
         }},
        {"payload", Kind::String, "\"\"", "Body template; empty sends the row as a JSON object.", 0, 0,
         [](ActionConfig& a, const toml::node& n) {
             a.payload = str(n);
             return std::string();
         }},
        {"timeout_ms", Kind::Integer, "5000", "Time one request (connect, send, answer) may take.", 100, 600000,
         [](ActionConfig& a, const toml::node& n) {
             a.timeout_ms = static_cast<uint32_t>(integer(n));
             return std::string();
         }},
        {"retries", Kind::Integer, "3", "Attempts after the first, with back-off from 200 ms doubling; then the row is given up and counted.", 0, 20,
         [](ActionConfig& a, const toml::node& n) {
             a.retries = static_cast<uint32_t>(integer(n));
             return std::string();
         }},
        {"max_queue", Kind::Integer, "1000", "Rows waiting for the endpoint; beyond it new rows are dropped and counted.", 1, 1000000,
         [](ActionConfig& a, const toml::node& n) {
             a.max_queue = static_cast<uint32_t>(integer(n));
             return std::string();
         }},
    };
    return f;
}

// The plain HTTP keys and those of a call (rules/call_settings).
const std::vector<Field<ActionConfig>>& http_action_fields() {
    static const std::vector<Field<ActionConfig>> f = [] {
        auto v = http_fields();
        v.insert(v.end(), http_call_fields().begin(), http_call_fields().end());
        return v;
    }();
    return f;
}

const std::vector<Field<ActionConfig>>& sqlite_fields() {
    static const std::vector<Field<ActionConfig>> f = {
        {"table", Kind::String, "(required)",
         "Table of `data_dir/rules.db` the rows go to, as (id, ts, rule, row): `json_extract(row, '$.avg')` reads a column.", 0, 0,
         [](ActionConfig& a, const toml::node& n) {
             a.table = str(n);
             return std::string();
         },
         nullptr, true},
        {"max_rows", Kind::Integer, "1000000", "Rows the table keeps; the oldest go first.", 1, 1000000000,
         [](ActionConfig& a, const toml::node& n) {
             a.max_rows = static_cast<uint64_t>(integer(n));
             return std::string();
         }},
    };
    return f;
}

const std::vector<Field<ActionConfig>>& log_fields() {
    static const std::vector<Field<ActionConfig>> f = {};
    return f;
}

struct ActionType {
    std::string_view name;
    ActionKind kind;
    const std::vector<Field<ActionConfig>>& (*fields)();
};
constexpr ActionType kActionTypes[] = {
    {"publish", ActionKind::Publish, publish_fields},
    {"write", ActionKind::Write, write_fields},
    {"log", ActionKind::Log, log_fields},
    {"http", ActionKind::Http, http_action_fields},
    {"sqlite", ActionKind::Sqlite, sqlite_fields},
    {"grpc", ActionKind::Grpc, grpc_fields},
    {"postgres", ActionKind::Postgres, postgres_fields},
};

// "publish, write, ...": every action's name, from the table.
std::string action_names() {
    std::string out;
    for (const ActionType& type : kActionTypes) out += (out.empty() ? "" : ", ") + std::string(type.name);
    return out;
}

std::nullopt_t unknown_action(std::string_view name, uint32_t line, const std::string& path, const ReportProblem& report);

std::optional<ActionConfig> parse_action(const toml::table& t, const std::string& path, const ReportProblem& report) {
    if (t.size() != 1) {
        report(line_of(t), path + ": an action is one of " + action_names() + ", e.g. {publish = {topic = \"alarms/${device}\"}}");
        return std::nullopt;
    }
    for (auto&& [k, v] : t) {
        std::string_view name = k.str();
        for (const ActionType& type : kActionTypes) {
            if (type.name != name) continue;
            const toml::table* body = as_table(v, join(path, name), report);
            if (body == nullptr) return std::nullopt;
            ActionConfig a;
            a.kind = type.kind;
            if (!apply_fields(*body, type.fields(), {}, a, join(path, name), line_of(*body), report)) return std::nullopt;
            if (std::string why = check_call(a); !why.empty()) {
                report(line_of(*body), join(path, name) + ": " + why);
                return std::nullopt;
            }
            return a;
        }
        return unknown_action(name, line_of(v), path, report);
    }
    return std::nullopt;
}

std::nullopt_t unknown_action(std::string_view name, uint32_t line, const std::string& path, const ReportProblem& report) {
    std::vector<std::string_view> names;
    for (const ActionType& type : kActionTypes) names.push_back(type.name);
    std::string_view best = suggest(name, names);
    report(line, path + ": unknown action '" + std::string(name) + "'" +
                           (best.empty() ? " (one of " + action_names() + ")" : " (did you mean '" + std::string(best) + "'?)"));
    return std::nullopt;
}

}  // namespace

std::optional<RuleConfig> parse_rule(const toml::table& table, const std::string& display, const ReportProblem& report) {
    RuleConfig r;
    bool ok = apply_fields(table, rule_fields(), {"actions"}, r, display, line_of(table), report);
    if (const toml::array* arr = child_array(table, "actions", display, report)) {
        for (std::size_t i = 0; i < arr->size(); ++i) {
            std::string path = join(display, "actions") + "[" + std::to_string(i) + "]";
            const toml::table* t = as_table(*arr->get(i), path, report);
            if (t == nullptr) {
                ok = false;
                continue;
            }
            auto a = parse_action(*t, path, report);
            if (!a) {
                ok = false;
                continue;
            }
            r.actions.push_back(std::move(*a));
        }
    } else if (table.contains("actions")) {
        ok = false;
    }
    if (!ok) return std::nullopt;
    if (auto compiled = rules::compile_rule(r); !compiled) {
        const toml::node* sql = table.get("sql");
        report(sql ? line_of(*sql) : line_of(table), join(display, "sql") + ": " + compiled.error());
        return std::nullopt;
    }
    return r;
}

std::expected<RuleConfig, std::string> rule_from_json(std::string_view json) {
    auto table = config::json_object(json);
    if (!table) return std::unexpected(table.error());
    std::string problems;
    auto rule = parse_rule(*table, "", [&](uint32_t, std::string text) { problems += (problems.empty() ? "" : "\n") + text; });
    if (!rule) return std::unexpected(problems);
    return *rule;
}

std::string rule_to_json(const RuleConfig& rule, config::fields::Secrets secrets) {
    if (secrets == config::fields::Secrets::Masked) return rule_to_json(with_secrets_masked(rule));
    const RuleConfig& r = rule;
    std::string out = "{\"id\":" + ib::quoted(r.id) + ",\"sql\":" + ib::quoted(r.sql) +
                      ",\"enabled\":" + (r.enabled ? "true" : "false");
    if (!r.event_time.empty()) out += ",\"event_time\":" + ib::quoted(r.event_time);
    if (r.late_tolerance_ms != 0) out += ",\"late_tolerance_ms\":" + std::to_string(r.late_tolerance_ms);
    out += ",\"actions\":[";
    for (std::size_t i = 0; i < r.actions.size(); ++i) {
        const ActionConfig& a = r.actions[i];
        if (i) out += ",";
        switch (a.kind) {
            case ActionKind::Publish:
                out += "{\"publish\":{\"topic\":" + ib::quoted(a.topic);
                if (!a.payload.empty()) out += ",\"payload\":" + ib::quoted(a.payload);
                out += ",\"qos\":" + std::to_string(a.qos) + ",\"retain\":" + (a.retain ? "true" : "false") + "}}";
                break;
            case ActionKind::Write:
                out += "{\"write\":{\"device\":" + ib::quoted(a.device);
                if (!a.tag.empty()) out += ",\"tag\":" + ib::quoted(a.tag);
                out += "}}";
                break;
            case ActionKind::Log: out += "{\"log\":{}}"; break;
            case ActionKind::Http:
                out += "{\"http\":{\"url\":" + ib::quoted(a.url) + ",\"method\":" + ib::quoted(a.method);
                if (!a.payload.empty()) out += ",\"payload\":" + ib::quoted(a.payload);
                out += ",\"timeout_ms\":" + std::to_string(a.timeout_ms) + ",\"retries\":" + std::to_string(a.retries) +
                       ",\"max_queue\":" + std::to_string(a.max_queue);
                append_call_json(out, a);
                out += "}}";
                break;
            case ActionKind::Grpc:
                out += "{\"grpc\":{\"method\":" + ib::quoted(a.call.method);
                append_call_json(out, a);
                out += "}}";
                break;
            case ActionKind::Sqlite:
                out += "{\"sqlite\":{\"table\":" + ib::quoted(a.table) + ",\"max_rows\":" + std::to_string(a.max_rows) + "}}";
                break;
            case ActionKind::Postgres: out += postgres_action_json(a); break;
        }
    }
    return out + "]}";
}

std::string render_rules_markdown() {
    std::string out;
    out += "\n## [[rules]]\n\n"
           "Each `[[rules]]` table is one SQL rule over the bus (docs/rules.md); rules can also be\n"
           "created through `POST /api/v1/rules`, and are then kept in the data directory.\n\n";
    out += render_markdown(rule_fields());
    out += "\n## [[rules.actions]]\n\n"
           "Each action is a table with one key, the action's kind: `publish = {topic = \"alarms/${device}\"}`,\n"
           "`write = {device = \"${device}\", tag = \"setpoint\"}`, `http = {url = \"http://host/path\"}`,\n"
           "`sqlite = {table = \"alarms\"}` or `log = {}`.\n\n### publish\n\n";
    out += render_markdown(publish_fields());
    out += "\n### write\n\n";
    out += render_markdown(write_fields());
    out += "\n### log\n\nLogs each row at info level. No keys.\n\n### http\n\n";
    out += render_markdown(http_action_fields());
    out += "\n### sqlite\n\n";
    out += render_markdown(sqlite_fields());
    out += "\n### grpc\n\nCalls a unary gRPC method with each row (docs/rules.md); the answer is the row of the actions after it.\n\n";
    out += render_markdown(grpc_fields());
    out += "\n### postgres\n\n"
           "Rows written to a PostgreSQL table through a disk queue (docs/rules.md, \"The postgres action\").\n\n";
    out += render_markdown(postgres_fields());
    return out;
}

config::TableList rule_tables(std::vector<RuleConfig>& out) {
    return config::named_tables<RuleConfig>(
        "rules", "rule", "id", parse_rule, [](const RuleConfig& r) -> const std::string& { return r.id; },
        render_rules_markdown, out);
}

}  // namespace ib::rules
