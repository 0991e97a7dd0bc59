// Who may call which route, and the audit of what they change: the caller a
// request acts as, the role a route needs, the refusals' bodies, and the
// wrapper that checks the role and records a state-changing request once its
// answer is known. No credentials are checked here (access_control.hpp does),
// and nothing is written to disk (the app's AuditSink does).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "api/router.hpp"
#include "auth/role.hpp"

namespace ib::api {

using auth::Role;

// Who a request acts as. Without credentials and with anonymous access on, an
// anonymous admin, as the API was before roles.
struct Caller {
    std::string user;  // "" when anonymous
    Role role = Role::Admin;
    bool anonymous = true;
    // Authenticated by the ib_session cookie (then writes need the CSRF header).
    bool by_session = false;
    std::string csrf_token;  // the session's, for GET /api/v1/auth/me
};

// What a route asks of its caller.
struct Access {
    Role role = Role::Viewer;
    bool changes_state = false;  // recorded in the audit log
    bool open = false;           // reached without credentials (login, health)

    static Access read(Role r = Role::Viewer) { return {r, false, false}; }
    static Access change(Role r = Role::Admin) { return {r, true, false}; }
    static Access anyone() { return {Role::Viewer, false, true}; }
    // A GET or HEAD reads (viewer); any other method changes state (admin).
    static Access default_for(std::string_view method);
};

// Paths answered without credentials, whatever the route: the console's static
// files ("/", "/ui/..."), the login, and the health probes.
bool is_public_path(std::string_view path);
// POST, PUT, PATCH, DELETE: what a session must prove with the CSRF header.
bool is_state_changing_method(std::string_view method);

// 401 {"error":"authentication required"}.
HttpResponse authentication_required();
// 403 {"error":"forbidden","required_role":"operator","role":"viewer"}, or none
// when `caller` may call a route that needs `needed`.
std::optional<HttpResponse> check_role(const Caller& caller, Role needed);

// One state-changing request, as the audit log keeps it.
struct AuditEvent {
    int64_t time_ms = 0;  // Unix milliseconds
    std::string user;     // "" for anonymous
    std::string role;
    std::string remote;
    std::string method;
    std::string path;
    unsigned status = 0;
    std::string before;  // JSON, secrets masked; "" for null
    std::string after;
};
// Called on the API's loop once the answer is known; must not block.
using AuditSink = std::function<void(AuditEvent)>;

// `json` with the value of every member whose name suggests a secret
// (password, secret, token, authorization, private key) replaced by "***",
// at any depth; "" stays "", and text that is not JSON becomes "".
std::string mask_secrets(std::string_view json);

// The route as the server registers it: the role check first (a refusal is
// answered at once, and audited when the route changes state), then `inner`;
// a state-changing route's answer, deferred or not, goes to `*sink` (when set
// by then) before it is written.
Handler guard_route(Access access, Handler inner, const AuditSink* sink);

}  // namespace ib::api
