#include "api/access.hpp"

#include <simdjson.h>

#include <memory>

#include "api/static_files.hpp"
#include "core/clock.hpp"
#include "core/credential_names.hpp"
#include "core/json_writer.hpp"

namespace ib::api {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

void write_masked(JsonWriter& w, simdjson::dom::element e) {
    switch (e.type()) {
        case simdjson::dom::element_type::OBJECT:
            w.begin_object();
            for (auto field : e.get_object()) {
                w.key(field.key);
                if (names_a_credential(field.key) && !field.value.is_null()) w.string("***");
                else write_masked(w, field.value);
            }
            w.end_object();
            return;
        case simdjson::dom::element_type::ARRAY:
            w.begin_array();
            for (auto item : e.get_array()) write_masked(w, item);
            w.end_array();
            return;
        case simdjson::dom::element_type::STRING:
            w.string(e.get_string().value_unsafe());
            return;
        default:
            w.raw(simdjson::minify(e));
            return;
    }
}

// What an audit entry knows of its request, copied before the answer, which may
// come later, from another loop.
AuditEvent draft_of(const HttpRequest& req) {
    AuditEvent e;
    e.time_ms = unix_ms();
    if (req.caller != nullptr) {
        e.user = req.caller->user;
        e.role = std::string(auth::role_name(req.caller->role));
    }
    e.remote = std::string(req.peer_address);
    e.method = std::string(req.method);
    e.path = std::string(req.path);
    return e;
}

void record(const AuditSink& sink, AuditEvent draft, const HttpResponse& r) {
    draft.status = r.status;
    draft.before = mask_secrets(r.audit_before);
    draft.after = mask_secrets(r.audit_after);
    sink(std::move(draft));
}

}  // namespace

Access Access::default_for(std::string_view method) {
    return method == "GET" || method == "HEAD" ? read() : change();
}

bool is_public_path(std::string_view path) {
    return is_console_path(path) || path == "/api/v1/auth/login" || path == "/api/v1/health" ||
           path == "/healthz" || starts_with(path, "/healthz/");
}

bool is_state_changing_method(std::string_view method) {
    return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

HttpResponse authentication_required() { return json_error(401, "authentication required"); }

std::optional<HttpResponse> check_role(const Caller& caller, Role needed) {
    if (auth::role_allows(caller.role, needed)) return std::nullopt;
    std::string body;
    JsonWriter(body)
        .begin_object()
        .field("error", "forbidden")
        .field("required_role", auth::role_name(needed))
        .field("role", auth::role_name(caller.role))
        .end_object();
    return json_reply(403, std::move(body));
}

std::string mask_secrets(std::string_view json) {
    if (json.empty()) return {};
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element root;
    if (parser.parse(padded).get(root) != simdjson::SUCCESS) return {};
    std::string out;
    JsonWriter w(out);
    write_masked(w, root);
    return out;
}

Handler guard_route(Access access, Handler inner, const AuditSink* sink) {
    return [access, inner = std::move(inner), sink](const HttpRequest& req) -> HttpResponse {
        const bool audited = access.changes_state && sink != nullptr && *sink;
        if (!access.open && req.caller != nullptr) {
            if (auto refused = check_role(*req.caller, access.role)) {
                if (audited) record(*sink, draft_of(req), *refused);
                return std::move(*refused);
            }
        }
        HttpResponse r = inner(req);
        if (!audited) return r;
        if (!r.deferred) {
            record(*sink, draft_of(req), r);
            return r;
        }
        // The answer comes later: record it on its way to the client.
        auto later = std::move(r.deferred);
        r.deferred = [later = std::move(later), sink, draft = draft_of(req)](std::function<void(HttpResponse)> reply) {
            later([sink, draft, reply = std::move(reply)](HttpResponse out) {
                record(*sink, draft, out);
                reply(std::move(out));
            });
        };
        return r;
    };
}

}  // namespace ib::api
