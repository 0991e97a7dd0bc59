#include "rules/postgres_settings.hpp"


#include <algorithm>

#include "core/quote.hpp"
#include "rules/action_plugin.hpp"
#include "rules/postgres_rows.hpp"
#include "rules/rule.hpp"

namespace ib::rules {

using namespace config::fields;

namespace {

// "name" or "name type": the row's column, and the table's of the same name.
std::string parse_column(std::string_view text, PostgresColumn& out) {
    const size_t space = text.find(' ');
    std::string_view name = text.substr(0, space);
    if (!valid_identifier(name)) {
        return ib::quoted(std::string(name)) + " is not a column name: a letter or '_', then letters, digits or '_' (at most 63)";
    }
    out.name = std::string(name);
    out.type.clear();
    if (space == std::string_view::npos) return {};
    std::string_view type = text.substr(space + 1);
    while (type.starts_with(' ')) type.remove_prefix(1);
    auto canonical = canonical_type(type);
    if (!canonical) {
        return "column " + out.name + ": " + ib::quoted(std::string(type)) +
               " is not one of smallint, integer, bigint, real, double precision, numeric, text, varchar, boolean, "
               "timestamptz, timestamp, date, json, jsonb, uuid";
    }
    out.type = *canonical;
    return {};
}

std::string columns_json(const std::vector<PostgresColumn>& cols) {
    std::string out = "[";
    for (size_t i = 0; i < cols.size(); ++i) {
        if (i) out += ",";
        out += ib::quoted(cols[i].type.empty() ? cols[i].name : cols[i].name + " " + cols[i].type);
    }
    return out + "]";
}

}  // namespace

const std::vector<Field<ActionConfig>>& postgres_fields() {
    static const std::vector<Field<ActionConfig>> f = {
        {"dsn", Kind::String, "(required)",
         "libpq connection string, `host=db port=5432 dbname=plant user=ib` or `postgresql://ib@db/plant`; keep the "
         "password in a passfile (`passfile=/etc/ironbridge/pgpass`) rather than in the configuration; the API shows a password "
         "given here as `********`.",
         0, 0,
         [](ActionConfig& a, const toml::node& n) -> std::string {
             std::string dsn = str(n);
             if (dsn.empty()) return "must not be empty";
             // Its syntax is checked now, as libpq will read it, not at the
             // first connection; so the plug-in is loaded now, or its absence said.
             auto pg = plugin::postgres_plugin();
             if (!pg) return pg.error();
             if (std::string why = (*pg)->check_dsn(dsn); !why.empty()) return why;
             a.postgres.dsn = std::move(dsn);
             return {};
         },
         nullptr, true},
        {"table", Kind::String, "(required)", "Table the rows go to, `name` or `schema.name`.", 0, 0,
         [](ActionConfig& a, const toml::node& n) -> std::string {
             std::string t = str(n);
             const size_t dot = t.find('.');
             const bool ok = dot == std::string::npos
                                 ? valid_identifier(t)
                                 : valid_identifier(std::string_view(t).substr(0, dot)) &&
                                       valid_identifier(std::string_view(t).substr(dot + 1));
             if (!ok) return ib::quoted(t) + " is not a table name: `name` or `schema.name`, each a letter or '_', then letters, digits or '_'";
             a.postgres.table = std::move(t);
             return {};
         },
         nullptr, true},
        {"columns", Kind::StringArray, "(required)",
         "The row's columns written, each to the table's column of the same name: `\"device\"`, or `\"ts timestamptz\"` "
         "with the type `create` gives it. A number into a timestamp or date column is Unix milliseconds.",
         0, 0,
         [](ActionConfig& a, const toml::node& n) -> std::string {
             a.postgres.columns.clear();
             for (const auto& e : *n.as_array()) {
                 PostgresColumn c;
                 if (std::string why = parse_column(e.as_string()->get(), c); !why.empty()) return why;
                 for (const PostgresColumn& seen : a.postgres.columns) {
                     if (seen.name == c.name) return "column " + c.name + " is named twice";
                 }
                 a.postgres.columns.push_back(std::move(c));
             }
             return a.postgres.columns.empty() ? "must name at least one column" : "";
         },
         nullptr, true},
        {"create", Kind::Boolean, "false",
         "Create the schema and the table (every column then needs a type) when missing, at each connection; under "
         "TimescaleDB a hypertable on `time_column`.",
         0, 0,
         [](ActionConfig& a, const toml::node& n) {
             a.postgres.create = n.as_boolean()->get();
             return std::string();
         }},
        {"time_column", Kind::String, "\"\"",
         "The hypertable's time column, when the database has the timescaledb extension; empty takes the first timestamp column.",
         0, 0,
         [](ActionConfig& a, const toml::node& n) {
             a.postgres.time_column = str(n);
             return std::string();
         }},
        {"batch_rows", Kind::Integer, "5000", "Rows written by one COPY (one transaction) at most.", 1, 1000000,
         [](ActionConfig& a, const toml::node& n) {
             a.postgres.batch_rows = static_cast<uint32_t>(integer(n));
             return std::string();
         }},
        {"max_queue_bytes", Kind::Integer, "268435456",
         "Bytes of rows the disk queue in front of the database holds; beyond it `queue_full` applies.", 1024, 1099511627776,
         [](ActionConfig& a, const toml::node& n) {
             a.postgres.max_queue_bytes = static_cast<uint64_t>(integer(n));
             return std::string();
         }},
        {"queue_full", Kind::String, "\"drop-oldest\"",
         "When the queue is full: `drop-oldest` makes room, `drop-new` refuses the new row; each drop counted.", 0, 0,
         [](ActionConfig& a, const toml::node& n) -> std::string {
             std::string s = str(n);
             if (s == "drop-oldest") a.postgres.queue_full = PostgresQueueFull::DropOldest;
             else if (s == "drop-new") a.postgres.queue_full = PostgresQueueFull::DropNew;
             else return ib::quoted(s) + " is not one of drop-oldest, drop-new";
             return {};
         }},
        {"connect_timeout_s", Kind::Integer, "5", "Time a connection attempt may take (libpq's connect_timeout).", 2, 600,
         [](ActionConfig& a, const toml::node& n) {
             a.postgres.connect_timeout_s = static_cast<uint32_t>(integer(n));
             return std::string();
         }},
        {"retry_max_ms", Kind::Integer, "30000", "Longest wait between attempts after a failure (from 500 ms, doubling).",
         500, 3600000,
         [](ActionConfig& a, const toml::node& n) {
             a.postgres.retry_max_ms = static_cast<uint32_t>(integer(n));
             return std::string();
         }},
    };
    return f;
}

std::string postgres_action_json(const ActionConfig& a) {
    const PostgresTarget& t = a.postgres;
    std::string out = "{\"postgres\":{\"dsn\":" + ib::quoted(t.dsn) + ",\"table\":" + ib::quoted(t.table) +
                      ",\"columns\":" + columns_json(t.columns) + ",\"create\":" + (t.create ? "true" : "false");
    if (!t.time_column.empty()) out += ",\"time_column\":" + ib::quoted(t.time_column);
    out += ",\"batch_rows\":" + std::to_string(t.batch_rows) + ",\"max_queue_bytes\":" + std::to_string(t.max_queue_bytes) +
           ",\"queue_full\":" + (t.queue_full == PostgresQueueFull::DropNew ? "\"drop-new\"" : "\"drop-oldest\"") +
           ",\"connect_timeout_s\":" + std::to_string(t.connect_timeout_s) +
           ",\"retry_max_ms\":" + std::to_string(t.retry_max_ms);
    return out + "}}";
}

std::string check_postgres_action(const PostgresTarget& t, const Rule& rule, bool after_call) {
    if (t.create) {
        for (const PostgresColumn& c : t.columns) {
            if (c.type.empty()) return "column " + c.name + " needs a type (\"" + c.name + " text\") when create = true";
        }
    }
    if (!t.time_column.empty() &&
        std::none_of(t.columns.begin(), t.columns.end(), [&](const PostgresColumn& c) { return c.name == t.time_column; })) {
        return "time_column " + t.time_column + " is not one of the columns";
    }
    if (!rule.select_star() && !after_call) {
        auto cols = rule.columns();
        for (const PostgresColumn& c : t.columns) {
            if (std::find(cols.begin(), cols.end(), c.name) == cols.end()) {
                return "column " + c.name + " is not a column of the rule's SELECT";
            }
        }
    }
    return {};
}

}  // namespace ib::rules
