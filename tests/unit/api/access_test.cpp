// Roles and the audit hook, without a socket: a route's role check (403 naming
// both roles), what is recorded for a state-changing route (deferred answers
// included, refusals too, secrets masked), and how AccessControl decides who a
// request is (token, session with and without its CSRF header, anonymous).
#include <gtest/gtest.h>

#include <utility>  // before Asio: Boost 1.74 needs it

#include <boost/asio/io_context.hpp>
#include <simdjson.h>

#include "api/access.hpp"
#include "api/access_control.hpp"
#include "auth/auth.hpp"

namespace ib::api {
namespace {

Caller as(Role role, std::string user = "ann") { return Caller{std::move(user), role, false, false, ""}; }

HttpRequest request(std::string_view method, std::string_view path, const Caller* caller) {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.target = path;
    r.peer_address = "127.0.0.1";
    r.caller = caller;
    return r;
}

TEST(RoleCheck, RolesAreOrdered) {
    EXPECT_FALSE(check_role(as(Role::Admin), Role::Operator));
    EXPECT_FALSE(check_role(as(Role::Operator), Role::Operator));
    EXPECT_FALSE(check_role(as(Role::Viewer), Role::Viewer));
    auto refused = check_role(as(Role::Viewer), Role::Operator);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 403u);
    EXPECT_EQ(refused->body, R"({"error":"forbidden","required_role":"operator","role":"viewer"})");
    EXPECT_TRUE(check_role(as(Role::Operator), Role::Admin));
}

TEST(RoleCheck, DefaultsFollowTheMethod) {
    EXPECT_EQ(Access::default_for("GET").role, Role::Viewer);
    EXPECT_FALSE(Access::default_for("GET").changes_state);
    for (const char* m : {"POST", "PUT", "PATCH", "DELETE"}) {
        EXPECT_EQ(Access::default_for(m).role, Role::Admin) << m;
        EXPECT_TRUE(Access::default_for(m).changes_state) << m;
    }
}

TEST(RoleCheck, PublicPaths) {
    for (const char* p : {"/", "/ui/app.js", "/api/v1/auth/login", "/api/v1/health", "/healthz/live"}) {
        EXPECT_TRUE(is_public_path(p)) << p;
    }
    for (const char* p : {"/api/v1/devices", "/uix", "/api/v1/auth/me", "/metrics", "/api/v1/audit"}) {
        EXPECT_FALSE(is_public_path(p)) << p;
    }
}

TEST(GuardRoute, RefusesALowRoleBeforeTheHandlerAndAuditsIt) {
    std::vector<AuditEvent> events;
    AuditSink sink = [&](AuditEvent e) { events.push_back(std::move(e)); };
    int calls = 0;
    Handler h = guard_route(Access::change(Role::Operator), [&](const HttpRequest&) {
        ++calls;
        HttpResponse r = json_reply(200, "{}");
        r.audit_before = R"({"name":"d","password":"hunter2","nested":{"api_token":"t"},"n":1.5})";
        r.audit_after = R"({"name":"d"})";
        return r;
    }, &sink);
    Caller viewer = as(Role::Viewer, "vic");
    EXPECT_EQ(h(request("PUT", "/api/v1/devices/d", &viewer)).status, 403u);
    EXPECT_EQ(calls, 0);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].status, 403u);
    EXPECT_EQ(events[0].user, "vic");

    Caller op = as(Role::Operator);
    EXPECT_EQ(h(request("PUT", "/api/v1/devices/d", &op)).status, 200u);
    ASSERT_EQ(events.size(), 2u);
    const AuditEvent& e = events[1];
    EXPECT_EQ(e.user, "ann");
    EXPECT_EQ(e.role, "operator");
    EXPECT_EQ(e.method, "PUT");
    EXPECT_EQ(e.path, "/api/v1/devices/d");
    EXPECT_EQ(e.remote, "127.0.0.1");
    EXPECT_EQ(e.before, R"({"name":"d","password":"***","nested":{"api_token":"***"},"n":1.5})");
    EXPECT_EQ(e.after, R"({"name":"d"})");
}

TEST(GuardRoute, ReadsAreNotAuditedAndDeferredAnswersAreAuditedWhenTheyCome) {
    std::vector<AuditEvent> events;
    AuditSink sink = [&](AuditEvent e) { events.push_back(std::move(e)); };
    Caller admin = as(Role::Admin);
    Handler read = guard_route(Access::read(), [](const HttpRequest&) { return json_reply(200, "[]"); }, &sink);
    EXPECT_EQ(read(request("GET", "/api/v1/devices", &admin)).status, 200u);
    EXPECT_TRUE(events.empty());

    std::function<void(HttpResponse)> pending;
    Handler later = guard_route(Access::change(), [&](const HttpRequest&) {
        HttpResponse r;
        r.deferred = [&](std::function<void(HttpResponse)> reply) { pending = std::move(reply); };
        return r;
    }, &sink);
    HttpResponse r = later(request("POST", "/api/v1/devices/d/write", &admin));
    ASSERT_TRUE(r.deferred);
    unsigned written = 0;
    r.deferred([&](HttpResponse out) { written = out.status; });
    EXPECT_TRUE(events.empty());
    ASSERT_TRUE(pending);
    pending(json_reply(400, R"({"error":"x"})"));
    EXPECT_EQ(written, 400u);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].status, 400u);
    EXPECT_EQ(events[0].before, "");
}

TEST(MaskSecrets, MasksByNameAtAnyDepthAndKeepsTheRest) {
    EXPECT_EQ(mask_secrets(""), "");
    EXPECT_EQ(mask_secrets("not json"), "");
    EXPECT_EQ(mask_secrets(R"([{"Password":"p","x":[1,true,null]},{"secret_key":null}])"),
              R"([{"Password":"***","x":[1,true,null]},{"secret_key":null}])");
    EXPECT_EQ(mask_secrets(R"({"headers":{"Authorization":"Bearer x"},"url":"http://h"})"),
              R"({"headers":{"Authorization":"***"},"url":"http://h"})");
}

class AccessControlTest : public ::testing::Test {
protected:
    void SetUp() override {
        auth::AuthConfig c;
        c.api_allow_anonymous = false;
        c.api_tokens = {"viewer:view-tok", "admin-tok"};
        auth_ = std::move(*auth::Auth::create(c));
        access_ = std::make_unique<AccessControl>(*auth_, loop_, SessionLimits{}, false);
    }
    // A request with these headers (kept alive by the fixture).
    HttpRequest with(std::string_view method, std::string_view path,
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
        held_ = std::move(headers);
        HttpRequest r = request(method, path, nullptr);
        for (const auto& [k, v] : held_) r.headers.emplace_back(k, v);
        return r;
    }
    boost::asio::io_context loop_;
    std::unique_ptr<auth::Auth> auth_;
    std::unique_ptr<AccessControl> access_;
    std::vector<std::pair<std::string, std::string>> held_;
};

TEST_F(AccessControlTest, BearerTokensCarryTheirRoleAndNoCredentialsIs401) {
    auto v = access_->authenticate(with("PUT", "/api/v1/devices/d", {{"Authorization", "Bearer view-tok"}}));
    ASSERT_TRUE(v);
    EXPECT_EQ(v->role, Role::Viewer);
    EXPECT_FALSE(v->by_session);
    EXPECT_EQ(access_->authenticate(with("GET", "/api/v1/devices", {{"Authorization", "Bearer admin-tok"}}))->role,
              Role::Admin);
    auto none = access_->authenticate(with("GET", "/api/v1/devices"));
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().status, 401u);
    EXPECT_EQ(none.error().body, R"({"error":"authentication required"})");
    EXPECT_EQ(access_->authenticate(with("GET", "/api/v1/devices", {{"Authorization", "Bearer nope"}})).error().status,
              401u);
    // Public paths are answered without credentials.
    EXPECT_TRUE(access_->authenticate(with("GET", "/api/v1/health")));
    EXPECT_TRUE(access_->authenticate(with("POST", "/api/v1/auth/login")));
}

TEST_F(AccessControlTest, SessionWritesNeedTheCsrfHeader) {
    auto opened = access_->sessions().open("token:1234abcd", Role::Operator, auth_->generation());
    const std::string cookie = "a=b; ib_session=" + opened.id;
    const std::string csrf = opened.session->csrf_token;
    auto read = access_->authenticate(with("GET", "/api/v1/devices", {{"Cookie", cookie}}));
    ASSERT_TRUE(read);
    EXPECT_TRUE(read->by_session);
    EXPECT_EQ(read->role, Role::Operator);
    EXPECT_EQ(read->csrf_token, csrf);
    auto no_header = access_->authenticate(with("POST", "/api/v1/devices/d/write", {{"Cookie", cookie}}));
    ASSERT_FALSE(no_header);
    EXPECT_EQ(no_header.error().status, 403u);
    EXPECT_EQ(no_header.error().body, R"({"error":"missing or wrong CSRF token"})");
    EXPECT_FALSE(access_->authenticate(
        with("DELETE", "/api/v1/devices/d", {{"Cookie", cookie}, {"X-CSRF-Token", csrf + "0"}})));
    EXPECT_TRUE(access_->authenticate(
        with("POST", "/api/v1/devices/d/write", {{"Cookie", cookie}, {"x-csrf-token", csrf}})));
    // An unknown session is no session.
    EXPECT_EQ(access_->authenticate(with("GET", "/api/v1/devices", {{"Cookie", "ib_session=0"}})).error().status,
              401u);
}

TEST_F(AccessControlTest, ASessionFollowsAReloadOfItsUser) {
    auth::AuthConfig c;
    c.api_allow_anonymous = false;
    c.allow_plaintext_passwords = true;
    c.users.push_back(auth::UserConfig{"ann", "", "pw", 0, Role::Operator});
    ASSERT_TRUE(auth_->reload(c));
    auto opened = access_->sessions().open("ann", Role::Operator, auth_->generation());
    const std::string cookie = "ib_session=" + opened.id;
    EXPECT_EQ(access_->authenticate(with("GET", "/api/v1/devices", {{"Cookie", cookie}}))->role, Role::Operator);
    c.users[0].role = Role::Viewer;
    ASSERT_TRUE(auth_->reload(c));
    EXPECT_EQ(access_->authenticate(with("GET", "/api/v1/devices", {{"Cookie", cookie}}))->role, Role::Viewer);
    c.users.clear();
    ASSERT_TRUE(auth_->reload(c));
    EXPECT_FALSE(access_->authenticate(with("GET", "/api/v1/devices", {{"Cookie", cookie}})));
    EXPECT_EQ(access_->sessions().size(), 0u);
}

TEST_F(AccessControlTest, AnonymousActsAsAdminWhenAllowed) {
    auth::AuthConfig c;
    c.api_allow_anonymous = true;
    ASSERT_TRUE(auth_->reload(c));
    auto who = access_->authenticate(with("DELETE", "/api/v1/devices/d"));
    ASSERT_TRUE(who);
    EXPECT_TRUE(who->anonymous);
    EXPECT_EQ(who->role, Role::Admin);
}

}  // namespace
}  // namespace ib::api
