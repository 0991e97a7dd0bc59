// The fleet protocol's messages (docs/fleet.md): what the cloud sends is decoded
// or refused with a message (never trusted), what the edge sends has the shape
// the page shows.
#include <gtest/gtest.h>

#include "fleet/fleet_protocol.hpp"

namespace ib::fleet {
namespace {

TEST(FleetProtocol, DecodesADesiredConfiguration) {
    auto d = decode_desired(R"({"revision":13,"base":12,"config":"[[devices]]\n","signature":"c2ln"})");
    ASSERT_TRUE(d) << d.error();
    EXPECT_EQ(d->revision, 13);
    EXPECT_EQ(d->base, 12);
    EXPECT_EQ(d->config, "[[devices]]\n");
    EXPECT_EQ(d->signature, "c2ln");
    auto no_base = decode_desired(R"({"revision":1,"base":null,"config":""})");
    ASSERT_TRUE(no_base) << no_base.error();
    EXPECT_FALSE(no_base->base);
}

TEST(FleetProtocol, RefusesWhatIsNotADesiredConfiguration) {
    EXPECT_EQ(decode_desired("not json").error(), "the desired configuration is not a JSON object");
    EXPECT_EQ(decode_desired(R"({"revision":0,"config":""})").error(), "'revision' must be a positive integer");
    EXPECT_EQ(decode_desired(R"({"revision":2,"base":"x","config":""})").error(),
              "'base' must be a revision number or null");
    EXPECT_EQ(decode_desired(R"({"revision":2})").error(), "'config' must be the TOML text, a string");
}

TEST(FleetProtocol, DecodesCommandsAndKeepsTheIdOfARefusedOne) {
    std::optional<std::string> id;
    auto c = decode_command(R"({"id":"c-82","op":"rollback","to":11})", id);
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(c->op, CommandOp::Rollback);
    EXPECT_EQ(c->to, 11);
    auto bad = decode_command(R"({"id":"c-9","op":"reboot"})", id);
    ASSERT_FALSE(bad);
    EXPECT_EQ(id, "c-9");
    EXPECT_EQ(bad.error(), "unknown op 'reboot': dry-run, rollback, capture or inspect");
}

TEST(FleetProtocol, EncodesProgressAndState) {
    Progress p;
    p.revision = 13;
    p.phase = Phase::Failed;
    p.code = "invalid";
    p.errors = {"revision 13:3: rules[0].sql: ..."};
    EXPECT_EQ(encode_progress(p, 5),
              R"({"id":null,"revision":13,"phase":"failed","code":"invalid","errors":["revision 13:3: rules[0].sql: ..."],"ts":5})");
    EdgeState s;
    s.edge = "press-7";
    s.site = "lyon";
    s.version = "0.9.0";
    s.revision = 12;
    s.labels = {{"line", "A"}};
    s.started_ms = 1;
    EXPECT_EQ(encode_state(s, 2),
              R"({"edge":"press-7","site":"lyon","online":true,"version":"0.9.0","revision":12,"hash":"",)"
              R"("labels":{"line":"A"},"desired_revision":null,"started":1,"ts":2})");
    EXPECT_EQ(encode_offline("press-7", "lyon", std::nullopt), R"({"edge":"press-7","site":"lyon","online":false})");
}

}  // namespace
}  // namespace ib::fleet
