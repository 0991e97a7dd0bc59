// Who an API request is: a bearer token or basic auth (checked by auth::Auth),
// else the console's session cookie (with the CSRF header on writes), else
// anonymous when api.allow_anonymous allows it. Serves the login, logout and
// "who am I" routes that open and end sessions. Runs on the API's loop only.
// Secrets (passwords, tokens, session ids) are never logged or answered back,
// except a session's own id and CSRF token to the client that logged in.
#pragma once

#include <cstddef>
#include <expected>
#include <future>
#include <optional>
#include <vector>

#include "api/access.hpp"
#include "api/session_table.hpp"
#include "core/metrics.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::auth {
class Auth;
struct ApiIdentity;
}

namespace ib::api {

class HttpServer;

class AccessControl {
public:
    static constexpr std::string_view kSessionCookie = "ib_session";
    static constexpr std::string_view kCsrfHeader = "X-CSRF-Token";

    // A password check costs PBKDF2's full rounds (~0.3 s) when it fails, so
    // logins are checked on threads of their own, at most this many at once;
    // beyond it a login gets 503 and Retry-After.
    static constexpr std::size_t kMaxLoginChecks = 4;

    // `auth` outlives this; `loop` is the server's. `secure_cookies`: the API
    // is on TLS, so the cookie is marked Secure.
    AccessControl(auth::Auth& auth, boost::asio::io_context& loop, SessionLimits limits, bool secure_cookies);
    // Waits for the login checks still running.
    ~AccessControl();
    AccessControl(const AccessControl&) = delete;
    AccessControl& operator=(const AccessControl&) = delete;

    // For HttpServer::set_authenticator: the caller, or the answer refusing it
    // (401 without valid credentials, 403 for a session's write without its
    // CSRF token). Public paths (is_public_path) are never refused.
    std::expected<Caller, HttpResponse> authenticate(const HttpRequest& req);

    // POST /api/v1/auth/login, POST /api/v1/auth/logout, GET /api/v1/auth/me,
    // GET /api/v1/auth/principals (admin: the users and tokens, with their roles).
    void add_routes(HttpServer& server);
    void collect_metrics(MetricSink& sink) const;

    SessionTable& sessions() { return sessions_; }

private:
    HttpResponse login(const HttpRequest& req);
    HttpResponse open_session(const std::optional<auth::ApiIdentity>& who, std::string_view old_session_id);
    HttpResponse logout(const HttpRequest& req);
    HttpResponse me(const HttpRequest& req) const;
    HttpResponse principals() const;
    SessionTable::Session* session_of(const HttpRequest& req);
    std::string cookie(std::string_view value, std::chrono::seconds max_age) const;

    auth::Auth& auth_;
    boost::asio::io_context& loop_;
    SessionTable sessions_;
    // The login checks running or finished and not yet joined.
    std::vector<std::future<void>> checks_;
    std::size_t checks_running_ = 0;
    bool secure_cookies_;
    uint64_t logins_ = 0, login_failures_ = 0, csrf_refused_ = 0, logins_busy_ = 0;
};

}  // namespace ib::api
