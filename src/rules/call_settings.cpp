#include "rules/call_settings.hpp"

#include "core/quote.hpp"

namespace ib::rules {
namespace {

using namespace config::fields;

std::string store_string(std::string& field, const toml::node& n) {
    field = str(n);
    return {};
}

// The keys http and grpc share: ordering, concurrency and TLS files.
std::vector<Field<ActionConfig>> shared_fields() {
    return {
        {"key", Kind::String, "\"\"",
         "Template (`${device}`): rows of one key are sent one at a time, in order; other keys go concurrently. Empty: one key.",
         0, 0, [](ActionConfig& a, const toml::node& n) { return store_string(a.call.key, n); }},
        {"concurrency", Kind::Integer, "1", "Requests in flight at once (for different keys).", 1, 64,
         [](ActionConfig& a, const toml::node& n) {
             a.call.concurrency = static_cast<uint32_t>(integer(n));
             return std::string();
         }},
        {"ca_file", Kind::String, "\"\"", "PEM CAs the server's certificate must chain to; empty trusts the system's CAs.", 0, 0,
         [](ActionConfig& a, const toml::node& n) { return store_readable_file(a.call.ca_file, n); }},
        {"cert_file", Kind::String, "\"\"", "PEM client certificate presented to the server (with key_file).", 0, 0,
         [](ActionConfig& a, const toml::node& n) { return store_readable_file(a.call.cert_file, n); }},
        {"key_file", Kind::String, "\"\"", "PEM private key of cert_file.", 0, 0,
         [](ActionConfig& a, const toml::node& n) { return store_readable_file(a.call.key_file, n); }},
    };
}

}  // namespace

const std::vector<Field<ActionConfig>>& http_call_fields() {
    static const std::vector<Field<ActionConfig>> f = [] {
        std::vector<Field<ActionConfig>> v = shared_fields();
        v.push_back({"headers", Kind::StringArray, "[]", "Headers added to every request, each `\"Name: value\"`.", 0, 0,
                     [](ActionConfig& a, const toml::node& n) -> std::string {
                         a.call.headers.clear();
                         for (const auto& h : *n.as_array()) {
                             std::string line = h.as_string()->get();
                             const auto colon = line.find(':');
                             if (colon == std::string::npos || colon == 0) return ib::quoted(line) + " is not `Name: value`";
                             // A line break would end the header and start another one the rule's author did not write.
                             if (line.find_first_of("\r\n") != std::string::npos) return "a header has no line breaks";
                             a.call.headers.push_back(std::move(line));
                         }
                         return {};
                     }});
        v.push_back({"response_topic", Kind::String, "\"\"",
                     "Topic template the answer (a JSON object) is published to, filled from the answer's fields; empty: the answer is not used.",
                     0, 0, [](ActionConfig& a, const toml::node& n) { return store_string(a.call.response_topic, n); }});
        v.push_back({"response_template", Kind::String, "\"\"",
                     "Payload published to response_topic, a template over the answer's fields; empty: the answer as it came.", 0, 0,
                     [](ActionConfig& a, const toml::node& n) { return store_string(a.call.response_template, n); }});
        return v;
    }();
    return f;
}

const std::vector<Field<ActionConfig>>& grpc_fields() {
    static const std::vector<Field<ActionConfig>> f = [] {
        std::vector<Field<ActionConfig>> v = {
            {"address", Kind::String, "(required)", "The gRPC server, `host:port`.", 0, 0,
             [](ActionConfig& a, const toml::node& n) { return store_string(a.call.address, n); }, nullptr, true},
            {"proto", Kind::String, "(required)", "The service's .proto file (its imports are looked up beside it).", 0, 0,
             [](ActionConfig& a, const toml::node& n) { return store_readable_file(a.call.proto, n); }, nullptr, true},
            {"service", Kind::String, "(required)", "The service, with its package: `vision.Inspector`.", 0, 0,
             [](ActionConfig& a, const toml::node& n) { return store_string(a.call.service, n); }, nullptr, true},
            {"method", Kind::String, "(required)", "The unary method called with each row: `Score`.", 0, 0,
             [](ActionConfig& a, const toml::node& n) { return store_string(a.call.method, n); }, nullptr, true},
            {"payload", Kind::String, "\"\"",
             "Request template (JSON text); empty sends the row, mapped to the request message by protobuf's JSON mapping.", 0, 0,
             [](ActionConfig& a, const toml::node& n) { return store_string(a.payload, n); }},
            {"timeout_ms", Kind::Integer, "5000", "The deadline of one call.", 10, 600000,
             [](ActionConfig& a, const toml::node& n) {
                 a.timeout_ms = static_cast<uint32_t>(integer(n));
                 return std::string();
             }},
            {"max_queue", Kind::Integer, "1000", "Rows waiting for the server; beyond it new rows are dropped and counted.", 1, 1000000,
             [](ActionConfig& a, const toml::node& n) {
                 a.max_queue = static_cast<uint32_t>(integer(n));
                 return std::string();
             }},
            {"tls", Kind::Boolean, "false", "Whether the channel uses TLS (then ca_file, cert_file, key_file apply).", 0, 0,
             [](ActionConfig& a, const toml::node& n) {
                 a.call.tls = n.as_boolean()->get();
                 return std::string();
             }},
        };
        for (auto& s : shared_fields()) v.push_back(s);
        return v;
    }();
    return f;
}

std::string check_call(const ActionConfig& a) {
    if (a.call.cert_file.empty() != a.call.key_file.empty()) {
        return a.call.cert_file.empty() ? "key_file needs cert_file" : "cert_file needs key_file";
    }
    if (a.kind == ActionKind::Grpc && a.call.address.find(':') == std::string::npos) {
        return "address " + ib::quoted(a.call.address) + " is not host:port";
    }
    if (!a.call.response_template.empty() && a.call.response_topic.empty()) return "response_template needs response_topic";
    return {};
}

void append_call_json(std::string& out, const ActionConfig& a) {
    const CallConfig& c = a.call;
    auto text = [&out](std::string_view name, const std::string& value) {
        if (!value.empty()) out += ",\"" + std::string(name) + "\":" + ib::quoted(value);
    };
    if (a.kind == ActionKind::Grpc) {  // the caller wrote "method" first
        text("address", c.address);
        text("proto", c.proto);
        text("service", c.service);
        text("payload", a.payload);
        out += ",\"timeout_ms\":" + std::to_string(a.timeout_ms) + ",\"max_queue\":" + std::to_string(a.max_queue);
        if (c.tls) out += ",\"tls\":true";
    }
    text("key", c.key);
    if (c.concurrency != 1) out += ",\"concurrency\":" + std::to_string(c.concurrency);
    text("ca_file", c.ca_file);
    text("cert_file", c.cert_file);
    text("key_file", c.key_file);
    if (!c.headers.empty()) {
        out += ",\"headers\":[";
        for (std::size_t i = 0; i < c.headers.size(); ++i) out += (i ? "," : "") + ib::quoted(c.headers[i]);
        out += "]";
    }
    text("response_topic", c.response_topic);
    text("response_template", c.response_template);
}

}  // namespace ib::rules
