// What the API shows of a rule hides its credentials, and a rule sent back as
// shown keeps the credentials in force.
#include <gtest/gtest.h>

#include <string>

#include "rules/rule_secrets.hpp"
#include "rules/rule_settings.hpp"

namespace {

using ib::config::fields::Secrets;

std::string masked_text(std::string_view dsn) {
    std::string out(dsn);
    auto spans = ib::rules::dsn_password_spans(dsn);
    for (auto it = spans.rbegin(); it != spans.rend(); ++it) out.replace(it->first, it->second, "*");
    return out;
}

TEST(DsnPassword, FoundInEveryFormLibpqReads) {
    EXPECT_EQ(masked_text("host=db password=s3cret user=ib"), "host=db password=* user=ib");
    EXPECT_EQ(masked_text("host=db password = plain user=ib"), "host=db password = * user=ib");
    EXPECT_EQ(masked_text("host=db password='a b\\' c' user=ib"), "host=db password=* user=ib");
    EXPECT_EQ(masked_text("postgresql://ib:s3cret@db:5432/plant"), "postgresql://ib:*@db:5432/plant");
    EXPECT_EQ(masked_text("postgres://ib:p%40ss@db/plant?sslmode=require&password=two"),
              "postgres://ib:*@db/plant?sslmode=require&password=*");
    EXPECT_EQ(masked_text("postgresql://ib@db/plant"), "postgresql://ib@db/plant");
    EXPECT_EQ(masked_text("host=db user=ib passfile=/etc/pgpass"), "host=db user=ib passfile=/etc/pgpass");
}

TEST(RuleSecrets, TheApiShowsNeitherTheDsnPasswordNorCredentialHeaders) {
    auto rule = ib::rules::rule_from_json(R"({"id":"r","sql":"SELECT * FROM \"t/+\"","actions":[)"
                                          R"({"postgres":{"dsn":"host=db password=s3cret","table":"t","columns":["v"]}},)"
                                          R"({"http":{"url":"http://h/","headers":["X-Api-Key: k-17","Accept: text/plain"]}}]})");
    ASSERT_TRUE(rule) << rule.error();
    const std::string shown = ib::rules::rule_to_json(*rule, Secrets::Masked);
    EXPECT_EQ(shown.find("s3cret"), std::string::npos) << shown;
    EXPECT_EQ(shown.find("k-17"), std::string::npos) << shown;
    EXPECT_NE(shown.find("host=db password=********"), std::string::npos) << shown;
    EXPECT_NE(shown.find("X-Api-Key: ********"), std::string::npos) << shown;
    EXPECT_NE(shown.find("Accept: text/plain"), std::string::npos) << shown;
    EXPECT_NE(ib::rules::rule_to_json(*rule).find("s3cret"), std::string::npos) << "the store keeps them";

    // Sent back as shown, with another table: the credentials stay, the edit lands.
    std::string edited_json = shown;
    edited_json.replace(edited_json.find("\"table\":\"t\""), 11, "\"table\":\"u\"");
    auto edited = ib::rules::rule_from_json(edited_json);
    ASSERT_TRUE(edited) << edited.error();
    ib::rules::keep_masked_secrets(*edited, *rule);
    EXPECT_EQ(edited->actions[0].postgres.dsn, "host=db password=s3cret");
    EXPECT_EQ(edited->actions[0].postgres.table, "u");
    EXPECT_EQ(edited->actions[1].call.headers[0], "X-Api-Key: k-17");

    // A new password replaces the old one.
    auto changed = ib::rules::rule_from_json(R"({"id":"r","sql":"SELECT * FROM \"t/+\"","actions":[)"
                                             R"({"postgres":{"dsn":"host=db password=n3w","table":"t","columns":["v"]}}]})");
    ASSERT_TRUE(changed) << changed.error();
    ib::rules::keep_masked_secrets(*changed, *rule);
    EXPECT_EQ(changed->actions[0].postgres.dsn, "host=db password=n3w");
}

}  // namespace
