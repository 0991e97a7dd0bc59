// Typed settings of authentication and authorization, filled by the config
// module from [auth], [[users]], [[acl]] and the api.* credential keys. Plain
// data: no OpenSSL, no files read here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "auth/role.hpp"

namespace ib::auth {

struct UserConfig {
    std::string name;
    // "$pbkdf2-sha512$<iterations>$<salt b64>$<hash b64>" (see password_hash.hpp).
    std::string password_hash;
    // Plain text, only accepted with auth.allow_plaintext_passwords = true.
    std::string password;
    // Line of the password key in the config file, for the loader's cross-field check.
    uint32_t password_line = 0;
    // What the user may do through the HTTP API (basic auth or a console
    // session). Admin by default, as every API user could before roles existed.
    Role role = Role::Admin;
};

enum class AclPermission : uint8_t { Allow, Deny };
// A bit set: All = Publish | Subscribe.
enum class AclAction : uint8_t { Publish = 1, Subscribe = 2, All = 3 };

struct AclRuleConfig {
    AclPermission permission = AclPermission::Allow;
    // Who the rule applies to; every field given must match (empty: not checked).
    std::string username;
    std::string clientid;
    std::string address;  // an IP address or a network in CIDR form, "10.0.0.0/8"
    bool all = false;     // applies to everyone (then no other "who" field is given)
    AclAction action = AclAction::All;
    // Topic filters; "%u" and "%c" stand for the user name and the client id.
    std::vector<std::string> topics;
};

struct AuthConfig {
    // Whether clients may connect without a user name: the broker's default and
    // each listener's override, by listener name (filled by the app).
    bool allow_anonymous = true;
    std::vector<std::pair<std::string, bool>> listener_anonymous;

    bool allow_plaintext_passwords = false;
    std::vector<UserConfig> users;
    // Lines "user:$pbkdf2-sha512$...", written by `ironbridge passwd`; "" for none.
    std::string password_file;

    std::vector<AclRuleConfig> acl;
    std::string acl_default = "allow";        // "allow" | "deny"
    std::string acl_deny_action = "ignore";   // "ignore" | "disconnect"

    // After this many failed logins from one address within the window, the
    // address is refused without a password check until the window has passed.
    uint32_t max_failed_logins = 5;  // 0: no limit
    std::chrono::seconds failed_login_window{60};

    // HTTP API credentials. A token is "<role>:<secret>" (role viewer, operator
    // or admin) or a bare secret, which is an admin token (split_api_token).
    bool api_allow_anonymous = true;
    std::vector<std::string> api_tokens;
    std::string api_token_file;  // one token per line; "" for none
};

}  // namespace ib::auth
