// Authorization: the ordered [[acl]] list, first match wins. Rules are compiled
// once per connection at CONNECT (who is checked then, and %u / %c are
// substituted), so a PUBLISH is checked by walking a few filters on string_view
// with no allocation. It knows nothing of sockets or sessions.
//
// How a rule matches:
//  - PUBLISH to topic T: the first rule whose action includes publish and one of
//    whose filters matches T (MQTT filter matching, so "#" does not match "$SYS/x").
//  - SUBSCRIBE to filter S ("$share/g/S" is checked as S): allowed only if every
//    topic S can match is allowed. Walking the rules in order, an allow rule with a
//    filter F that contains S (every topic matched by S is matched by F) allows it;
//    a deny rule with a filter that overlaps S (some topic matches both) denies it;
//    an allow rule that only overlaps S does not decide. When nothing decides, the
//    default applies (sound for "allow" too: any deny overlapping S came first and
//    decided). So "#" from a user allowed only "tenant/%u/#" falls to the default,
//    and with a default of deny it never reaches another tenant's messages. A
//    subscription covered only by a union of allow rules is denied: conservative.
//  - A placeholder whose value is missing (%u for an anonymous client) or holds a
//    '+', '#' or '/' is not substituted: in an allow rule that filter matches
//    nothing, in a deny rule it matches everything ("#"), so a crafted name can
//    never widen what a client may touch.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_config.hpp"

namespace ib::auth {

// Topic filter relations used by the ACL (wildcards per MQTT §4.7).
bool acl_topic_matches(std::string_view filter, std::string_view topic);
// Every topic matched by `inner` is matched by `outer`.
bool acl_filter_contains(std::string_view outer, std::string_view inner);
// Some topic is matched by both.
bool acl_filters_overlap(std::string_view a, std::string_view b);

// An IP address or network, "192.168.1.0/24", "::1". IPv4 is kept as IPv4-mapped IPv6.
struct IpNetwork {
    std::array<unsigned char, 16> addr{};
    uint8_t prefix = 128;
    static std::expected<IpNetwork, std::string> parse(std::string_view text);
    bool contains(const std::array<unsigned char, 16>& ip) const;
};
// An address as the socket reports it; false if it is not an IP literal.
bool parse_ip(std::string_view text, std::array<unsigned char, 16>& out);

// Checks one rule's fields beyond their types; "" when fine.
std::string check_acl_rule(const AclRuleConfig& rule);

// Who is connecting. `username` is empty unless the client authenticated.
struct ClientIdentity {
    std::string_view username;
    std::string_view client_id;
    std::string_view address;  // IP literal, without port
};

// The rules that apply to one client, with placeholders substituted.
class ClientAcl {
public:
    ClientAcl(const std::vector<AclRuleConfig>& rules, bool default_allow, const ClientIdentity& who,
              uint64_t generation);

    bool may_publish(std::string_view topic) const;
    // `filter` is a plain filter: take "$share/group/" off first.
    bool may_subscribe(std::string_view filter) const;
    // The Auth generation this was compiled from; a reload makes it stale.
    uint64_t generation() const { return generation_; }

private:
    struct Rule {
        bool allow = true;
        uint8_t actions = 0;
        std::vector<std::string> filters;
    };
    std::vector<Rule> rules_;
    bool default_allow_ = true;
    uint64_t generation_ = 0;
};

}  // namespace ib::auth
