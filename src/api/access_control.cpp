#include "api/access_control.hpp"

// Boost 1.74's Asio needs <utility> before its headers (std::exchange).
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <simdjson.h>

#include "api/http_server.hpp"
#include "auth/auth.hpp"
#include "core/clock.hpp"
#include "core/json_writer.hpp"

namespace ib::api {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The value of cookie `name` in a Cookie header ("a=1; ib_session=abc"); "" if absent.
std::string_view cookie_value(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        const auto end = header.find(';');
        std::string_view pair = trim(header.substr(0, end));
        header = end == std::string_view::npos ? std::string_view() : header.substr(end + 1);
        const auto eq = pair.find('=');
        if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) return trim(pair.substr(eq + 1));
    }
    return {};
}

// A browser's script (fetch, XHR) says so in Sec-Fetch-Mode, and the console's
// fetches also send X-Requested-With; it must not get a Basic challenge, which
// would make the browser pop up its own login dialog over the console's.
bool from_browser_script(const HttpRequest& req) {
    const std::string_view mode = req.header("Sec-Fetch-Mode");
    return (!mode.empty() && mode != "navigate") || !req.header("X-Requested-With").empty();
}

HttpResponse refuse(const HttpRequest& req) {
    HttpResponse r = authentication_required();
    r.headers.emplace_back("WWW-Authenticate", from_browser_script(req)
                                                   ? "Bearer realm=\"ironbridge\""
                                                   : "Basic realm=\"ironbridge\", Bearer realm=\"ironbridge\"");
    return r;
}

HttpResponse invalid_credentials() { return json_error(401, "invalid credentials"); }

}  // namespace

AccessControl::AccessControl(auth::Auth& auth, boost::asio::io_context& loop, SessionLimits limits,
                             bool secure_cookies)
    : auth_(auth), loop_(loop), sessions_(limits), secure_cookies_(secure_cookies) {}

AccessControl::~AccessControl() = default;  // each future waits for its check

SessionTable::Session* AccessControl::session_of(const HttpRequest& req) {
    const std::string_view id = cookie_value(req.header("Cookie"), kSessionCookie);
    SessionTable::Session* s = sessions_.find(id);
    if (s == nullptr || s->auth_generation == auth_.generation()) return s;
    // The users or tokens were reloaded since the login: the session keeps the
    // identity only as the new rules give it.
    auto now = auth_.api_recheck(auth::ApiIdentity{s->user, s->role});
    if (!now) {
        sessions_.close(id);
        return nullptr;
    }
    s->role = now->role;
    s->auth_generation = auth_.generation();
    return s;
}

std::expected<Caller, HttpResponse> AccessControl::authenticate(const HttpRequest& req) {
    const bool public_path = is_public_path(req.path);
    // What a public path gets without valid credentials: enough to be answered.
    const Caller unknown{"", Role::Viewer, true, false, ""};
    if (const std::string_view authorization = req.header("Authorization"); !authorization.empty()) {
        if (auto who = auth_.http_identity(authorization, req.peer_address)) {
            return Caller{std::move(who->user), who->role, false, false, ""};
        }
        if (public_path) return unknown;
        return std::unexpected(refuse(req));
    }
    if (SessionTable::Session* s = session_of(req)) {
        if (!public_path && is_state_changing_method(req.method) &&
            !SessionTable::csrf_matches(*s, req.header(kCsrfHeader))) {
            ++csrf_refused_;
            return std::unexpected(json_error(403, "missing or wrong CSRF token"));
        }
        return Caller{s->user, s->role, false, true, s->csrf_token};
    }
    if (auth_.api_anonymous()) return Caller{};
    if (public_path) return unknown;
    auth_.count_http_refused();
    return std::unexpected(refuse(req));
}

std::string AccessControl::cookie(std::string_view value, std::chrono::seconds max_age) const {
    std::string c = std::string(kSessionCookie) + "=" + std::string(value) +
                    "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" + std::to_string(max_age.count());
    if (secure_cookies_) c += "; Secure";
    return c;
}

HttpResponse AccessControl::login(const HttpRequest& req) {
    static constexpr std::string_view kShape = R"(the body must be {"username": ..., "password": ...} or {"token": ...})";
    simdjson::dom::parser parser;
    simdjson::padded_string padded(req.body);
    simdjson::dom::object body;
    if (parser.parse(padded).get_object().get(body) != simdjson::SUCCESS) return json_error(400, kShape);
    std::string_view user, password, token;
    const bool by_token = body["token"].get_string().get(token) == simdjson::SUCCESS;
    if (!by_token && (body["username"].get_string().get(user) != simdjson::SUCCESS ||
                      body["password"].get_string().get(password) != simdjson::SUCCESS)) {
        return json_error(400, kShape);
    }
    if (checks_running_ >= kMaxLoginChecks) {
        ++logins_busy_;
        HttpResponse busy = json_error(503, "too many logins at once; try again");
        busy.headers.emplace_back("Retry-After", "1");
        return busy;
    }
    // The check runs on a thread of its own; its answer is written from this loop.
    std::erase_if(checks_, [](const std::future<void>& f) {
        return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    });
    HttpResponse r;
    r.deferred = [this, by_token, user = std::string(user), secret = std::string(by_token ? token : password),
                  address = std::string(req.peer_address),
                  old_id = std::string(cookie_value(req.header("Cookie"), kSessionCookie))](
                     std::function<void(HttpResponse)> reply) mutable {
        ++checks_running_;
        checks_.push_back(std::async(std::launch::async, [this, by_token, user = std::move(user),
                                                          secret = std::move(secret), address = std::move(address),
                                                          old_id = std::move(old_id), reply = std::move(reply)]() mutable {
            auto who = by_token ? auth_.api_token_login(secret, address) : auth_.api_login(user, secret, address);
            // Moved, so that nothing of the connection is released on this thread.
            boost::asio::post(loop_, [this, who = std::move(who), old_id = std::move(old_id), reply = std::move(reply)] {
                --checks_running_;
                reply(open_session(who, old_id));
            });
        }));
    };
    return r;
}

HttpResponse AccessControl::open_session(const std::optional<auth::ApiIdentity>& who, std::string_view old_session_id) {
    if (!who) {
        ++login_failures_;
        return invalid_credentials();
    }
    ++logins_;
    // A login from a browser that still holds a session replaces it.
    sessions_.close(old_session_id);
    const auto opened = sessions_.open(who->user, who->role, auth_.generation());
    const auto expires_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(opened.session->expires_at.time_since_epoch()).count();
    std::string out;
    JsonWriter(out)
        .begin_object()
        .field("user", who->user)
        .field("role", auth::role_name(who->role))
        .field("csrf_token", opened.session->csrf_token)
        .field("expires_at", rfc3339_utc(expires_ms))
        .end_object();
    HttpResponse r = json_reply(200, std::move(out));
    r.headers.emplace_back("Set-Cookie", cookie(opened.id, sessions_.limits().ttl));
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

HttpResponse AccessControl::logout(const HttpRequest& req) {
    sessions_.close(cookie_value(req.header("Cookie"), kSessionCookie));
    HttpResponse r = json_reply(200, R"({"logged_out":true})");
    r.headers.emplace_back("Set-Cookie", cookie("", std::chrono::seconds(0)));
    return r;
}

HttpResponse AccessControl::me(const HttpRequest& req) const {
    const Caller& c = *req.caller;
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("user");
    if (c.anonymous) w.null();
    else w.string(c.user);
    w.field("role", auth::role_name(c.role)).field("anonymous", c.anonymous).key("csrf_token");
    if (c.by_session) w.string(c.csrf_token);
    else w.null();
    w.end_object();
    HttpResponse r = json_reply(200, std::move(out));
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

// Users and tokens for an admin's eyes: a token is shown by its fingerprint,
// the label the audit log gives it, never by its secret.
HttpResponse AccessControl::principals() const {
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("users").begin_array();
    const auto all = auth_.api_principals();
    for (const auto& p : all) {
        if (!p.token) w.begin_object().field("name", p.name).field("role", auth::role_name(p.role)).end_object();
    }
    w.end_array().key("tokens").begin_array();
    for (const auto& p : all) {
        if (p.token) w.begin_object().field("fingerprint", p.name).field("role", auth::role_name(p.role)).end_object();
    }
    w.end_array().end_object();
    HttpResponse r = json_reply(200, std::move(out));
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

void AccessControl::add_routes(HttpServer& server) {
    server.route("POST", "/api/v1/auth/login", [this](const HttpRequest& r) { return login(r); }, nullptr,
                 Access::anyone());
    // Any caller may end their own session; neither is a change worth auditing.
    server.route("POST", "/api/v1/auth/logout", [this](const HttpRequest& r) { return logout(r); }, nullptr,
                 Access::read());
    server.route("GET", "/api/v1/auth/me", [this](const HttpRequest& r) { return me(r); }, nullptr, Access::read());
    server.route("GET", "/api/v1/auth/principals", [this](const HttpRequest&) { return principals(); }, nullptr,
                 Access::read(Role::Admin));
}

void AccessControl::collect_metrics(MetricSink& sink) const {
    sink.push_back({"ib_api_sessions", "Console sessions open.", MetricType::Gauge, "",
                    static_cast<double>(sessions_.size())});
    sink.push_back({"ib_api_logins_total", "Console logins (POST /api/v1/auth/login), by result.", MetricType::Counter,
                    "result=\"ok\"", static_cast<double>(logins_)});
    sink.push_back({"ib_api_logins_total", "Console logins (POST /api/v1/auth/login), by result.", MetricType::Counter,
                    "result=\"failed\"", static_cast<double>(login_failures_)});
    sink.push_back({"ib_api_logins_total", "Console logins (POST /api/v1/auth/login), by result.", MetricType::Counter,
                    "result=\"busy\"", static_cast<double>(logins_busy_)});
    sink.push_back({"ib_api_csrf_refused_total", "Session requests refused for a missing or wrong CSRF token.",
                    MetricType::Counter, "", static_cast<double>(csrf_refused_)});
}

}  // namespace ib::api
