#include "api/access_control.hpp"

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

// A browser's script (fetch, XHR) says so in Sec-Fetch-Mode; it must not get a
// Basic challenge, which would make the browser pop up its own login dialog
// over the console's.
bool from_browser_script(const HttpRequest& req) {
    const std::string_view mode = req.header("Sec-Fetch-Mode");
    return !mode.empty() && mode != "navigate";
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

AccessControl::AccessControl(auth::Auth& auth, SessionLimits limits, bool secure_cookies)
    : auth_(auth), sessions_(limits), secure_cookies_(secure_cookies) {}

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
    simdjson::dom::parser parser;
    simdjson::padded_string padded(req.body);
    simdjson::dom::object body;
    if (parser.parse(padded).get_object().get(body) != simdjson::SUCCESS) {
        return json_error(400, R"(the body must be {"username": ..., "password": ...} or {"token": ...})");
    }
    std::string_view user, password, token;
    std::optional<auth::ApiIdentity> who;
    if (body["token"].get_string().get(token) == simdjson::SUCCESS) {
        who = auth_.api_token_login(token, req.peer_address);
    } else if (body["username"].get_string().get(user) == simdjson::SUCCESS &&
               body["password"].get_string().get(password) == simdjson::SUCCESS) {
        who = auth_.api_login(user, password, req.peer_address);
    } else {
        return json_error(400, R"(the body must be {"username": ..., "password": ...} or {"token": ...})");
    }
    if (!who) {
        ++login_failures_;
        return invalid_credentials();
    }
    ++logins_;
    // A login from a browser that still holds a session replaces it.
    sessions_.close(cookie_value(req.header("Cookie"), kSessionCookie));
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

void AccessControl::add_routes(HttpServer& server) {
    server.route("POST", "/api/v1/auth/login", [this](const HttpRequest& r) { return login(r); }, nullptr,
                 Access::anyone());
    // Any caller may end their own session; neither is a change worth auditing.
    server.route("POST", "/api/v1/auth/logout", [this](const HttpRequest& r) { return logout(r); }, nullptr,
                 Access::read());
    server.route("GET", "/api/v1/auth/me", [this](const HttpRequest& r) { return me(r); }, nullptr, Access::read());
}

void AccessControl::collect_metrics(MetricSink& sink) const {
    sink.push_back({"ib_api_sessions", "Console sessions open.", MetricType::Gauge, "",
                    static_cast<double>(sessions_.size())});
    sink.push_back({"ib_api_logins_total", "Console logins (POST /api/v1/auth/login), by result.", MetricType::Counter,
                    "result=\"ok\"", static_cast<double>(logins_)});
    sink.push_back({"ib_api_logins_total", "Console logins (POST /api/v1/auth/login), by result.", MetricType::Counter,
                    "result=\"failed\"", static_cast<double>(login_failures_)});
    sink.push_back({"ib_api_csrf_refused_total", "Session requests refused for a missing or wrong CSRF token.",
                    MetricType::Counter, "", static_cast<double>(csrf_refused_)});
}

}  // namespace ib::api
