#include "app/audit_routes.hpp"

// Boost 1.74's Asio needs <utility> before its headers (std::exchange).
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_server.hpp"
#include "core/clock.hpp"
#include "core/json_writer.hpp"
#include "store/audit_log.hpp"

namespace ib::app {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using api::json_error;

constexpr uint32_t kDefaultLimit = 100;
constexpr uint32_t kMaxLimit = 1000;

struct AuditQuery {
    uint32_t limit = kDefaultLimit;
    std::optional<int64_t> before;
};

// limit=1..1000 and before=<id>; anything else in the query is a 400 naming it.
std::expected<AuditQuery, std::string> parse_query(std::string_view query) {
    AuditQuery q;
    while (!query.empty()) {
        const size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;
        const size_t eq = pair.find('=');
        const std::string_view name = pair.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
        int64_t n = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        const bool integer = ec == std::errc() && end == value.data() + value.size() && !value.empty();
        if (name == "limit") {
            if (!integer || n < 1 || n > kMaxLimit) return std::unexpected("limit: an integer from 1 to 1000 is required");
            q.limit = static_cast<uint32_t>(n);
        } else if (name == "before") {
            if (!integer) return std::unexpected("before: an entry id (integer) is required");
            q.before = n;
        } else {
            return std::unexpected("unknown parameter '" + std::string(name) + "': give limit and before");
        }
    }
    return q;
}

void write_json_or_null(JsonWriter& w, std::string_view key, const std::string& json) {
    if (json.empty()) w.key(key).null();
    else w.raw_field(key, json);
}

HttpResponse entries_json(const store::AuditLog::Entries& entries) {
    if (!entries) return json_error(500, "the audit log cannot be read: " + entries.error());
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("entries").begin_array();
    for (const auto& e : *entries) {
        w.begin_object().field("id", e.id).field("time", rfc3339_utc(e.time_ms)).key("user");
        if (e.user.empty()) w.null();
        else w.string(e.user);
        w.field("role", e.role).field("remote", e.remote).field("method", e.method).field("path", e.path);
        w.field("status", e.status);
        write_json_or_null(w, "before", e.before);
        write_json_or_null(w, "after", e.after);
        w.end_object();
    }
    w.end_array().end_object();
    return api::json_reply(200, std::move(out));
}

}  // namespace

void add_audit_routes(api::HttpServer& server, store::AuditLog& log, boost::asio::io_context& api_loop) {
    server.set_audit([&log](api::AuditEvent e) {
        log.append(store::AuditEntry{0, e.time_ms, std::move(e.user), std::move(e.role), std::move(e.remote),
                                     std::move(e.method), std::move(e.path), e.status, std::move(e.before),
                                     std::move(e.after)});
    });
    // A change the API made but could not record (audit.db unopenable or a
    // failed write) is logged as an error; this makes it visible to alerts.
    server.add_metrics([&log](MetricSink& sink) {
        sink.push_back({"ib_audit_failures_total", "Changes made through the API that the audit log could not record.",
                        MetricType::Counter, "", static_cast<double>(log.failures())});
    });
    server.route(
        "GET", "/api/v1/audit",
        [&log, &api_loop](const HttpRequest& req) {
            auto q = parse_query(req.query);
            if (!q) return json_error(400, q.error());
            HttpResponse r;
            r.deferred = [&log, &api_loop, q = *q](std::function<void(HttpResponse)> reply) {
                log.query(q.limit, q.before, [&api_loop, reply](store::AuditLog::Entries entries) {
                    boost::asio::post(api_loop, [reply, r = entries_json(entries)]() mutable { reply(std::move(r)); });
                });
            };
            return r;
        },
        nullptr, api::Access::read(api::Role::Admin));
}

}  // namespace ib::app
