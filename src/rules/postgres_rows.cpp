#include "rules/postgres_rows.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "rules/evaluator.hpp"

namespace ib::rules {
namespace {

constexpr std::string_view kTypes[][2] = {
    // as written in `columns` → as CREATE TABLE gets it
    {"smallint", "smallint"},
    {"integer", "integer"},
    {"int", "integer"},
    {"bigint", "bigint"},
    {"real", "real"},
    {"double precision", "double precision"},
    {"float8", "double precision"},
    {"numeric", "numeric"},
    {"text", "text"},
    {"varchar", "varchar"},
    {"boolean", "boolean"},
    {"bool", "boolean"},
    {"timestamptz", "timestamptz"},
    {"timestamp with time zone", "timestamptz"},
    {"timestamp", "timestamp"},
    {"date", "date"},
    {"json", "json"},
    {"jsonb", "jsonb"},
    {"uuid", "uuid"},
};

bool starts_with_any(std::string_view s, std::initializer_list<std::string_view> prefixes) {
    for (std::string_view p : prefixes) {
        if (s.starts_with(p)) return true;
    }
    return false;
}

// COPY text format: backslash, newline, carriage return and tab are escaped.
void append_escaped(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default: out.push_back(c);
        }
    }
}

void append_number(std::string& out, simdjson::dom::element el) {
    char buf[32];
    std::to_chars_result r{};
    switch (el.type()) {
        case simdjson::dom::element_type::INT64: r = std::to_chars(buf, buf + sizeof buf, el.get_int64().value_unsafe()); break;
        case simdjson::dom::element_type::UINT64: r = std::to_chars(buf, buf + sizeof buf, el.get_uint64().value_unsafe()); break;
        default: r = std::to_chars(buf, buf + sizeof buf, el.get_double().value_unsafe()); break;
    }
    out.append(buf, r.ptr);
}

// Unix milliseconds as UTC text PostgreSQL reads: "2026-12-05 17:37:08.123+00"
// (a timestamp without time zone ignores the "+00"), or the date alone.
bool append_unix_ms(std::string& out, double ms, bool date_only) {
    if (!std::isfinite(ms) || std::fabs(ms) > 1e16) return false;
    const auto whole = static_cast<int64_t>(std::floor(ms));
    int64_t secs = whole / 1000;
    int64_t milli = whole % 1000;
    if (milli < 0) {
        milli += 1000;
        secs -= 1;
    }
    const time_t t = static_cast<time_t>(secs);
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr) return false;
    char buf[48];
    const int n = date_only ? std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday)
                            : std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900,
                                            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(milli));
    if (n <= 0 || n >= static_cast<int>(sizeof buf)) return false;
    out.append(buf, static_cast<size_t>(n));
    return true;
}

bool is_number(simdjson::dom::element el) {
    auto t = el.type();
    return t == simdjson::dom::element_type::INT64 || t == simdjson::dom::element_type::UINT64 ||
           t == simdjson::dom::element_type::DOUBLE;
}

}  // namespace

PgKind pg_kind(std::string_view type) {
    if (starts_with_any(type, {"timestamp"})) return PgKind::Timestamp;
    if (type == "date") return PgKind::Date;
    if (type == "boolean") return PgKind::Boolean;
    if (type == "json" || type == "jsonb") return PgKind::Json;
    if (starts_with_any(type, {"smallint", "integer", "bigint", "real", "double precision", "numeric"})) return PgKind::Number;
    return PgKind::Text;
}

std::optional<std::string> canonical_type(std::string_view type) {
    std::string lower;
    for (char c : type) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    for (const auto& t : kTypes) {
        if (t[0] == lower) return std::string(t[1]);
    }
    return std::nullopt;
}

bool valid_identifier(std::string_view name) {
    if (name.empty() || name.size() > 63) return false;
    for (size_t i = 0; i < name.size(); ++i) {
        const auto c = static_cast<unsigned char>(name[i]);
        const bool letter = std::isalpha(c) || c == '_';
        if (!(letter || (i > 0 && std::isdigit(c)))) return false;
    }
    return true;
}

std::string quote_identifier(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    return out + "\"";
}

std::string_view table_schema(std::string_view table) {
    const size_t dot = table.find('.');
    return dot == std::string_view::npos ? std::string_view() : table.substr(0, dot);
}

std::string quote_table(std::string_view table) {
    const size_t dot = table.find('.');
    if (dot == std::string_view::npos) return quote_identifier(table);
    return quote_identifier(table.substr(0, dot)) + "." + quote_identifier(table.substr(dot + 1));
}

std::string create_table_sql(const PostgresTarget& t) {
    std::string sql = "CREATE TABLE IF NOT EXISTS " + quote_table(t.table) + " (";
    for (size_t i = 0; i < t.columns.size(); ++i) {
        if (i) sql += ", ";
        sql += quote_identifier(t.columns[i].name) + " " + t.columns[i].type;
    }
    return sql + ")";
}

std::string copy_sql(const PostgresTarget& t) {
    std::string sql = "COPY " + quote_table(t.table) + " (";
    for (size_t i = 0; i < t.columns.size(); ++i) {
        if (i) sql += ", ";
        sql += quote_identifier(t.columns[i].name);
    }
    return sql + ") FROM STDIN";
}

std::expected<void, std::string> CopyEncoder::append(std::string_view row, std::string& out) {
    simdjson::dom::element doc;
    if (auto err = parser_.parse(row.data(), row.size()).get(doc); err) {
        return std::unexpected(std::string("the row is not JSON: ") + simdjson::error_message(err));
    }
    simdjson::dom::object obj;
    if (doc.get_object().get(obj)) return std::unexpected("the row is not a JSON object");
    // One pass over the row's keys (a handful) finds every column.
    found_.assign(columns_.size(), simdjson::dom::element());
    seen_.assign(columns_.size(), 0);
    for (auto field : obj) {
        for (size_t i = 0; i < columns_.size(); ++i) {
            if (!seen_[i] && field.key == columns_[i].name) {
                found_[i] = field.value;
                seen_[i] = 1;
                break;
            }
        }
    }
    const size_t start = out.size();
    for (size_t i = 0; i < columns_.size(); ++i) {
        if (i) out.push_back('\t');
        const simdjson::dom::element el = found_[i];
        if (!seen_[i] || el.is_null()) {
            out += "\\N";
            continue;
        }
        const PgKind kind = columns_[i].kind;
        const auto type = el.type();
        if (kind == PgKind::Json) {
            scratch_.clear();
            append_element(scratch_, el);
            append_escaped(out, scratch_);
        } else if (type == simdjson::dom::element_type::STRING) {
            append_escaped(out, el.get_string().value_unsafe());
        } else if ((kind == PgKind::Timestamp || kind == PgKind::Date) && is_number(el)) {
            const double ms = type == simdjson::dom::element_type::DOUBLE ? el.get_double().value_unsafe()
                              : type == simdjson::dom::element_type::INT64
                                  ? static_cast<double>(el.get_int64().value_unsafe())
                                  : static_cast<double>(el.get_uint64().value_unsafe());
            if (!append_unix_ms(out, ms, kind == PgKind::Date)) {
                out.resize(start);
                return std::unexpected("column " + columns_[i].name + ": " + std::to_string(ms) +
                                       " is not a time in Unix milliseconds");
            }
        } else if (type == simdjson::dom::element_type::BOOL) {
            const bool b = el.get_bool().value_unsafe();
            if (kind == PgKind::Boolean) out += b ? "t" : "f";
            else if (kind == PgKind::Number) out += b ? "1" : "0";
            else out += b ? "true" : "false";
        } else if (is_number(el)) {
            if (kind == PgKind::Boolean) {
                out += el.get_double().value_unsafe() != 0 ? "t" : "f";
            } else {
                append_number(out, el);
            }
        } else {
            // An object or an array into a column that is not json: its JSON text.
            scratch_.clear();
            append_element(scratch_, el);
            append_escaped(out, scratch_);
        }
    }
    out.push_back('\n');
    return {};
}

}  // namespace ib::rules
