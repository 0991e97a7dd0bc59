#include "app/rule_routes.hpp"

#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "api/http_server.hpp"
#include "core/json_writer.hpp"
#include "rules/rule_engine.hpp"
#include "rules/rule_settings.hpp"

namespace ib::app {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using api::json_error;
using api::json_reply;

void write_counters(JsonWriter& w, const rules::RuleCounters& c) {
    w.key("messages").begin_object().field("in", c.in).field("filtered", c.filtered).field("out", c.out);
    w.field("late", c.late).end_object();
    w.key("errors").begin_object();
    for (int k = 0; k < rules::kErrorKinds; ++k) w.field(rules::rule_error_kind_name(k), c.errors[k]);
    w.end_object().key("last_error");
    if (c.last_error.empty()) {
        w.null();
    } else {
        w.begin_object().field("message", c.last_error).field("at_ms", c.last_error_ms).end_object();
    }
}

std::string status_json(const rules::RuleStatus& s, const rules::RuleConfig* config) {
    std::string out;
    JsonWriter w(out);
    w.begin_object()
        .field("id", s.id)
        .field("sql", s.sql)
        .field("source", s.source == rules::RuleSource::Fleet ? "fleet" : s.from_file ? "file" : "api")
        .field("status", s.running ? "running" : "stopped");
    write_counters(w, s.counters);
    w.key("latency_us").begin_object().key("avg").fixed(s.latency_avg_us, 3).key("max").fixed(s.latency_max_us, 3);
    w.end_object().key("actions").begin_array();
    for (const auto& a : s.actions) {
        w.begin_object().field("kind", a.kind).field("done", a.done).field("errors", a.errors).key("last_error");
        if (a.last_error.empty()) w.null();
        else w.string(a.last_error);
        w.end_object();
    }
    w.end_array();
    if (config != nullptr) w.raw_field("rule", rules::rule_to_json(*config, config::fields::Secrets::Masked));
    w.end_object();
    return out;
}

// The one place a rule engine error becomes an HTTP status.
unsigned http_status(rules::RuleErrc kind) {
    switch (kind) {
        case rules::RuleErrc::Invalid: return 400;
        case rules::RuleErrc::NotFound: return 404;
        case rules::RuleErrc::Exists: return 409;
        case rules::RuleErrc::FromFile: return 409;
        case rules::RuleErrc::Storage: return 500;
    }
    return 500;
}

HttpResponse from(const std::expected<void, rules::RuleError>& r, unsigned ok_status, std::string ok_body) {
    if (!r) return json_error(http_status(r.error().kind), r.error().message);
    return json_reply(ok_status, std::move(ok_body));
}

// POST /api/v1/rules/test: {"sql": ..., "messages": [{"topic": ..., "payload": {...} or "text", "at_ms": 0}], ...}.
// The rule's other keys (id, actions, event_time) are optional here.
HttpResponse test(std::string_view body) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::element root;
    if (auto err = parser.parse(padded).get(root); err) {
        return json_error(400, std::string("the body is not valid JSON: ") + simdjson::error_message(err));
    }
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS) return json_error(400, "the body must be a JSON object");
    // The rule part goes through the same checks as a real rule, under a stand-in id.
    std::string rule_json;
    JsonWriter rw(rule_json);
    rw.begin_object();
    simdjson::dom::array messages;
    bool has_messages = false;
    bool has_id = false;
    for (auto field : obj) {
        if (field.key == "messages") {
            if (field.value.get_array().get(messages) != simdjson::SUCCESS) return json_error(400, "messages: expected an array");
            has_messages = true;
            continue;
        }
        has_id = has_id || field.key == "id";
        rw.raw_field(field.key, simdjson::minify(field.value));
    }
    if (!has_id) rw.field("id", "test");
    rw.end_object();
    if (!has_messages) return json_error(400, "messages: is required: [{\"topic\": ..., \"payload\": {...}}]");
    auto rule = rules::rule_from_json(rule_json);
    if (!rule) return json_error(400, rule.error());
    std::vector<rules::SampleMessage> samples;
    std::size_t i = 0;
    for (auto m : messages) {
        const std::string where = "messages[" + std::to_string(i++) + "]";
        simdjson::dom::object mo;
        if (m.get_object().get(mo) != simdjson::SUCCESS) return json_error(400, where + ": expected an object");
        rules::SampleMessage s;
        std::string_view topic;
        if (mo["topic"].get_string().get(topic) != simdjson::SUCCESS) return json_error(400, where + ".topic: a string is required");
        s.topic = std::string(topic);
        simdjson::dom::element payload;
        if (mo["payload"].get(payload) == simdjson::SUCCESS) {
            std::string_view text;
            s.payload = payload.get_string().get(text) == simdjson::SUCCESS ? std::string(text) : simdjson::minify(payload);
        }
        int64_t at = 0;
        if (auto e = mo["at_ms"]; !e.error()) {
            if (e.get_int64().get(at) != simdjson::SUCCESS) return json_error(400, where + ".at_ms: an integer is required");
        }
        s.at_ms = at;
        samples.push_back(std::move(s));
        if (samples.size() > 10'000) return json_error(400, "messages: at most 10000 samples");
    }
    auto outcome = rules::test_rule(*rule, samples);
    if (!outcome) return json_error(400, outcome.error());
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("rows").begin_array();
    for (const auto& row : outcome->rows) w.raw(row);
    w.end_array().key("message_errors").begin_array();
    for (const auto& e : outcome->errors) w.string(e);
    w.end_array();
    write_counters(w, outcome->counters);
    w.end_object();
    return json_reply(200, std::move(out));
}

}  // namespace

void add_rule_routes(api::HttpServer& server, rules::RuleEngine& engine, boost::asio::io_context& rules_loop) {
    server.route("GET", "/api/v1/rules", [&engine](const HttpRequest&) {
        std::string body;
        JsonWriter w(body);
        w.begin_array();
        for (const auto& s : engine.status()) w.raw(status_json(s, nullptr));
        w.end_array();
        return json_reply(200, std::move(body));
    }, &rules_loop);
    server.route("POST", "/api/v1/rules", [&engine](const HttpRequest& req) {
        auto rule = rules::rule_from_json(req.body);
        if (!rule) return json_error(400, rule.error());
        std::string body = rules::rule_to_json(*rule, config::fields::Secrets::Masked);
        return from(engine.add(std::move(*rule)), 201, std::move(body));
    }, &rules_loop);
    // A dry run against sample messages changes nothing: any viewer may test.
    server.route("POST", "/api/v1/rules/test", [](const HttpRequest& req) { return test(req.body); }, nullptr,
                 api::Access::read());
    server.route("GET", "/api/v1/rules/{id}", [&engine](const HttpRequest& req) {
        const std::string_view id = req.param("id");
        auto s = engine.status(id);
        if (!s) return json_error(404, "no rule named '" + std::string(id) + "'");
        return json_reply(200, status_json(*s, engine.find(id)));
    }, &rules_loop);
    server.route("PUT", "/api/v1/rules/{id}", [&engine](const HttpRequest& req) {
        const std::string_view id = req.param("id");
        auto rule = rules::rule_from_json(req.body);
        if (!rule) return json_error(400, rule.error());
        if (rule->id != id) {
            return json_error(400, "the body names rule '" + rule->id + "', the path '" + std::string(id) + "'");
        }
        const rules::RuleConfig* old = engine.find(id);
        if (old != nullptr) rules::keep_masked_secrets(*rule, *old);
        std::string body = rules::rule_to_json(*rule, config::fields::Secrets::Masked);
        std::string before = old != nullptr ? rules::rule_to_json(*old, config::fields::Secrets::Masked) : std::string();
        HttpResponse r = from(engine.replace(std::move(*rule)), 200, body);
        if (r.status == 200) {
            r.audit_before = std::move(before);
            r.audit_after = std::move(body);
        }
        return r;
    }, &rules_loop);
    server.route("DELETE", "/api/v1/rules/{id}", [&engine](const HttpRequest& req) {
        const rules::RuleConfig* old = engine.find(req.param("id"));
        std::string before = old != nullptr ? rules::rule_to_json(*old, config::fields::Secrets::Masked) : std::string();
        HttpResponse r = from(engine.remove(req.param("id")), 204, "");
        if (r.status == 204) r.audit_before = std::move(before);
        return r;
    }, &rules_loop);
    for (const bool start : {true, false}) {
        server.route("POST", start ? "/api/v1/rules/{id}/start" : "/api/v1/rules/{id}/stop",
                     [&engine, start](const HttpRequest& req) {
                         const std::string_view id = req.param("id");
                         if (auto r = engine.set_running(id, start); !r) return from(r, 200, "");
                         return json_reply(200, status_json(*engine.status(id), engine.find(id)));
                     },
                     &rules_loop, api::Access::change(api::Role::Operator));
    }
}

}  // namespace ib::app
