// The API's roles, in order: each may do what the ones below it may. Given to
// users and API tokens (auth_config.hpp), required by routes (api/access.hpp).
// Plain data, shared by auth, the API and the config loader.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ib::auth {

enum class Role : uint8_t {
    Viewer = 1,    // reads
    Operator = 2,  // also writes to devices, starts and stops rules, publishes test messages
    Admin = 3,     // everything
};

inline bool role_allows(Role held, Role needed) { return static_cast<uint8_t>(held) >= static_cast<uint8_t>(needed); }

inline std::string_view role_name(Role r) {
    switch (r) {
        case Role::Viewer: return "viewer";
        case Role::Operator: return "operator";
        case Role::Admin: return "admin";
    }
    return "viewer";
}

inline std::optional<Role> parse_role(std::string_view s) {
    if (s == "viewer") return Role::Viewer;
    if (s == "operator") return Role::Operator;
    if (s == "admin") return Role::Admin;
    return std::nullopt;
}

}  // namespace ib::auth
