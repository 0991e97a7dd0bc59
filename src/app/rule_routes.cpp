#include "app/rule_routes.hpp"

#include <simdjson.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_server.hpp"
#include "core/quote.hpp"
#include "rules/rule_engine.hpp"
#include "rules/rule_settings.hpp"

namespace ib::app {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using api::json_error;
using api::json_reply;

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return buf;
}

std::string counters_json(const rules::RuleCounters& c) {
    std::string out = "\"messages\":{\"in\":" + std::to_string(c.in) + ",\"filtered\":" + std::to_string(c.filtered) +
                      ",\"out\":" + std::to_string(c.out) + ",\"late\":" + std::to_string(c.late) + "},\"errors\":{";
    for (int k = 0; k < rules::kErrorKinds; ++k) {
        out += (k ? ",\"" : "\"") + std::string(rules::rule_error_kind_name(k)) + "\":" + std::to_string(c.errors[k]);
    }
    out += "},\"last_error\":";
    if (c.last_error.empty()) {
        out += "null";
    } else {
        out += "{\"message\":" + ib::quoted(c.last_error) + ",\"at_ms\":" + std::to_string(c.last_error_ms) + "}";
    }
    return out;
}

std::string status_json(const rules::RuleStatus& s, const rules::RuleConfig* config) {
    std::string out = "{\"id\":" + ib::quoted(s.id) + ",\"sql\":" + ib::quoted(s.sql) + ",\"source\":\"" +
                      (s.from_file ? "file" : "api") + "\",\"status\":\"" + (s.running ? "running" : "stopped") + "\"," +
                      counters_json(s.counters) + ",\"latency_us\":{\"avg\":" + number(s.latency_avg_us) +
                      ",\"max\":" + number(s.latency_max_us) + "},\"actions\":[";
    for (std::size_t i = 0; i < s.actions.size(); ++i) {
        const auto& a = s.actions[i];
        out += (i ? "," : "") + std::string("{\"kind\":") + ib::quoted(a.kind) + ",\"done\":" + std::to_string(a.done) +
               ",\"errors\":" + std::to_string(a.errors) +
               ",\"last_error\":" + (a.last_error.empty() ? std::string("null") : ib::quoted(a.last_error)) + "}";
    }
    out += "]";
    if (config != nullptr) out += ",\"rule\":" + rules::rule_to_json(*config);
    return out + "}";
}

HttpResponse from(const std::expected<void, rules::RuleError>& r, unsigned ok_status, std::string ok_body) {
    if (!r) return json_error(r.error().status, r.error().message);
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
    std::string rule_json = "{";
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
        if (rule_json.size() > 1) rule_json += ",";
        rule_json += ib::quoted(std::string(field.key)) + ":" + simdjson::minify(field.value);
    }
    if (!has_id) rule_json += std::string(rule_json.size() > 1 ? "," : "") + "\"id\":\"test\"";
    rule_json += "}";
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
    std::string out = "{\"rows\":[";
    for (std::size_t k = 0; k < outcome->rows.size(); ++k) out += (k ? "," : "") + outcome->rows[k];
    out += "],\"message_errors\":[";
    for (std::size_t k = 0; k < outcome->errors.size(); ++k) out += (k ? "," : "") + ib::quoted(outcome->errors[k]);
    out += "]," + counters_json(outcome->counters) + "}";
    return json_reply(200, std::move(out));
}

}  // namespace

void add_rule_routes(api::HttpServer& server, rules::RuleEngine& engine, boost::asio::io_context& rules_loop) {
    server.route("GET", "/api/v1/rules", [&engine](const HttpRequest&) {
        std::string body = "[";
        bool first = true;
        for (const auto& s : engine.status()) {
            body += (first ? "" : ",") + status_json(s, nullptr);
            first = false;
        }
        return json_reply(200, body + "]");
    }, &rules_loop);
    server.route("POST", "/api/v1/rules", [&engine](const HttpRequest& req) {
        auto rule = rules::rule_from_json(req.body);
        if (!rule) return json_error(400, rule.error());
        std::string body = rules::rule_to_json(*rule);
        return from(engine.add(std::move(*rule)), 201, std::move(body));
    }, &rules_loop);
    server.route("POST", "/api/v1/rules/test", [](const HttpRequest& req) { return test(req.body); });
    for (const char* method : {"GET", "PUT", "DELETE", "POST"}) {
        server.route(method, "/api/v1/rules/*", [&engine, method = std::string(method)](const HttpRequest& req) {
            std::string_view rest = req.path.substr(std::string_view("/api/v1/rules/").size());
            std::string_view id = rest.substr(0, rest.find('/'));
            std::string_view verb = rest.size() > id.size() ? rest.substr(id.size() + 1) : std::string_view();
            if (method == "POST") {
                if (verb != "start" && verb != "stop") return json_error(404, "use POST /api/v1/rules/{id}/start or /stop");
                auto r = engine.set_running(id, verb == "start");
                if (!r) return json_error(r.error().status, r.error().message);
                auto s = engine.status(id);
                return json_reply(200, status_json(*s, engine.find(id)));
            }
            if (!verb.empty()) return json_error(404, "not found");
            if (method == "GET") {
                auto s = engine.status(id);
                if (!s) return json_error(404, "no rule named '" + std::string(id) + "'");
                return json_reply(200, status_json(*s, engine.find(id)));
            }
            if (method == "DELETE") return from(engine.remove(id), 204, "");
            auto rule = rules::rule_from_json(req.body);
            if (!rule) return json_error(400, rule.error());
            if (rule->id != id) {
                return json_error(400, "the body names rule '" + rule->id + "', the path '" + std::string(id) + "'");
            }
            std::string body = rules::rule_to_json(*rule);
            return from(engine.replace(std::move(*rule)), 200, std::move(body));
        }, &rules_loop);
    }
}

}  // namespace ib::app
