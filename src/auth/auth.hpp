// Who may connect and what they may touch, shared by every broker shard and the
// HTTP API: the users (config and password file), the ACL, the per-address limit
// on failed logins, and the API's tokens. The rules are an immutable snapshot
// swapped whole by reload(), so a reload that fails keeps the old one and a
// CONNECT never sees half of each. Thread-safe; no Asio, no OpenSSL here.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/acl.hpp"
#include "auth/auth_config.hpp"
#include "core/metrics.hpp"

namespace ib::auth {

enum class LoginResult : uint8_t {
    Ok,              // the password matched a user
    Anonymous,       // no user name (or no user database), and anonymous clients are allowed
    BadCredentials,  // unknown user, wrong or missing password: 5.0 0x86, 3.1.1 4
    NotAuthorized,   // anonymous refused: 5.0 0x87, 3.1.1 5
    RateLimited,     // too many failures from this address lately: 0x87 / 5, not checked
};

// Who an HTTP API request acts as, once its credentials are checked.
struct ApiIdentity {
    // A user name, or for a token "token:" and the first 8 hex digits of the
    // token's SHA-256: names the token in the audit log without revealing it.
    std::string user;
    Role role = Role::Admin;
};

// Who may use the HTTP API, as an admin's listing shows them: a user by name,
// a token by its label (ApiIdentity::user), never by its secret.
struct ApiPrincipal {
    std::string name;
    Role role = Role::Admin;
    bool token = false;
};

// A configured API token: "operator:<secret>" gives the role named before the
// first ':' (viewer, operator, admin); anything else is a whole secret with
// the admin role, as every token was before roles.
std::pair<Role, std::string_view> split_api_token(std::string_view configured);

class Auth {
public:
    struct State;  // the immutable snapshot of the rules; defined in the .cpp
    // Reads the password and token files; the error names file, line and problem.
    static std::expected<std::unique_ptr<Auth>, std::string> create(const AuthConfig& config);
    ~Auth();

    // Swaps in new rules, or keeps the old ones and says why. Connections compiled
    // with the old rules see generation() move and compile again (ClientAcl).
    std::expected<void, std::string> reload(const AuthConfig& config);
    uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    // Counts a reload refused before it got here (the config file did not load).
    void count_refused_reload() { reloads_failed_.add(); }

    // `username` empty and `has_username` false for a client that sent none.
    // Counts and rate-limits failures by `address` (an IP literal).
    LoginResult login(std::string_view listener, bool has_username, std::string_view username,
                      std::optional<std::string_view> password, std::string_view address);

    // The client's rules; null when there are none to check (no [[acl]] and a
    // default of allow), so the publish path costs one pointer test.
    std::shared_ptr<const ClientAcl> compile(const ClientIdentity& who) const;
    bool disconnect_on_deny() const;

    // The HTTP API. Whether a request without credentials acts as an admin.
    bool api_anonymous() const;
    // Who a request with this Authorization header value is ("Bearer <token>"
    // or "Basic <base64 user:password>"); none for wrong or missing credentials.
    // Failures count towards the same per-address limit as MQTT logins, which
    // refuses basic auth (a password can be guessed) but not a valid token.
    std::optional<ApiIdentity> http_identity(std::string_view authorization, std::string_view address = {});
    // A console login with a user and password, or with a token: both are
    // refused unchecked from an address over the failed-login limit.
    std::optional<ApiIdentity> api_login(std::string_view user, std::string_view password, std::string_view address);
    std::optional<ApiIdentity> api_token_login(std::string_view token, std::string_view address);
    // The identity as the rules in force give it, for a session opened before a
    // reload: the user's role may have changed, the user or token may be gone.
    std::optional<ApiIdentity> api_recheck(const ApiIdentity& who) const;
    // The users (by name) and then the tokens (in configured order), as the rules in force give them.
    std::vector<ApiPrincipal> api_principals() const;
    // A request refused for having no credentials at all (anonymous access off).
    void count_http_refused() { http_denied_.add(); }

    // Denials, counted by the broker as they happen.
    void count_publish_denied() { publish_denied_.add(); }
    void count_subscribe_denied() { subscribe_denied_.add(); }
    void collect_metrics(MetricSink& sink) const;

private:
    explicit Auth(std::shared_ptr<const State> state);
    std::shared_ptr<const State> state() const;
    bool verify(const State& s, std::string_view user, std::string_view password);
    std::optional<ApiIdentity> check_token(const State& s, std::string_view token) const;
    std::optional<ApiIdentity> check_user(const State& s, std::string_view user, std::string_view password);
    bool rate_limited(const State& s, const std::string& address, std::chrono::steady_clock::time_point now);
    void record_failure(const State& s, const std::string& address, std::string_view user, const char* why);

    mutable std::mutex mutex_;  // guards state_, failures_, cache_ and the summary
    std::shared_ptr<const State> state_;
    std::atomic<uint64_t> generation_{1};

    struct Failures {
        uint32_t count = 0;
        std::chrono::steady_clock::time_point first{};
    };
    std::unordered_map<std::string, Failures> failures_;
    // A password that passed PBKDF2 once, as SHA-256(salt, password), by user: a
    // reconnecting client costs one fast hash, not 210,000 rounds on an event loop.
    struct Verified {
        std::string encoded;
        std::array<unsigned char, 32> digest{};
    };
    std::unordered_map<std::string, Verified> cache_;
    std::chrono::steady_clock::time_point last_summary_{};
    uint64_t failures_since_summary_ = 0;
    uint64_t refused_since_summary_ = 0;

    SharedCounter logins_ok_, logins_anonymous_, failed_bad_credentials_, failed_anonymous_, failed_rate_limited_;
    SharedCounter publish_denied_, subscribe_denied_, http_denied_, reloads_ok_, reloads_failed_;
};

}  // namespace ib::auth
