// The console's session table: ids and CSRF tokens are random and distinct,
// sessions end at their lifetime and after idle time, the cap ends the oldest,
// and a closed or unknown id finds nothing.
#include <gtest/gtest.h>

#include <set>

#include "api/session_table.hpp"

namespace ib::api {
namespace {

using namespace std::chrono_literals;
using auth::Role;
using Clock = SessionTable::Clock;

TEST(SessionTable, OpenGivesRandomIdAndCsrfTokenAndFindsTheSession) {
    SessionTable table({});
    const auto t0 = Clock::now();
    auto a = table.open("ann", Role::Operator, 1, t0);
    auto b = table.open("bob", Role::Viewer, 1, t0);
    EXPECT_EQ(a.id.size(), 64u);
    std::set<std::string> distinct = {a.id, b.id, a.session->csrf_token, b.session->csrf_token};
    EXPECT_EQ(distinct.size(), 4u);
    SessionTable::Session* found = table.find(a.id, t0 + 1s);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->user, "ann");
    EXPECT_EQ(found->role, Role::Operator);
    EXPECT_EQ(table.find(b.id, t0)->user, "bob");
    EXPECT_EQ(table.find("", t0), nullptr);
    EXPECT_EQ(table.find(a.id.substr(1), t0), nullptr);
    EXPECT_EQ(table.size(), 2u);
}

TEST(SessionTable, CsrfTokenMustMatchExactly) {
    SessionTable table({});
    auto s = table.open("ann", Role::Admin, 1);
    EXPECT_TRUE(SessionTable::csrf_matches(*s.session, s.session->csrf_token));
    EXPECT_FALSE(SessionTable::csrf_matches(*s.session, ""));
    EXPECT_FALSE(SessionTable::csrf_matches(*s.session, s.session->csrf_token.substr(1)));
    EXPECT_FALSE(SessionTable::csrf_matches(*s.session, s.id));
}

TEST(SessionTable, SessionEndsAtItsLifetime) {
    SessionTable table({.ttl = 60s, .idle = 0s, .max_sessions = 10});
    const auto t0 = Clock::now();
    auto s = table.open("ann", Role::Admin, 1, t0);
    EXPECT_NE(table.find(s.id, t0 + 59s), nullptr);
    EXPECT_EQ(table.find(s.id, t0 + 60s), nullptr);
    EXPECT_EQ(table.size(), 0u);  // removed once seen expired
}

TEST(SessionTable, IdleTimeoutIsResetByUse) {
    SessionTable table({.ttl = 3600s, .idle = 10s, .max_sessions = 10});
    const auto t0 = Clock::now();
    auto s = table.open("ann", Role::Admin, 1, t0);
    EXPECT_NE(table.find(s.id, t0 + 9s), nullptr);
    EXPECT_NE(table.find(s.id, t0 + 18s), nullptr);  // 9 s after the last use
    EXPECT_EQ(table.find(s.id, t0 + 28s), nullptr);  // 10 s idle
}

TEST(SessionTable, CapEndsTheOldestSession) {
    SessionTable table({.ttl = 3600s, .idle = 0s, .max_sessions = 3});
    const auto t0 = Clock::now();
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(table.open("u" + std::to_string(i), Role::Viewer, 1, t0 + i * 1s).id);
    EXPECT_EQ(table.size(), 3u);
    EXPECT_EQ(table.find(ids[0], t0 + 5s), nullptr);
    EXPECT_EQ(table.find(ids[1], t0 + 5s), nullptr);
    for (int i = 2; i < 5; ++i) EXPECT_NE(table.find(ids[i], t0 + 5s), nullptr) << i;
}

TEST(SessionTable, CloseEndsTheSession) {
    SessionTable table({});
    auto s = table.open("ann", Role::Admin, 1);
    EXPECT_TRUE(table.close(s.id));
    EXPECT_FALSE(table.close(s.id));
    EXPECT_EQ(table.find(s.id), nullptr);
}

}  // namespace
}  // namespace ib::api
