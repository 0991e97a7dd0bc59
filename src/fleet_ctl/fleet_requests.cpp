#include "fleet_ctl/fleet_requests.hpp"

#include <simdjson.h>

namespace ib::fleet_ctl {

std::expected<std::vector<EdgeState>, std::string> targeted(const std::map<std::string, EdgeState>& known,
                                                            const std::vector<std::string>& patterns,
                                                            std::string_view root,
                                                            const std::vector<EdgeParams>* params) {
    auto targets = Targets::parse(patterns);
    if (!targets) return std::unexpected(targets.error());
    std::map<std::string, EdgeState> candidates = known;
    if (params) {
        for (const auto& p : *params) {
            if (candidates.contains(p.key())) continue;
            EdgeState e;
            e.site = p.site;
            e.edge = p.edge;
            e.prefix = default_prefix(root, p.site, p.edge);
            candidates[p.key()] = std::move(e);
        }
    }
    std::vector<EdgeState> out;
    for (auto& [key, e] : candidates) {
        if (targets->matches(e)) out.push_back(e);
    }
    if (out.empty()) {
        return std::unexpected("no edge matches the targets (" + std::to_string(known.size()) +
                               " edges known; ironbridge fleet list shows them)");
    }
    return out;
}

std::expected<std::vector<Request>, std::string> fill_for(const std::vector<EdgeState>& edges, const std::string& text,
                                                          const std::vector<EdgeParams>& params) {
    std::map<std::string, const EdgeParams*> rows;
    for (const auto& p : params) rows[p.key()] = &p;
    std::vector<Request> out;
    std::string errors;
    for (const auto& e : edges) {
        EdgeParams fallback{e.edge, e.site, {{"edge", e.edge}, {"site", e.site}}};
        const EdgeParams& row = rows.contains(e.key()) ? *rows.at(e.key()) : fallback;
        auto filled = fill_template(text, row);
        if (!filled) {
            errors += filled.error();
            if (!rows.contains(e.key())) errors += " (the edge has no row in the parameters)";
            errors += "\n";
            continue;
        }
        Request r;
        r.edge = e;
        r.config = std::move(*filled);
        r.result.key = e.key();
        out.push_back(std::move(r));
    }
    if (!errors.empty()) return std::unexpected(errors + "nothing was sent");
    return out;
}

std::expected<std::optional<int64_t>, std::string> base_of(std::string_view base, const EdgeState& e) {
    if (base == "none") return std::nullopt;
    if (base == "auto") return e.seen ? std::optional<int64_t>(e.revision) : std::nullopt;
    int64_t v = 0;
    bool digits = !base.empty();
    for (char c : base) {
        if (c < '0' || c > '9' || v > (INT64_MAX - 9) / 10) {
            digits = false;
            break;
        }
        v = v * 10 + (c - '0');
    }
    if (digits) return std::optional<int64_t>(v);
    return std::unexpected("base: auto, none or a revision number, not '" + std::string(base) + "'");
}

namespace {

// The desired configuration's fields for one edge: base and signature.
struct Signed {
    std::optional<int64_t> base;
    std::string signature;
};
std::expected<Signed, std::string> sign_for(const Request& r, const SendOptions& o) {
    auto base = base_of(o.base, r.edge);
    if (!base) return std::unexpected(base.error());
    Signed s{*base, {}};
    if (o.sign_key.empty()) return s;
    auto signature = sign_ed25519(o.sign_key, signed_bytes(o.revision, *base, r.config));
    if (!signature) return std::unexpected(signature.error());
    s.signature = std::move(*signature);
    return s;
}

}  // namespace

std::expected<std::vector<Outgoing>, std::string> push_messages(std::vector<Request>& requests, const SendOptions& o) {
    std::vector<Outgoing> out;
    for (auto& r : requests) {
        auto s = sign_for(r, o);
        if (!s) return std::unexpected(s.error());
        r.correlation = "push-" + std::to_string(o.revision) + "-" + r.edge.key();
        out.push_back({r.edge.prefix + "desired", desired_json(o.revision, s->base, r.config, s->signature), true,
                       r.correlation});
    }
    return out;
}

std::expected<std::vector<Outgoing>, std::string> dry_run_messages(std::vector<Request>& requests,
                                                                   const SendOptions& o) {
    std::vector<Outgoing> out;
    for (auto& r : requests) {
        auto s = sign_for(r, o);
        if (!s) return std::unexpected(s.error());
        r.correlation = "diff-" + o.tag + "-" + r.edge.key();
        Command c{r.correlation, "dry-run", o.revision, s->base, r.config, s->signature, 0};
        out.push_back({r.edge.prefix + "cmd", command_json(c), false, r.correlation});
    }
    return out;
}

std::vector<Outgoing> rollback_messages(const std::vector<EdgeState>& edges, int64_t to, std::string_view tag,
                                        std::vector<Request>& requests) {
    std::vector<Outgoing> out;
    for (const auto& e : edges) {
        Request r;
        r.edge = e;
        r.result.key = e.key();
        r.correlation = "rollback-" + std::string(tag) + "-" + e.key();
        Command c;
        c.id = r.correlation;
        c.op = "rollback";
        c.to = to;
        out.push_back({e.prefix + "cmd", command_json(c), false, r.correlation});
        requests.push_back(std::move(r));
    }
    return out;
}

AnswerTracker::AnswerTracker(std::vector<Request>& requests, std::string reply_topic,
                             std::optional<int64_t> push_revision)
    : requests_(requests), reply_topic_(std::move(reply_topic)), push_revision_(push_revision) {
    for (auto& r : requests_) {
        by_correlation_[r.correlation] = &r;
        by_status_topic_[r.edge.prefix + "status"] = &r;
    }
}

Request* AnswerTracker::take(const std::string& topic, const std::string& payload, const std::string& correlation) {
    Request* r = nullptr;
    const bool reply = topic == reply_topic_;
    if (reply) {
        if (auto it = by_correlation_.find(correlation); it != by_correlation_.end()) r = it->second;
    } else if (auto it = by_status_topic_.find(topic); it != by_status_topic_.end()) {
        r = it->second;
    }
    if (r == nullptr || r->result.final()) return nullptr;
    auto p = parse_progress(payload);
    if (!p) return nullptr;
    const bool ours = reply || (p->id ? *p->id == r->correlation : push_revision_ && p->revision == push_revision_);
    if (!ours) return nullptr;
    r->result.phase = p->phase;
    r->result.code = p->code;
    r->result.message = p->message();
    if (p->final()) r->last = std::move(*p);
    return r;
}

bool AnswerTracker::all_final() const {
    for (const auto& r : requests_) {
        if (!r.result.final()) return false;
    }
    return true;
}

void AnswerTracker::time_out(int timeout_s) {
    for (auto& r : requests_) {
        if (r.result.final()) continue;
        r.result.message = "no final answer within " + std::to_string(timeout_s) + " s (last phase: " +
                           r.result.phase + ")" + (r.edge.seen && !r.edge.online ? "; the edge is offline" : "");
        r.result.code = "timeout";
    }
}

void summarize_dry_run(std::vector<Request>& requests) {
    for (auto& r : requests) {
        if (r.result.phase == "done" && r.last.errors.empty()) r.result.message = diff_summary(r.last.diff_json);
        else if (r.result.phase == "done") r.result.phase = "failed";
    }
}

std::string diff_summary(const std::string& diff_json) {
    simdjson::dom::parser parser;
    simdjson::dom::object diff;
    if (diff_json.empty() || parser.parse(diff_json).get(diff) != simdjson::SUCCESS) return "no change";
    std::string out;
    for (auto [kind, value] : diff) {
        std::string part;
        bool changed = false;
        if (value["changed"].get(changed) == simdjson::SUCCESS) {
            if (changed) part = "changed";
        } else {
            for (const auto& [key, mark] : {std::pair{"added", "+"}, std::pair{"changed", "~"}, std::pair{"removed", "-"}}) {
                simdjson::dom::array names;
                if (value[key].get(names) != simdjson::SUCCESS) continue;
                for (auto n : names) {
                    std::string_view s;
                    if (n.get(s) != simdjson::SUCCESS) continue;
                    if (!part.empty()) part += ' ';
                    part += mark;
                    part += s;
                }
            }
        }
        if (part.empty()) continue;
        if (!out.empty()) out += "; ";
        out += std::string(kind) + " " + part;
    }
    return out.empty() ? "no change" : out;
}

}  // namespace ib::fleet_ctl
