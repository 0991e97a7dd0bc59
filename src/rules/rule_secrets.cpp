#include "rules/rule_secrets.hpp"

#include "config/table_fields.hpp"
#include "core/credential_names.hpp"
#include "rules/rule_settings.hpp"

namespace ib::rules {
namespace {

using config::fields::kSecretMask;
using Spans = std::vector<std::pair<std::size_t, std::size_t>>;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// key = value pairs (libpq "Keyword/Value Connection Strings"): a value is
// single-quoted (\' and \\ escaped) or runs to the next white space.
void key_value_spans(std::string_view s, Spans& out) {
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && is_space(s[i])) ++i;
        const std::size_t key_start = i;
        while (i < s.size() && s[i] != '=' && !is_space(s[i])) ++i;
        const std::string_view key = s.substr(key_start, i - key_start);
        while (i < s.size() && is_space(s[i])) ++i;
        if (i >= s.size() || s[i] != '=') return;  // not a connection string libpq takes
        ++i;
        while (i < s.size() && is_space(s[i])) ++i;
        const std::size_t value_start = i;
        if (i < s.size() && s[i] == '\'') {
            for (++i; i < s.size() && s[i] != '\''; ++i) {
                if (s[i] == '\\') ++i;
            }
            if (i < s.size()) ++i;
        } else {
            for (; i < s.size() && !is_space(s[i]); ++i) {
                if (s[i] == '\\') ++i;
            }
        }
        i = std::min(i, s.size());
        if (key == "password") out.emplace_back(value_start, i - value_start);
    }
}

// postgresql://user:password@host:port/db?param=value&...
void uri_spans(std::string_view s, std::size_t scheme_end, Spans& out) {
    const std::size_t authority_end = std::min(s.find_first_of("/?", scheme_end), s.size());
    const std::size_t at = s.rfind('@', authority_end);
    if (at != std::string_view::npos && at >= scheme_end) {
        const std::size_t colon = s.find(':', scheme_end);
        if (colon != std::string_view::npos && colon < at) out.emplace_back(colon + 1, at - colon - 1);
    }
    std::size_t q = s.find('?', scheme_end);
    while (q != std::string_view::npos && q < s.size()) {
        const std::size_t start = q + 1;
        const std::size_t end = std::min(s.find('&', start), s.size());
        const std::string_view param = s.substr(start, end - start);
        if (param.starts_with("password=")) out.emplace_back(start + 9, end - start - 9);
        q = end < s.size() ? end : std::string_view::npos;
    }
}

std::string replace_spans(std::string_view s, const Spans& spans, const std::vector<std::string_view>& with) {
    std::string out;
    std::size_t at = 0;
    for (std::size_t i = 0; i < spans.size(); ++i) {
        out.append(s.substr(at, spans[i].first - at));
        out.append(with[i]);
        at = spans[i].first + spans[i].second;
    }
    out.append(s.substr(at));
    return out;
}

std::string masked_dsn(const std::string& dsn) {
    Spans spans = dsn_password_spans(dsn);
    std::erase_if(spans, [](const auto& sp) { return sp.second == 0; });
    if (spans.empty()) return dsn;
    return replace_spans(dsn, spans, std::vector<std::string_view>(spans.size(), kSecretMask));
}

// A dsn sent back with its passwords still masked takes the passwords in force.
void keep_dsn_passwords(std::string& edited, const std::string& in_force) {
    const Spans mine = dsn_password_spans(edited);
    const Spans theirs = dsn_password_spans(in_force);
    if (mine.empty() || mine.size() != theirs.size()) return;
    std::vector<std::string_view> with;
    for (std::size_t i = 0; i < mine.size(); ++i) {
        const std::string_view value = std::string_view(edited).substr(mine[i].first, mine[i].second);
        with.push_back(value == kSecretMask ? std::string_view(in_force).substr(theirs[i].first, theirs[i].second) : value);
    }
    edited = replace_spans(edited, mine, with);
}

// "Name: value" → the name, trimmed.
std::string_view header_name(std::string_view line) {
    std::string_view name = line.substr(0, line.find(':'));
    while (!name.empty() && is_space(name.back())) name.remove_suffix(1);
    return name;
}

std::string_view header_value(std::string_view line) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return {};
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && is_space(v.front())) v.remove_prefix(1);
    return v;
}

}  // namespace

Spans dsn_password_spans(std::string_view dsn) {
    Spans out;
    for (std::string_view scheme : {"postgresql://", "postgres://"}) {
        if (dsn.starts_with(scheme)) {
            uri_spans(dsn, scheme.size(), out);
            return out;
        }
    }
    key_value_spans(dsn, out);
    return out;
}

RuleConfig with_secrets_masked(const RuleConfig& rule) {
    RuleConfig out = rule;
    for (ActionConfig& a : out.actions) {
        if (a.kind == ActionKind::Postgres) a.postgres.dsn = masked_dsn(a.postgres.dsn);
        for (std::string& h : a.call.headers) {
            if (names_a_credential(header_name(h)) && !header_value(h).empty()) {
                h = std::string(header_name(h)) + ": " + std::string(kSecretMask);
            }
        }
    }
    return out;
}

void keep_masked_secrets(RuleConfig& edited, const RuleConfig& in_force) {
    for (std::size_t i = 0; i < edited.actions.size() && i < in_force.actions.size(); ++i) {
        ActionConfig& a = edited.actions[i];
        const ActionConfig& old = in_force.actions[i];
        if (a.kind != old.kind) continue;
        if (a.kind == ActionKind::Postgres) keep_dsn_passwords(a.postgres.dsn, old.postgres.dsn);
        for (std::string& h : a.call.headers) {
            if (header_value(h) != kSecretMask) continue;
            for (const std::string& was : old.call.headers) {
                if (header_name(was) == header_name(h)) h = was;
            }
        }
    }
}

}  // namespace ib::rules
