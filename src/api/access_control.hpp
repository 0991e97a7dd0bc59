// Who an API request is: a bearer token or basic auth (checked by auth::Auth),
// else the console's session cookie (with the CSRF header on writes), else
// anonymous when api.allow_anonymous allows it. Serves the login, logout and
// "who am I" routes that open and end sessions. Runs on the API's loop only.
// Secrets (passwords, tokens, session ids) are never logged or answered back,
// except a session's own id and CSRF token to the client that logged in.
#pragma once

#include <expected>

#include "api/access.hpp"
#include "api/session_table.hpp"
#include "core/metrics.hpp"

namespace ib::auth {
class Auth;
}

namespace ib::api {

class HttpServer;

class AccessControl {
public:
    static constexpr std::string_view kSessionCookie = "ib_session";
    static constexpr std::string_view kCsrfHeader = "X-CSRF-Token";

    // `auth` outlives this. `secure_cookies`: the API is on TLS, so the cookie
    // is marked Secure.
    AccessControl(auth::Auth& auth, SessionLimits limits, bool secure_cookies);

    // For HttpServer::set_authenticator: the caller, or the answer refusing it
    // (401 without valid credentials, 403 for a session's write without its
    // CSRF token). Public paths (is_public_path) are never refused.
    std::expected<Caller, HttpResponse> authenticate(const HttpRequest& req);

    // POST /api/v1/auth/login, POST /api/v1/auth/logout, GET /api/v1/auth/me.
    void add_routes(HttpServer& server);
    void collect_metrics(MetricSink& sink) const;

    SessionTable& sessions() { return sessions_; }

private:
    HttpResponse login(const HttpRequest& req);
    HttpResponse logout(const HttpRequest& req);
    HttpResponse me(const HttpRequest& req) const;
    SessionTable::Session* session_of(const HttpRequest& req);
    std::string cookie(std::string_view value, std::chrono::seconds max_age) const;

    auth::Auth& auth_;
    SessionTable sessions_;
    bool secure_cookies_;
    uint64_t logins_ = 0, login_failures_ = 0, csrf_refused_ = 0;
};

}  // namespace ib::api
