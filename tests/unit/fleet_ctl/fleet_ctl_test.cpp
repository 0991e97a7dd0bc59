// The fleet controller's pure parts: parameters from CSV and TOML, templates
// filled per edge (a missing parameter named with its edge), capture turned
// into a template and back, --targets, the protocol's messages and the tables.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "auth/password_hash.hpp"
#include "fleet_ctl/fleet_cli.hpp"
#include "fleet_ctl/fleet_messages.hpp"
#include "fleet_ctl/fleet_report.hpp"
#include "fleet_ctl/fleet_requests.hpp"
#include "fleet_ctl/fleet_template.hpp"

namespace ib::fleet_ctl {
namespace {

TEST(FleetParams, CsvWithQuotesGivesOneRowPerEdge) {
    auto rows = parse_params_csv("edge,site,plc_host,note\npress-7,lyon,10.0.0.7,\"a, b \"\"c\"\"\"\r\n"
                                 "press-8,lyon,10.0.0.8,x\n\n",
                                 "p.csv");
    ASSERT_TRUE(rows) << rows.error();
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[0].key(), "lyon/press-7");
    EXPECT_EQ((*rows)[0].values.at("note"), "a, b \"c\"");
    EXPECT_EQ((*rows)[1].values.at("plc_host"), "10.0.0.8");
}

TEST(FleetParams, CsvErrorsNameTheLine) {
    EXPECT_EQ(parse_params_csv("edge,site,a\npress-7,lyon\n", "p.csv").error(), "p.csv:2: 2 fields, the header has 3");
    EXPECT_EQ(parse_params_csv("name,a\nx,y\n", "p.csv").error(), "p.csv:1: the header must name the columns edge and site");
    EXPECT_NE(parse_params_csv("edge,site\nbad id,lyon\n", "p.csv").error().find("'bad id' is not 1-64"), std::string::npos);
    EXPECT_NE(parse_params_csv("edge,site\na,s\na,s\n", "p.csv").error().find("s/a appears twice"), std::string::npos);
}

TEST(FleetParams, TomlEdgesWithDefaults) {
    auto rows = parse_params_toml("[defaults]\nport = 502\n\n[[edges]]\nedge = \"press-7\"\nsite = \"lyon\"\n"
                                  "plc_host = \"10.0.0.7\"\n\n[[edges]]\nedge = \"press-8\"\nsite = \"lyon\"\nport = 1502\n",
                                  "p.toml");
    ASSERT_TRUE(rows) << rows.error();
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[0].values.at("port"), "502");
    EXPECT_EQ((*rows)[1].values.at("port"), "1502");
    EXPECT_FALSE(parse_params_toml("[x]\n", "p.toml"));
    EXPECT_EQ(parse_params_toml("[[edges]]\nedge = \"a\"\nsite = \"s\"\nhosts = [1]\n", "p.toml").error(),
              "p.toml: edges[0].hosts: a parameter is a string, a number or a boolean");
}

TEST(FleetTemplate, FillsPlaceholdersAndKeepsEscapedOnes) {
    EdgeParams p{"press-7", "lyon", {{"edge", "press-7"}, {"site", "lyon"}, {"plc_host", "10.0.0.7"}}};
    auto out = fill_template("host = \"${plc_host}\"\nremote = \"${site}/$${topic}\" # ${edge}\n", p);
    ASSERT_TRUE(out) << out.error();
    EXPECT_EQ(*out, "host = \"10.0.0.7\"\nremote = \"lyon/${topic}\" # press-7\n");
    EXPECT_EQ(placeholders("${a} ${b} $${c} ${a}"), (std::vector<std::string>{"a", "b"}));
}

TEST(FleetTemplate, MissingParameterNamesTheEdgeAndThePlaceholder) {
    EdgeParams p{"press-7", "lyon", {{"edge", "press-7"}, {"site", "lyon"}}};
    auto out = fill_template("[[devices]]\nname = \"plc\"\nhost = \"${plc_host}\"\n", p);
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error(), "edge lyon/press-7: no parameter 'plc_host' (line 3 of the template)");
}

// toml++ writes literal strings ('...'), as an edge's capture does.
TEST(FleetTemplate, CaptureReadsLiteralAndMultiLineStrings) {
    const std::string captured =
        "client_id = 'lyon-press-2'\nsql = '''a\npress-2'''\npassword = '********'\n"
        "topic = 'alarms/lyon/press-2'\nnote = \"it's press-2\"\n";
    const std::string t = template_of_capture(captured, "press-2", "lyon");
    EXPECT_EQ(t,
              "client_id = '${site}-${edge}'\nsql = '''a\n${edge}'''\npassword = \"${secret_password}\"\n"
              "topic = 'alarms/${site}/${edge}'\nnote = \"it's ${edge}\"\n");
}

TEST(FleetTemplate, AMaskedSecretBecomesAParameter) {
    const std::string t = template_of_capture("[[users]]\nname = \"op\"\npassword = \"********\"\n", "e", "s");
    EXPECT_EQ(t, "[[users]]\nname = \"op\"\npassword = \"${secret_password}\"\n");
    auto filled = fill_template(t, EdgeParams{"e", "s", {{"edge", "e"}, {"site", "s"}}});
    ASSERT_FALSE(filled);
    EXPECT_EQ(filled.error(), "edge s/e: no parameter 'secret_password' (line 3 of the template)");
}

TEST(FleetTemplate, CaptureBecomesATemplateThatFillsBackToTheSameText) {
    const std::string captured =
        "[[bridges]]\nname = \"cloud\"\nclient_id = \"press-7\"\n"
        "[[bridges.forwards]]\nlocal = \"ib/#\"\nremote = \"lyon/press-7/${topic}\"\n"
        "[[devices]]\nname = \"press-7-plc\" # press-7's PLC\n";
    const std::string t = template_of_capture(captured, "press-7", "lyon");
    EXPECT_EQ(t,
              "[[bridges]]\nname = \"cloud\"\nclient_id = \"${edge}\"\n"
              "[[bridges.forwards]]\nlocal = \"ib/#\"\nremote = \"${site}/${edge}/$${topic}\"\n"
              "[[devices]]\nname = \"${edge}-plc\" # press-7's PLC\n");
    auto back = fill_template(t, EdgeParams{"press-7", "lyon", {{"edge", "press-7"}, {"site", "lyon"}}});
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, captured);
}

EdgeState edge(std::string site, std::string id, std::map<std::string, std::string> labels = {}) {
    EdgeState e;
    e.site = std::move(site);
    e.edge = std::move(id);
    e.labels = std::move(labels);
    return e;
}

TEST(FleetTargets, SiteEdgeGlobsLabelsAndTheirCombinations) {
    auto t = Targets::parse({"lyon/*"});
    ASSERT_TRUE(t);
    EXPECT_TRUE(t->matches(edge("lyon", "press-7")));
    EXPECT_FALSE(t->matches(edge("turin", "press-7")));
    t = Targets::parse({"press-?"});
    EXPECT_TRUE(t->matches(edge("turin", "press-7")));
    EXPECT_FALSE(t->matches(edge("turin", "press-17")));
    t = Targets::parse({"lyon/*,line=A", "turin/oven"});
    EXPECT_TRUE(t->matches(edge("lyon", "p", {{"line", "A"}})));
    EXPECT_FALSE(t->matches(edge("lyon", "p", {{"line", "B"}})));
    EXPECT_FALSE(t->matches(edge("lyon", "p")));
    EXPECT_TRUE(t->matches(edge("turin", "oven")));
    EXPECT_FALSE(Targets::parse({}));
    EXPECT_FALSE(Targets::parse({"a/b/c"}));
    EXPECT_FALSE(Targets::parse({"=x"}));
}

TEST(FleetMessages, StateAndProgressAreRead) {
    auto s = parse_state("ib/fleet/v1/lyon/press-7/state",
                         R"({"edge":"press-7","site":"lyon","online":true,"revision":12,"health":87,)"
                         R"("labels":{"line":"A"},"desired_revision":13,)"
                         R"("last_apply":{"revision":13,"result":"rolled_back","reason":"link lost"},"ts":5})");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->key(), "lyon/press-7");
    EXPECT_EQ(s->prefix, "ib/fleet/v1/lyon/press-7/");
    EXPECT_EQ(s->revision, 12);
    EXPECT_EQ(s->health, 87);
    EXPECT_EQ(s->labels.at("line"), "A");
    EXPECT_EQ(s->last_apply_result, "rolled_back");
    auto offline = parse_state("ib/fleet/v1/lyon/press-8/state", R"({"online":false})");
    ASSERT_TRUE(offline);
    EXPECT_EQ(offline->key(), "lyon/press-8");
    EXPECT_FALSE(parse_state("ib/fleet/v1/lyon/press-8/state", ""));

    auto p = parse_progress(R"({"id":null,"revision":13,"phase":"failed","code":"invalid","errors":["a","b"]})");
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->final());
    EXPECT_FALSE(p->id);
    EXPECT_EQ(p->message(), "a; b");
    auto d = parse_progress(R"({"id":"c","phase":"done","dry_run":true,"diff":{"devices":{"added":["x"],"removed":[],"changed":["y"]},"acl":{"changed":true}}})");
    ASSERT_TRUE(d);
    EXPECT_EQ(diff_summary(d->diff_json), "devices +x ~y; acl changed");
    EXPECT_EQ(diff_summary(""), "no change");
}

TEST(FleetMessages, DesiredAndCommandsAsTheProtocolSays) {
    EXPECT_EQ(desired_json(13, 12, "a = 1\n", ""), R"({"revision":13,"base":12,"config":"a = 1\n"})");
    EXPECT_EQ(desired_json(13, std::nullopt, "", "c2ln"), R"({"revision":13,"base":null,"config":"","signature":"c2ln"})");
    EXPECT_EQ(signed_bytes(13, std::nullopt, "x"), "ib-fleet-v1\n13\nnull\nx");
    Command c;
    c.id = "c-1";
    c.op = "rollback";
    c.to = 11;
    EXPECT_EQ(command_json(c), R"({"id":"c-1","op":"rollback","to":11})");
    c.op = "capture";
    EXPECT_EQ(command_json(c), R"({"id":"c-1","op":"capture"})");
}

// The signature verifies with the matching public key over exactly the bytes
// docs/fleet.md names, as the edge checks it.
TEST(FleetMessages, Ed25519SignatureVerifiesOverTheProtocolBytes) {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    ASSERT_NE(key, nullptr);
    const auto path = std::filesystem::temp_directory_path() / ("fleet-sign-" + std::to_string(::getpid()) + ".pem");
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
    std::fclose(f);
    const std::string bytes = signed_bytes(14, 13, "a = 1\n");
    auto sig = sign_ed25519(path.string(), bytes);
    std::filesystem::remove(path);
    ASSERT_TRUE(sig) << sig.error();
    auto raw = auth::base64_decode(*sig);
    ASSERT_TRUE(raw);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ASSERT_EQ(EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key), 1);
    EXPECT_EQ(EVP_DigestVerify(ctx, raw->data(), raw->size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                               bytes.size()),
              1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    EXPECT_FALSE(sign_ed25519("/nonexistent.pem", bytes));
}

TEST(FleetReport, ResultTableAndExitCode) {
    std::vector<EdgeResult> results = {
        {"lyon/press-7", "done", "", ""},
        {"lyon/press-8", "failed", "invalid", "rules[0] (id 'hot'): sql: unknown column"},
        {"turin/oven", "probing", "timeout", "no final answer within 60 s (last phase: probing)"},
    };
    EXPECT_EQ(result_table(results),
              "EDGE          PHASE    CODE     MESSAGE\n"
              "lyon/press-7  done     -\n"
              "lyon/press-8  failed   invalid  rules[0] (id 'hot'): sql: unknown column\n"
              "turin/oven    probing  timeout  no final answer within 60 s (last phase: probing)\n"
              "1 done, 1 failed, 0 rolled back, 1 without a final answer\n");
    EXPECT_EQ(exit_code_of(results), 1);
    EXPECT_EQ(exit_code_of({results[0]}), 0);
    EXPECT_EQ(progress_line(results, 6), "[####--] 1/3 done, 1 failed, 1 waiting");
}

TEST(FleetReport, EdgeTableSortsAndShowsDrift) {
    EdgeState a = edge("lyon", "b");
    a.online = true;
    a.revision = 12;
    a.desired_revision = 13;
    a.health = 87;
    a.last_apply_revision = 13;
    a.last_apply_result = "rolled_back";
    a.last_apply_reason = "link lost";
    a.ts = 1000;
    EdgeState b = edge("lyon", "a");
    EXPECT_EQ(edge_table({a, b}, 31'000),
              "EDGE    ONLINE  REVISION         HEALTH  LAST APPLY                 SEEN\n"
              "lyon/a  no      0                -       -                          -\n"
              "lyon/b  yes     12 (desired 13)  87      13 rolled_back: link lost  30 s ago\n"
              "2 edges, 1 online\n");
}

TEST(FleetRequests, PushAnswersMatchByCorrelationOrRevision) {
    std::vector<EdgeState> edges(2);
    for (int i = 0; i < 2; ++i) {
        edges[i].site = "lyon";
        edges[i].edge = "press-" + std::to_string(i + 1);
        edges[i].prefix = default_prefix(kDefaultRoot, edges[i].site, edges[i].edge);
        edges[i].seen = true;
        edges[i].revision = 4;
    }
    auto requests = fill_for(edges, "x = \"${edge}\"\n", {});
    ASSERT_TRUE(requests) << requests.error();
    auto messages = push_messages(*requests, SendOptions{7, "auto", "", "t"});
    ASSERT_TRUE(messages) << messages.error();
    ASSERT_EQ(messages->size(), 2u);
    EXPECT_EQ((*messages)[0].topic, "ib/fleet/v1/lyon/press-1/desired");
    EXPECT_TRUE((*messages)[0].retain);
    EXPECT_NE((*messages)[1].payload.find(R"("base":4)"), std::string::npos);
    EXPECT_NE((*messages)[1].payload.find(R"(x = \"press-2\")"), std::string::npos);

    AnswerTracker tracker(*requests, "reply", 7);
    // Another revision's status is not this push's answer.
    EXPECT_FALSE(tracker.take("ib/fleet/v1/lyon/press-1/status", R"({"revision":6,"phase":"done"})", ""));
    EXPECT_TRUE(tracker.take("ib/fleet/v1/lyon/press-1/status", R"({"revision":7,"phase":"done"})", ""));
    EXPECT_FALSE(tracker.all_final());
    Request* r = tracker.take("reply", R"({"revision":7,"phase":"failed","code":"invalid","errors":["bad"]})",
                              (*requests)[1].correlation);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result.key, "lyon/press-2");
    EXPECT_EQ(r->result.message, "bad");
    EXPECT_TRUE(tracker.all_final());
    EXPECT_EQ(exit_code_of({(*requests)[0].result, (*requests)[1].result}), 1);
}

TEST(FleetBroker, AddressWithAndWithoutPort) {
    BrokerOptions o;
    ASSERT_TRUE(parse_broker_address("cloud.example:8883", o));
    EXPECT_EQ(o.host, "cloud.example");
    EXPECT_EQ(o.port, 8883);
    ASSERT_TRUE(parse_broker_address("[::1]", o));
    EXPECT_EQ(o.host, "::1");
    EXPECT_EQ(o.port, 1883);
    EXPECT_FALSE(parse_broker_address("h:99999", o));
}

}  // namespace
}  // namespace ib::fleet_ctl
