// What the postgres action sends: each JSON value as its column's type reads it
// in COPY's text format (escapes, nulls, Unix milliseconds as UTC timestamps,
// JSON for json columns), identifiers quoted, and the action's keys checked as a
// user writes them, with the errors a user sees.
#include <gtest/gtest.h>

#include <string>

#include "rules/postgres_rows.hpp"
#include "rules/rule_settings.hpp"

namespace {

using ib::rules::CopyColumn;
using ib::rules::CopyEncoder;
using ib::rules::PgKind;

std::string line(CopyEncoder& e, std::string_view row) {
    std::string out;
    auto r = e.append(row, out);
    EXPECT_TRUE(r.has_value()) << r.error();
    return out;
}

TEST(PostgresRows, WritesEachValueAsItsColumnTypeReadsIt) {
    CopyEncoder e({{"device", PgKind::Text},
                   {"ts", PgKind::Timestamp},
                   {"temp", PgKind::Number},
                   {"run", PgKind::Boolean},
                   {"extra", PgKind::Json},
                   {"day", PgKind::Date},
                   {"missing", PgKind::Text}});
    EXPECT_EQ(line(e, R"({"ts":1733400000123,"device":"plc1","temp":21.5,"run":true,"extra":{"a":[1,"x"]},"day":1733400000123})"),
              "plc1\t2024-12-05 12:00:00.123+00\t21.5\tt\t{\"a\":[1,\"x\"]}\t2024-12-05\t\\N\n");
    // Text goes as it is (the server parses it), null is \N, a string into json is a JSON string.
    EXPECT_EQ(line(e, R"({"device":null,"ts":"2026-12-05T10:00:00Z","temp":-3,"run":false,"extra":"t","day":"2026-12-05"})"),
              "\\N\t2026-12-05T10:00:00Z\t-3\tf\t\"t\"\t2026-12-05\t\\N\n");
}

TEST(PostgresRows, EscapesWhatCopyTextFormatReserves) {
    CopyEncoder e({{"note", PgKind::Text}, {"j", PgKind::Json}});
    EXPECT_EQ(line(e, R"({"note":"a\tb\nc\rd\\e","j":{"k":"x\ty"}})"), "a\\tb\\nc\\rd\\\\e\t{\"k\":\"x\\\\ty\"}\n");
}

TEST(PostgresRows, TimesBeforeTheEpochRoundDown) {
    CopyEncoder e({{"ts", PgKind::Timestamp}});
    EXPECT_EQ(line(e, R"({"ts":-1})"), "1969-12-31 23:59:59.999+00\n");
}

TEST(PostgresRows, RefusesWhatIsNotARowAndLeavesTheOutputAsItWas) {
    CopyEncoder e({{"ts", PgKind::Timestamp}});
    std::string out = "kept\n";
    EXPECT_FALSE(e.append("[1,2]", out).has_value());
    EXPECT_FALSE(e.append("not json", out).has_value());
    auto r = e.append(R"({"ts":1e300})", out);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("is not a time in Unix milliseconds"), std::string::npos) << r.error();
    EXPECT_EQ(out, "kept\n");
}

TEST(PostgresRows, KindsFromTheCatalogsTypeNames) {
    EXPECT_EQ(ib::rules::pg_kind("timestamp(3) with time zone"), PgKind::Timestamp);
    EXPECT_EQ(ib::rules::pg_kind("double precision"), PgKind::Number);
    EXPECT_EQ(ib::rules::pg_kind("numeric(10,2)"), PgKind::Number);
    EXPECT_EQ(ib::rules::pg_kind("jsonb"), PgKind::Json);
    EXPECT_EQ(ib::rules::pg_kind("character varying(20)"), PgKind::Text);
    EXPECT_EQ(ib::rules::pg_kind("uuid"), PgKind::Text);
}

TEST(PostgresRows, QuotesIdentifiersAndBuildsTheStatements) {
    ib::rules::PostgresTarget t;
    t.table = "plant.readings";
    t.columns = {{"device", "text"}, {"ts", "timestamptz"}};
    EXPECT_EQ(ib::rules::create_table_sql(t), R"(CREATE TABLE IF NOT EXISTS "plant"."readings" ("device" text, "ts" timestamptz))");
    EXPECT_EQ(ib::rules::copy_sql(t), R"(COPY "plant"."readings" ("device", "ts") FROM STDIN)");
    EXPECT_EQ(ib::rules::quote_identifier(R"(a"b)"), R"("a""b")");
    EXPECT_FALSE(ib::rules::valid_identifier("1abc"));
    EXPECT_FALSE(ib::rules::valid_identifier("a;drop"));
    EXPECT_EQ(ib::rules::canonical_type("Double Precision"), "double precision");
    EXPECT_FALSE(ib::rules::canonical_type("text); drop table x; --").has_value());
}

std::string rule_error(const std::string& postgres) {
    auto r = ib::rules::rule_from_json(R"({"id":"p","sql":"SELECT device, ts FROM \"t\"","actions":[{"postgres":)" + postgres +
                                       "}]}");
    return r ? std::string() : r.error();
}

TEST(PostgresSettings, ChecksTheKeysAsAUserWritesThem) {
    EXPECT_EQ(rule_error(R"({"dsn":"host=db","table":"t","columns":["device","ts"]})"), "");
    EXPECT_EQ(rule_error(R"({"dsn":"host=db","table":"t","columns":["device text","ts timestamptz"],"create":true})"), "");
    EXPECT_NE(rule_error(R"({"dsn":"host=db","table":"t","columns":["device","ts"],"create":true})")
                  .find("column device needs a type (\"device text\") when create = true"),
              std::string::npos);
    EXPECT_NE(rule_error(R"({"dsn":"host=db","table":"t","columns":["device money"]})").find("\"money\" is not one of"),
              std::string::npos);
    EXPECT_NE(rule_error(R"({"dsn":"host=db","table":"t","columns":["temp"]})")
                  .find("postgres action: column temp is not a column of the rule's SELECT"),
              std::string::npos);
    EXPECT_NE(rule_error(R"({"dsn":"host=db","table":"a.b.c","columns":["ts"]})").find("is not a table name"),
              std::string::npos);
    EXPECT_NE(rule_error(R"({"dsn":"host=db","table":"t"})").find("columns"), std::string::npos);
    EXPECT_NE(rule_error(R"({"dsn":"host=db port","table":"t","columns":["ts"]})").find("missing \"=\" after \"port\""),
              std::string::npos)
        << rule_error(R"({"dsn":"host=db port","table":"t","columns":["ts"]})");
}

TEST(PostgresSettings, ARuleKeptAsJsonReadsBackTheSame) {
    auto r = ib::rules::rule_from_json(
        R"({"id":"p","sql":"SELECT device, ts FROM \"t\"","actions":[{"postgres":{"dsn":"host=db","table":"s.t",)"
        R"("columns":["device text","ts timestamptz"],"create":true,"time_column":"ts","batch_rows":100,"queue_full":"drop-new"}}]})");
    ASSERT_TRUE(r.has_value()) << r.error();
    const std::string json = ib::rules::rule_to_json(*r);
    auto again = ib::rules::rule_from_json(json);
    ASSERT_TRUE(again.has_value()) << again.error();
    EXPECT_EQ(ib::rules::rule_to_json(*again), json);
    EXPECT_NE(json.find(R"("columns":["device text","ts timestamptz"])"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("queue_full":"drop-new")"), std::string::npos) << json;
}

}  // namespace
