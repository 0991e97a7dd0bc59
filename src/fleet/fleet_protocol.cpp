#include "fleet/fleet_protocol.hpp"

#include <simdjson.h>

#include "core/json_writer.hpp"

namespace ib::fleet {
namespace {

using simdjson::dom::element;

std::expected<void, std::string> read_desired(element doc, Desired& d) {
    int64_t revision = 0;
    if (doc["revision"].get_int64().get(revision) || revision <= 0) {
        return std::unexpected("'revision' must be a positive integer");
    }
    d.revision = revision;
    auto base = doc["base"];
    if (base.error() == simdjson::SUCCESS && !base.is_null()) {
        int64_t b = 0;
        if (base.get_int64().get(b) || b < 0) return std::unexpected("'base' must be a revision number or null");
        d.base = b;
    }
    std::string_view config;
    if (doc["config"].get_string().get(config)) return std::unexpected("'config' must be the TOML text, a string");
    d.config = std::string(config);
    auto sig = doc["signature"];
    if (sig.error() == simdjson::SUCCESS && !sig.is_null()) {
        std::string_view s;
        if (sig.get_string().get(s)) return std::unexpected("'signature' must be a base64 string");
        d.signature = std::string(s);
    }
    return {};
}

}  // namespace

std::expected<Desired, std::string> decode_desired(std::string_view json) {
    simdjson::dom::parser parser;
    element doc;
    if (parser.parse(json.data(), json.size()).get(doc) || !doc.is_object()) {
        return std::unexpected("the desired configuration is not a JSON object");
    }
    Desired d;
    if (auto r = read_desired(doc, d); !r) return std::unexpected(r.error());
    return d;
}

std::expected<Command, std::string> decode_command(std::string_view json, std::optional<std::string>& id_out) {
    simdjson::dom::parser parser;
    element doc;
    if (parser.parse(json.data(), json.size()).get(doc) || !doc.is_object()) {
        return std::unexpected("the command is not a JSON object");
    }
    Command c;
    std::string_view id;
    if (doc["id"].get_string().get(id)) return std::unexpected("'id' must be a string");
    c.id = std::string(id);
    id_out = c.id;
    std::string_view op;
    if (doc["op"].get_string().get(op)) return std::unexpected("'op' must be a string");
    if (op == "dry-run") {
        c.op = CommandOp::DryRun;
        if (auto r = read_desired(doc, c.desired); !r) return std::unexpected(r.error());
    } else if (op == "rollback") {
        c.op = CommandOp::Rollback;
        if (doc["to"].get_int64().get(c.to) || c.to < 0) return std::unexpected("'to' must be a revision number");
    } else if (op == "capture") {
        c.op = CommandOp::Capture;
    } else if (op == "inspect") {
        c.op = CommandOp::Inspect;
    } else {
        return std::unexpected("unknown op '" + std::string(op) + "': dry-run, rollback, capture or inspect");
    }
    return c;
}

std::string_view phase_name(Phase p) {
    switch (p) {
        case Phase::Received: return "received";
        case Phase::Validating: return "validating";
        case Phase::Applying: return "applying";
        case Phase::Probing: return "probing";
        case Phase::Done: return "done";
        case Phase::Failed: return "failed";
        case Phase::RolledBack: return "rolled_back";
    }
    return "failed";
}

std::string encode_progress(const Progress& p, int64_t ts_ms) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("id");
    if (p.id) w.string(*p.id);
    else w.null();
    if (p.revision) w.field("revision", *p.revision);
    w.field("phase", phase_name(p.phase));
    if (!p.code.empty()) w.field("code", p.code);
    if (!p.reason.empty()) w.field("reason", p.reason);
    if (!p.errors.empty()) {
        w.key("errors").begin_array();
        for (const auto& e : p.errors) w.string(e);
        w.end_array();
    }
    if (p.dry_run) w.field("dry_run", true);
    if (!p.diff_json.empty()) w.raw_field("diff", p.diff_json);
    if (!p.config.empty()) w.field("config", p.config);
    if (!p.inspection_json.empty()) w.raw_field("inspection", p.inspection_json);
    w.field("ts", ts_ms).end_object();
    return out;
}

std::string encode_state(const EdgeState& s, int64_t ts_ms) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("edge", s.edge).field("site", s.site).field("online", s.online).field("version", s.version);
    w.field("revision", s.revision).field("hash", s.hash);
    if (s.health) w.field("health", static_cast<int64_t>(*s.health));
    w.key("labels").begin_object();
    for (const auto& [k, v] : s.labels) w.field(k, v);
    w.end_object();
    w.key("desired_revision");
    if (s.desired_revision) w.number(*s.desired_revision);
    else w.null();
    if (s.last_apply) {
        w.key("last_apply").begin_object();
        if (s.last_apply->revision) w.field("revision", *s.last_apply->revision);
        w.field("result", phase_name(s.last_apply->phase));
        if (!s.last_apply->code.empty()) w.field("code", s.last_apply->code);
        if (!s.last_apply->reason.empty()) w.field("reason", s.last_apply->reason);
        w.end_object();
    }
    w.field("started", s.started_ms).field("ts", ts_ms).end_object();
    return out;
}

std::string encode_offline(std::string_view edge, std::string_view site, std::optional<int64_t> ts_ms) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("edge", edge).field("site", site).field("online", false);
    if (ts_ms) w.field("ts", *ts_ms);
    w.end_object();
    return out;
}

}  // namespace ib::fleet
