// What the postgres action sends: identifiers quoted, the CREATE TABLE and COPY
// statements, and a rule's rows (JSON objects) as lines of COPY's text format,
// each value written as its column's type reads it. Pure: no libpq, no I/O, so
// the unit tests hold every conversion.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "rules/postgres_config.hpp"

namespace ib::rules {

// How a column's values are written, from the type the catalog gives it.
enum class PgKind : uint8_t { Text, Number, Boolean, Timestamp, Date, Json };

// From format_type()'s text: "timestamp with time zone", "double precision",
// "character varying(20)", "jsonb"... Anything unknown is written as Text.
PgKind pg_kind(std::string_view type);

// The types `columns` may give for CREATE TABLE, in their canonical spelling
// ("int" is "integer"); nullopt for anything else, so no text of the config
// reaches SQL unchecked.
std::optional<std::string> canonical_type(std::string_view type);

// A letter or '_', then letters, digits or '_', at most 63 bytes (NAMEDATALEN).
bool valid_identifier(std::string_view name);
// "name", with '"' doubled.
std::string quote_identifier(std::string_view name);
// `name` or `schema.name`, each part quoted.
std::string quote_table(std::string_view table);
// The schema of `schema.name`, or "".
std::string_view table_schema(std::string_view table);

std::string create_table_sql(const PostgresTarget& t);
std::string copy_sql(const PostgresTarget& t);

struct CopyColumn {
    std::string name;
    PgKind kind = PgKind::Text;
};

// Writes rows as COPY text lines (PostgreSQL 15, COPY, "Text Format"): columns
// separated by a tab, `\N` for a null or absent column, and backslash, newline,
// carriage return and tab escaped. A number into a timestamp or date column is
// Unix milliseconds (the `ts` of a reading), written as UTC.
class CopyEncoder {
public:
    explicit CopyEncoder(std::vector<CopyColumn> columns) : columns_(std::move(columns)) {}

    // Appends one line for `row` (a JSON object) to `out`; on error `out` is as it was.
    std::expected<void, std::string> append(std::string_view row, std::string& out);

private:
    std::vector<CopyColumn> columns_;
    std::vector<simdjson::dom::element> found_;  // per column, reused row after row
    std::vector<uint8_t> seen_;
    simdjson::dom::parser parser_;
    std::string scratch_;
};

}  // namespace ib::rules
