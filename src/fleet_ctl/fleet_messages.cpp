#include "fleet_ctl/fleet_messages.hpp"

#include <fnmatch.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include <memory>

#include "auth/password_hash.hpp"
#include "core/json_writer.hpp"

namespace ib::fleet_ctl {

namespace {

std::string_view text_or(simdjson::dom::element e, const char* key, std::string_view fallback = {}) {
    std::string_view v;
    return e[key].get(v) == simdjson::SUCCESS ? v : fallback;
}

std::optional<int64_t> int_of(simdjson::dom::element e, const char* key) {
    int64_t v = 0;
    if (e[key].get(v) == simdjson::SUCCESS) return v;
    uint64_t u = 0;
    if (e[key].get(u) == simdjson::SUCCESS) return static_cast<int64_t>(u);
    return std::nullopt;
}

}  // namespace

std::string default_prefix(std::string_view root, std::string_view site, std::string_view edge) {
    return std::string(root) + "/" + std::string(site) + "/" + std::string(edge) + "/";
}

std::optional<EdgeState> parse_state(std::string_view topic, std::string_view payload) {
    if (!topic.ends_with("state") || payload.empty()) return std::nullopt;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(payload.data(), payload.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
        return std::nullopt;
    }
    EdgeState s;
    s.prefix = std::string(topic.substr(0, topic.size() - 5));
    // The topic's site and edge levels, when the payload does not say.
    std::string_view levels = std::string_view(s.prefix).substr(0, s.prefix.size() - 1);
    const auto edge_at = levels.rfind('/');
    const std::string_view topic_edge = edge_at == std::string_view::npos ? levels : levels.substr(edge_at + 1);
    levels = edge_at == std::string_view::npos ? std::string_view{} : levels.substr(0, edge_at);
    const auto site_at = levels.rfind('/');
    const std::string_view topic_site = site_at == std::string_view::npos ? levels : levels.substr(site_at + 1);
    s.edge = std::string(text_or(doc, "edge", topic_edge));
    s.site = std::string(text_or(doc, "site", topic_site));
    s.seen = true;
    bool online = false;
    if (doc["online"].get(online) == simdjson::SUCCESS) s.online = online;
    s.version = std::string(text_or(doc, "version"));
    s.revision = int_of(doc, "revision").value_or(0);
    s.desired_revision = int_of(doc, "desired_revision");
    s.health = int_of(doc, "health");
    s.ts = int_of(doc, "ts").value_or(0);
    simdjson::dom::object labels;
    if (doc["labels"].get(labels) == simdjson::SUCCESS) {
        for (auto [k, v] : labels) {
            std::string_view value;
            if (v.get(value) == simdjson::SUCCESS) s.labels[std::string(k)] = std::string(value);
        }
    }
    simdjson::dom::element last;
    if (doc["last_apply"].get(last) == simdjson::SUCCESS && last.is_object()) {
        s.last_apply_revision = int_of(last, "revision");
        s.last_apply_result = std::string(text_or(last, "result"));
        s.last_apply_reason = std::string(text_or(last, "reason"));
    }
    return s;
}

bool Progress::final() const { return phase == "done" || phase == "failed" || phase == "rolled_back"; }

std::string Progress::message() const {
    if (!reason.empty()) return reason;
    std::string out;
    for (const auto& e : errors) {
        if (!out.empty()) out += "; ";
        out += e;
    }
    return out;
}

std::optional<Progress> parse_progress(std::string_view payload) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(payload.data(), payload.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
        return std::nullopt;
    }
    Progress p;
    p.phase = std::string(text_or(doc, "phase"));
    if (p.phase.empty()) return std::nullopt;
    std::string_view id;
    if (doc["id"].get(id) == simdjson::SUCCESS) p.id = std::string(id);
    p.revision = int_of(doc, "revision");
    p.code = std::string(text_or(doc, "code"));
    p.reason = std::string(text_or(doc, "reason"));
    simdjson::dom::array errors;
    if (doc["errors"].get(errors) == simdjson::SUCCESS) {
        for (auto e : errors) {
            std::string_view s;
            if (e.get(s) == simdjson::SUCCESS) p.errors.emplace_back(s);
        }
    }
    bool dry = false;
    if (doc["dry_run"].get(dry) == simdjson::SUCCESS) p.dry_run = dry;
    simdjson::dom::element diff;
    if (doc["diff"].get(diff) == simdjson::SUCCESS) p.diff_json = simdjson::minify(diff);
    p.config = std::string(text_or(doc, "config"));
    simdjson::dom::element inspection;
    if (doc["inspection"].get(inspection) == simdjson::SUCCESS) p.inspection_json = simdjson::minify(inspection);
    p.ts = int_of(doc, "ts").value_or(0);
    return p;
}

std::optional<int64_t> revision_of(std::string_view payload) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(payload.data(), payload.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
        return std::nullopt;
    }
    return int_of(doc, "revision");
}

std::string signed_bytes(int64_t revision, std::optional<int64_t> base, std::string_view config) {
    std::string out = "ib-fleet-v1\n" + std::to_string(revision) + "\n" + (base ? std::to_string(*base) : "null") + "\n";
    out += config;
    return out;
}

std::expected<std::string, std::string> sign_ed25519(const std::string& key_pem_path, std::string_view bytes) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(key_pem_path.c_str(), "r"), BIO_free);
    if (!bio) return std::unexpected(key_pem_path + ": cannot read the key");
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
                                                             EVP_PKEY_free);
    if (!key) return std::unexpected(key_pem_path + ": not a PEM private key");
    if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
        return std::unexpected(key_pem_path + ": not an Ed25519 key (openssl genpkey -algorithm ed25519)");
    }
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    unsigned char sig[64];
    std::size_t sig_len = sizeof sig;
    // Ed25519 hashes the message itself: no digest, one-shot.
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), sig, &sig_len, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()) != 1) {
        return std::unexpected(key_pem_path + ": signing failed");
    }
    return auth::base64_encode(sig, sig_len);
}

std::string desired_json(int64_t revision, std::optional<int64_t> base, std::string_view config,
                         std::string_view signature) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("revision", revision).key("base");
    if (base) w.number(*base);
    else w.null();
    w.field("config", config);
    if (!signature.empty()) w.field("signature", signature);
    w.end_object();
    return out;
}

std::string command_json(const Command& c) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("id", c.id).field("op", c.op);
    if (c.op == "dry-run") {
        w.field("revision", c.revision).key("base");
        if (c.base) w.number(*c.base);
        else w.null();
        w.field("config", c.config);
        if (!c.signature.empty()) w.field("signature", c.signature);
    } else if (c.op == "rollback") {
        w.field("to", c.to);
    }
    w.end_object();
    return out;
}

bool glob_match(std::string_view pattern, std::string_view text) {
    return fnmatch(std::string(pattern).c_str(), std::string(text).c_str(), 0) == 0;
}

std::expected<Targets, std::string> Targets::parse(const std::vector<std::string>& patterns) {
    Targets t;
    for (const auto& pattern : patterns) {
        std::vector<Term> all;
        std::string_view rest = pattern;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const std::string_view term = rest.substr(0, comma);
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            if (term.empty()) return std::unexpected("--targets '" + pattern + "': an empty term");
            Term x;
            if (const auto eq = term.find('='); eq != std::string_view::npos) {
                x.label = std::string(term.substr(0, eq));
                x.value_glob = std::string(term.substr(eq + 1));
                if (x.label.empty()) return std::unexpected("--targets '" + pattern + "': a label name is needed before '='");
            } else if (const auto slash = term.find('/'); slash != std::string_view::npos) {
                x.site_glob = std::string(term.substr(0, slash));
                x.edge_glob = std::string(term.substr(slash + 1));
                if (x.edge_glob.find('/') != std::string::npos) {
                    return std::unexpected("--targets '" + pattern + "': a target is site/edge, one '/'");
                }
            } else {
                x.site_glob = "*";
                x.edge_glob = std::string(term);
            }
            all.push_back(std::move(x));
        }
        if (all.empty()) return std::unexpected("--targets: an empty pattern");
        t.any_of_.push_back(std::move(all));
    }
    if (t.any_of_.empty()) return std::unexpected("--targets: give at least one pattern (e.g. '*/*' for every edge)");
    return t;
}

bool Targets::matches(const EdgeState& e) const {
    for (const auto& all : any_of_) {
        bool ok = true;
        for (const auto& term : all) {
            if (!term.label.empty()) {
                auto it = e.labels.find(term.label);
                ok = it != e.labels.end() && glob_match(term.value_glob, it->second);
            } else {
                ok = glob_match(term.site_glob, e.site) && glob_match(term.edge_glob, e.edge);
            }
            if (!ok) break;
        }
        if (ok) return true;
    }
    return false;
}

}  // namespace ib::fleet_ctl
