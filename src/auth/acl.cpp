#include "auth/acl.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace ib::auth {
namespace {

// One level at a time; "" has one empty level and "a/" has "a" and "".
struct Levels {
    std::string_view rest;
    bool done = false;
    std::string_view next() {
        auto slash = rest.find('/');
        std::string_view level = rest.substr(0, slash);
        if (slash == std::string_view::npos) {
            rest = {};
            done = true;
        } else {
            rest.remove_prefix(slash + 1);
        }
        return level;
    }
    // The next level without taking it.
    std::string_view peek() const { return rest.substr(0, rest.find('/')); }
};

bool starts_with_wildcard(std::string_view f) { return !f.empty() && (f[0] == '+' || f[0] == '#'); }
bool starts_with_dollar(std::string_view f) { return !f.empty() && f[0] == '$'; }

// A filter as §4.7.1 allows it: not empty, '#' alone in the last level, '+'
// alone in its level, no U+0000.
bool filter_valid(std::string_view f) {
    if (f.empty() || f.find('\0') != std::string_view::npos) return false;
    Levels l{f};
    while (!l.done) {
        std::string_view level = l.next();
        if (level.find_first_of("+#") == std::string_view::npos) continue;
        if (level.size() != 1) return false;
        if (level == "#" && !l.done) return false;
    }
    return true;
}

// Replaces %u and %c; false when a value is missing or could widen the filter.
bool substitute(std::string_view pattern, const ClientIdentity& who, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] != '%' || i + 1 >= pattern.size()) {
            out += pattern[i];
            continue;
        }
        std::string_view value = pattern[i + 1] == 'u' ? who.username : who.client_id;
        // A name holding a wildcard or a separator would turn one level into many
        // (a user "a/#" would own every tenant's topics): refused, not escaped.
        if (value.empty() || value.find_first_of("+#/") != std::string_view::npos ||
            value.find('\0') != std::string_view::npos) {
            return false;
        }
        out += value;
        ++i;
    }
    return true;
}

}  // namespace

bool acl_topic_matches(std::string_view filter, std::string_view topic) {
    // [MQTT-4.7.2-1] A filter starting with a wildcard does not match '$' topics.
    if (starts_with_dollar(topic) && starts_with_wildcard(filter)) return false;
    Levels f{filter}, t{topic};
    while (!f.done) {
        std::string_view fl = f.next();
        if (fl == "#") return true;  // the parent level too: "a/#" matches "a"
        if (t.done) return false;
        std::string_view tl = t.next();
        if (fl != "+" && fl != tl) return false;
    }
    return t.done;
}

bool acl_filter_contains(std::string_view outer, std::string_view inner) {
    // Topics of a '$' filter are never matched by a leading wildcard; an inner
    // filter that starts with a wildcard has no '$' topics to worry about.
    if (starts_with_dollar(inner) && starts_with_wildcard(outer)) return false;
    Levels o{outer}, i{inner};
    while (!o.done) {
        std::string_view ol = o.next();
        if (ol == "#") return true;
        if (i.done) return false;  // inner's topics end where outer wants more
        std::string_view il = i.next();
        if (il == "#") return false;  // inner goes any depth, outer does not
        if (ol == "+") continue;
        if (il == "+" || il != ol) return false;
    }
    // Outer ends here; inner must too ("a" does not contain "a/#", which matches "a/x").
    return i.done;
}

bool acl_filters_overlap(std::string_view a, std::string_view b) {
    if ((starts_with_dollar(a) && starts_with_wildcard(b)) || (starts_with_dollar(b) && starts_with_wildcard(a))) {
        return false;
    }
    Levels x{a}, y{b};
    while (true) {
        if (x.done && y.done) return true;
        // One has ended: they share that topic only if the other goes on with '#'.
        if (x.done) return y.peek() == "#" && y.rest.size() == 1;
        if (y.done) return x.peek() == "#" && x.rest.size() == 1;
        std::string_view xl = x.next(), yl = y.next();
        if (xl == "#" || yl == "#") return true;
        if (xl == "+" || yl == "+") continue;
        if (xl != yl) return false;
    }
}

bool parse_ip(std::string_view text, std::array<unsigned char, 16>& out) {
    std::string s(text);
    unsigned char v4[4];
    if (inet_pton(AF_INET, s.c_str(), v4) == 1) {
        out.fill(0);
        out[10] = out[11] = 0xff;
        std::memcpy(out.data() + 12, v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, s.c_str(), out.data()) == 1;
}

std::expected<IpNetwork, std::string> IpNetwork::parse(std::string_view text) {
    IpNetwork n;
    std::string_view ip = text;
    int prefix = -1;
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
        ip = text.substr(0, slash);
        std::string_view p = text.substr(slash + 1);
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (ec != std::errc{} || end != p.data() + p.size() || prefix < 0) {
            return std::unexpected("'" + std::string(text) + "': the prefix length is not a number");
        }
    }
    if (!parse_ip(ip, n.addr)) {
        return std::unexpected("'" + std::string(text) + "' is not an IP address or a network such as 10.0.0.0/8");
    }
    const bool v4 = ip.find(':') == std::string_view::npos;
    const int max = v4 ? 32 : 128;
    if (prefix > max) {
        return std::unexpected("'" + std::string(text) + "': the prefix length is above " + std::to_string(max));
    }
    n.prefix = static_cast<uint8_t>(prefix < 0 ? 128 : (v4 ? prefix + 96 : prefix));
    return n;
}

bool IpNetwork::contains(const std::array<unsigned char, 16>& ip) const {
    int bits = prefix;
    for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
        if ((ip[i] & mask) != (addr[i] & mask)) return false;
    }
    return true;
}

std::string check_acl_rule(const AclRuleConfig& rule) {
    const bool who = !rule.username.empty() || !rule.clientid.empty() || !rule.address.empty();
    if (rule.all && who) return "all = true applies to everyone: give it without username, clientid or address";
    if (!rule.all && !who) return "say who the rule is for: username, clientid, address, or all = true";
    if (!rule.address.empty()) {
        if (auto n = IpNetwork::parse(rule.address); !n) return "address: " + n.error();
    }
    if (rule.topics.empty()) return "topics: give at least one topic filter";
    for (const auto& t : rule.topics) {
        std::string probe;
        for (std::size_t i = 0; i < t.size(); ++i) {
            if (t[i] != '%') {
                probe += t[i];
                continue;
            }
            if (i + 1 < t.size() && (t[i + 1] == 'u' || t[i + 1] == 'c')) {
                probe += 'x';
                ++i;
                continue;
            }
            return "topics: '" + t + "': '%' starts a placeholder, and only %u (user name) and %c (client id) exist";
        }
        if (!filter_valid(probe)) return "topics: '" + t + "' is not a valid MQTT topic filter";
    }
    return {};
}

ClientAcl::ClientAcl(const std::vector<AclRuleConfig>& rules, bool default_allow, const ClientIdentity& who,
                     uint64_t generation)
    : default_allow_(default_allow), generation_(generation) {
    std::array<unsigned char, 16> ip{};
    const bool have_ip = parse_ip(who.address, ip);
    std::string filter;
    for (const auto& r : rules) {
        if (!r.all) {
            if (!r.username.empty() && r.username != who.username) continue;
            if (!r.clientid.empty() && r.clientid != who.client_id) continue;
            if (!r.address.empty()) {
                auto net = IpNetwork::parse(r.address);  // checked by the loader
                if (!net || !have_ip || !net->contains(ip)) continue;
            }
        }
        Rule out;
        out.allow = r.permission == AclPermission::Allow;
        out.actions = static_cast<uint8_t>(r.action);
        for (const auto& t : r.topics) {
            if (substitute(t, who, filter)) {
                out.filters.push_back(filter);
            } else if (!out.allow) {
                out.filters.emplace_back("#");  // deny what cannot be named: fails closed
            }
        }
        if (!out.filters.empty()) rules_.push_back(std::move(out));
    }
}

bool ClientAcl::may_publish(std::string_view topic) const {
    for (const Rule& r : rules_) {
        if ((r.actions & static_cast<uint8_t>(AclAction::Publish)) == 0) continue;
        for (const auto& f : r.filters) {
            if (acl_topic_matches(f, topic)) return r.allow;
        }
    }
    return default_allow_;
}

bool ClientAcl::may_subscribe(std::string_view filter) const {
    for (const Rule& r : rules_) {
        if ((r.actions & static_cast<uint8_t>(AclAction::Subscribe)) == 0) continue;
        for (const auto& f : r.filters) {
            if (r.allow ? acl_filter_contains(f, filter) : acl_filters_overlap(f, filter)) return r.allow;
        }
    }
    return default_allow_;
}

}  // namespace ib::auth
