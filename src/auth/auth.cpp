#include "auth/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "auth/password_file.hpp"
#include "auth/password_hash.hpp"
#include "core/log.hpp"

namespace ib::auth {
namespace {

using Digest = std::array<unsigned char, 32>;
using SteadyClock = std::chrono::steady_clock;

// Failed logins are logged as one summary line at most this often.
constexpr auto kSummaryInterval = std::chrono::seconds(10);
// Addresses tracked by the rate limit; beyond it expired ones are dropped first.
constexpr std::size_t kMaxTrackedAddresses = 10'000;

Digest sha256(std::string_view a, std::string_view b = {}) {
    Digest d{};
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    EVP_DigestUpdate(ctx, a.data(), a.size());
    EVP_DigestUpdate(ctx, b.data(), b.size());
    EVP_DigestFinal_ex(ctx, d.data(), &len);
    EVP_MD_CTX_free(ctx);
    return d;
}

bool same(const Digest& a, const Digest& b) { return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0; }

std::string token_label(const Digest& d) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "token:";
    for (int i = 0; i < 4; ++i) {
        out += kHex[d[i] >> 4];
        out += kHex[d[i] & 0xF];
    }
    return out;
}

bool iprefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

}  // namespace

std::pair<Role, std::string_view> split_api_token(std::string_view configured) {
    if (auto colon = configured.find(':'); colon != std::string_view::npos) {
        if (auto role = parse_role(configured.substr(0, colon))) return {*role, configured.substr(colon + 1)};
    }
    return {Role::Admin, configured};
}

struct Auth::State {
    AuthConfig config;
    struct User {
        std::string encoded;  // empty for a plain-text password
        PasswordHash hash;
        Digest plain{};  // SHA-256 of the plain-text password
    };
    std::unordered_map<std::string, User> users;
    bool user_database = false;  // users configured at all (possibly none in the file yet)
    bool default_allow = true;
    bool disconnect_on_deny = false;
    struct Token {
        Digest digest;
        Role role;
        std::string label;  // "token:" + 8 hex digits of the digest
    };
    std::vector<Token> tokens;
    std::unordered_map<std::string, Role> roles;  // by user name

    // Users of auth.password_file have no role key: admin, as before roles.
    Role role_of(const std::string& user) const {
        auto r = roles.find(user);
        return r == roles.end() ? Role::Admin : r->second;
    }

    bool anonymous_allowed(std::string_view listener) const {
        for (const auto& [name, allowed] : config.listener_anonymous) {
            if (name == listener) return allowed;
        }
        return config.allow_anonymous;
    }
};

static std::expected<std::shared_ptr<Auth::State>, std::string> build_state(const AuthConfig& config) {
    auto s = std::make_shared<Auth::State>();
    s->config = config;
    std::string problems;
    auto problem = [&](const std::string& p) { problems += (problems.empty() ? "" : "\n") + p; };
    for (std::size_t i = 0; i < config.users.size(); ++i) {
        const UserConfig& u = config.users[i];
        std::string where = "users[" + std::to_string(i) + "] ('" + u.name + "')";
        Auth::State::User user;
        if (!u.password_hash.empty()) {
            auto h = parse_password_hash(u.password_hash);
            if (!h) {
                problem(where + ": password_hash: " + h.error());
                continue;
            }
            user.encoded = u.password_hash;
            user.hash = std::move(*h);
        } else if (!u.password.empty()) {
            if (!config.allow_plaintext_passwords) {
                problem(where + ": a plain-text password is refused; give password_hash (made by "
                                "`ironbridge passwd`) or set auth.allow_plaintext_passwords = true");
                continue;
            }
            user.plain = sha256(u.password);
        } else {
            problem(where + ": give password_hash or password");
            continue;
        }
        if (!s->users.emplace(u.name, std::move(user)).second) problem(where + ": the user is defined twice");
        s->roles[u.name] = u.role;
    }
    if (!config.password_file.empty()) {
        auto entries = read_password_file(config.password_file);
        if (!entries) {
            problem(entries.error());
        } else {
            for (auto& e : *entries) {
                Auth::State::User user;
                user.hash = *parse_password_hash(e.hash);  // checked by read_password_file
                user.encoded = std::move(e.hash);
                if (!s->users.emplace(e.user, std::move(user)).second) {
                    problem(config.password_file + ":" + std::to_string(e.line) + ": user '" + e.user +
                            "' is also defined in [[users]]");
                }
            }
        }
    }
    s->user_database = !config.users.empty() || !config.password_file.empty();
    for (std::size_t i = 0; i < config.acl.size(); ++i) {
        if (std::string why = check_acl_rule(config.acl[i]); !why.empty()) {
            problem("acl[" + std::to_string(i) + "]: " + why);
        }
    }
    if (config.acl_default != "allow" && config.acl_default != "deny") {
        problem("auth.acl_default: '" + config.acl_default + "' is not one of allow, deny");
    }
    if (config.acl_deny_action != "ignore" && config.acl_deny_action != "disconnect") {
        problem("auth.acl_deny_action: '" + config.acl_deny_action + "' is not one of ignore, disconnect");
    }
    s->default_allow = config.acl_default == "allow";
    s->disconnect_on_deny = config.acl_deny_action == "disconnect";
    auto add_token = [&](std::string_view configured, const std::string& where) {
        auto [role, secret] = split_api_token(configured);
        if (secret.empty()) return problem(where + ": the token after '" + std::string(role_name(role)) + ":' is empty");
        const Digest d = sha256(secret);
        s->tokens.push_back(Auth::State::Token{d, role, token_label(d)});
    };
    for (std::size_t i = 0; i < config.api_tokens.size(); ++i) {
        add_token(config.api_tokens[i], "api.tokens[" + std::to_string(i) + "]");
    }
    if (!config.api_token_file.empty()) {
        std::ifstream in(config.api_token_file);
        if (!in) {
            problem(config.api_token_file + ": cannot open: " + std::strerror(errno));
        } else {
            std::string line;
            for (uint32_t n = 1; std::getline(in, line); ++n) {
                std::string_view t = trim(line);
                if (t.empty() || t.front() == '#') continue;
                add_token(t, config.api_token_file + ":" + std::to_string(n));
            }
        }
    }
    if (!problems.empty()) return std::unexpected(problems);
    return s;
}

Auth::Auth(std::shared_ptr<const State> state) : state_(std::move(state)) {}
Auth::~Auth() = default;

std::expected<std::unique_ptr<Auth>, std::string> Auth::create(const AuthConfig& config) {
    auto s = build_state(config);
    if (!s) return std::unexpected(s.error());
    return std::unique_ptr<Auth>(new Auth(std::move(*s)));
}

std::expected<void, std::string> Auth::reload(const AuthConfig& config) {
    auto s = build_state(config);
    if (!s) {
        reloads_failed_.add();
        return std::unexpected(s.error());
    }
    std::lock_guard lock(mutex_);
    state_ = std::move(*s);
    cache_.clear();
    generation_.fetch_add(1, std::memory_order_acq_rel);
    reloads_ok_.add();
    return {};
}

std::shared_ptr<const Auth::State> Auth::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

bool Auth::disconnect_on_deny() const { return state()->disconnect_on_deny; }

bool Auth::verify(const State& s, std::string_view user, std::string_view password) {
    auto it = s.users.find(std::string(user));
    if (it == s.users.end()) {
        // As slow as a wrong password, so the time taken does not tell which
        // user names exist.
        static const PasswordHash dummy{kDefaultIterations, std::vector<unsigned char>(16, 0),
                                        std::vector<unsigned char>(64, 0)};
        (void)verify_password(password, dummy);
        return false;
    }
    const State::User& u = it->second;
    if (u.encoded.empty()) return same(u.plain, sha256(password));
    const std::string_view salt(reinterpret_cast<const char*>(u.hash.salt.data()), u.hash.salt.size());
    const Digest quick = sha256(salt, password);
    {
        std::lock_guard lock(mutex_);
        if (auto c = cache_.find(it->first); c != cache_.end() && c->second.encoded == u.encoded) {
            if (same(c->second.digest, quick)) return true;
        }
    }
    // The slow check runs without the lock: other shards keep connecting meanwhile.
    if (!verify_password(password, u.hash)) return false;
    std::lock_guard lock(mutex_);
    cache_[it->first] = Verified{u.encoded, quick};
    return true;
}

bool Auth::rate_limited(const State& s, const std::string& address, SteadyClock::time_point now) {
    if (s.config.max_failed_logins == 0) return false;
    std::lock_guard lock(mutex_);
    auto it = failures_.find(address);
    if (it == failures_.end()) return false;
    if (now - it->second.first >= s.config.failed_login_window) {
        failures_.erase(it);
        return false;
    }
    return it->second.count >= s.config.max_failed_logins;
}

void Auth::record_failure(const State& s, const std::string& address, std::string_view user, const char* why) {
    const auto now = SteadyClock::now();
    std::lock_guard lock(mutex_);
    if (s.config.max_failed_logins > 0) {
        if (failures_.size() >= kMaxTrackedAddresses && !failures_.contains(address)) {
            std::erase_if(failures_, [&](const auto& kv) { return now - kv.second.first >= s.config.failed_login_window; });
        }
        if (failures_.size() < kMaxTrackedAddresses || failures_.contains(address)) {
            Failures& f = failures_[address];
            if (f.count == 0 || now - f.first >= s.config.failed_login_window) f = Failures{0, now};
            ++f.count;
        }
    }
    ++failures_since_summary_;
    if (now - last_summary_ >= kSummaryInterval) {
        log::warn("auth: {} failed login(s) and {} refused by the rate limit since the last summary; the last from {} "
                  "as '{}': {}",
                  failures_since_summary_, refused_since_summary_, address, user, why);
        failures_since_summary_ = 0;
        refused_since_summary_ = 0;
        last_summary_ = now;
    }
}

LoginResult Auth::login(std::string_view listener, bool has_username, std::string_view username,
                        std::optional<std::string_view> password, std::string_view address) {
    auto s = state();
    const bool anonymous = s->anonymous_allowed(listener);
    // With no user database a user name proves nothing: such a client is treated
    // as anonymous (and %u never names it).
    if (!has_username || (!s->user_database && anonymous)) {
        if (anonymous) {
            logins_anonymous_.add();
            return LoginResult::Anonymous;
        }
        failed_anonymous_.add();
        return LoginResult::NotAuthorized;
    }
    const std::string addr(address);
    if (rate_limited(*s, addr, SteadyClock::now())) {
        failed_rate_limited_.add();
        std::lock_guard lock(mutex_);
        ++refused_since_summary_;
        return LoginResult::RateLimited;
    }
    if (!password || !verify(*s, username, *password)) {
        failed_bad_credentials_.add();
        record_failure(*s, addr, username, password ? "bad user name or password" : "no password");
        return LoginResult::BadCredentials;
    }
    logins_ok_.add();
    return LoginResult::Ok;
}

std::shared_ptr<const ClientAcl> Auth::compile(const ClientIdentity& who) const {
    std::shared_ptr<const State> s;
    uint64_t gen = 0;
    {
        std::lock_guard lock(mutex_);
        s = state_;
        gen = generation_.load(std::memory_order_relaxed);
    }
    if (s->config.acl.empty() && s->default_allow) return nullptr;
    return std::make_shared<const ClientAcl>(s->config.acl, s->default_allow, who, gen);
}

bool Auth::api_anonymous() const { return state()->config.api_allow_anonymous; }

std::optional<ApiIdentity> Auth::check_token(const State& s, std::string_view token) const {
    const Digest d = sha256(trim(token));
    const State::Token* found = nullptr;
    for (const auto& t : s.tokens) {
        if (same(t.digest, d)) found = &t;  // no early exit: constant time per token
    }
    if (found == nullptr) return std::nullopt;
    return ApiIdentity{found->label, found->role};
}

std::optional<ApiIdentity> Auth::check_user(const State& s, std::string_view user, std::string_view password) {
    if (!verify(s, user, password)) return std::nullopt;
    return ApiIdentity{std::string(user), s.role_of(std::string(user))};
}

std::optional<ApiIdentity> Auth::http_identity(std::string_view authorization, std::string_view address) {
    auto s = state();
    authorization = trim(authorization);
    const std::string addr(address);
    if (authorization.empty()) {
        http_denied_.add();  // no credentials at all: not a guess, not counted as a failure
        return std::nullopt;
    }
    std::string_view user = "(token)";
    if (iprefix(authorization, "bearer ")) {
        if (auto who = check_token(*s, authorization.substr(7))) return who;
    } else if (iprefix(authorization, "basic ")) {
        // Passwords can be guessed, tokens (long and random) cannot: only basic
        // auth is refused unchecked from an address with too many failures.
        if (rate_limited(*s, addr, SteadyClock::now())) {
            http_denied_.add();
            failed_rate_limited_.add();
            return std::nullopt;
        }
        auto decoded = base64_decode(trim(authorization.substr(6)));
        if (decoded) {
            std::string_view pair(reinterpret_cast<const char*>(decoded->data()), decoded->size());
            auto colon = pair.find(':');
            if (colon != std::string_view::npos) {
                if (auto who = check_user(*s, pair.substr(0, colon), pair.substr(colon + 1))) return who;
            }
            user = "(basic auth)";
        }
    }
    http_denied_.add();
    record_failure(*s, addr, user, "bad HTTP API credentials");
    return std::nullopt;
}

std::optional<ApiIdentity> Auth::api_login(std::string_view user, std::string_view password, std::string_view address) {
    auto s = state();
    const std::string addr(address);
    if (rate_limited(*s, addr, SteadyClock::now())) {
        failed_rate_limited_.add();
        return std::nullopt;
    }
    if (auto who = check_user(*s, user, password)) return who;
    record_failure(*s, addr, user, "bad API login");
    return std::nullopt;
}

std::optional<ApiIdentity> Auth::api_token_login(std::string_view token, std::string_view address) {
    auto s = state();
    const std::string addr(address);
    if (rate_limited(*s, addr, SteadyClock::now())) {
        failed_rate_limited_.add();
        return std::nullopt;
    }
    if (auto who = check_token(*s, token)) return who;
    record_failure(*s, addr, "(token)", "bad API login token");
    return std::nullopt;
}

std::optional<ApiIdentity> Auth::api_recheck(const ApiIdentity& who) const {
    auto s = state();
    for (const auto& t : s->tokens) {
        if (t.label == who.user) return ApiIdentity{t.label, t.role};
    }
    if (!s->users.contains(who.user)) return std::nullopt;
    return ApiIdentity{who.user, s->role_of(who.user)};
}

std::vector<ApiPrincipal> Auth::api_principals() const {
    auto s = state();
    std::vector<ApiPrincipal> out;
    for (const auto& [name, user] : s->users) out.push_back({name, s->role_of(name), false});
    std::sort(out.begin(), out.end(), [](const ApiPrincipal& a, const ApiPrincipal& b) { return a.name < b.name; });
    for (const auto& t : s->tokens) out.push_back({t.label, t.role, true});
    return out;
}

void Auth::collect_metrics(MetricSink& sink) const {
    auto add = [&](const char* name, const char* help, MetricType type, std::string labels, uint64_t v) {
        sink.push_back(MetricSample{name, help, type, std::move(labels), static_cast<double>(v)});
    };
    const auto K = MetricType::Counter;
    add("ib_auth_logins_total", "MQTT logins accepted", K, "result=\"authenticated\"", logins_ok_.get());
    add("ib_auth_logins_total", "MQTT logins accepted", K, "result=\"anonymous\"", logins_anonymous_.get());
    const char* failed = "MQTT logins refused, by reason";
    add("ib_auth_login_failures_total", failed, K, "reason=\"bad_credentials\"", failed_bad_credentials_.get());
    add("ib_auth_login_failures_total", failed, K, "reason=\"anonymous_refused\"", failed_anonymous_.get());
    add("ib_auth_login_failures_total", failed, K, "reason=\"rate_limited\"", failed_rate_limited_.get());
    add("ib_auth_acl_denied_total", "PUBLISH and SUBSCRIBE refused by the ACL", K, "action=\"publish\"",
        publish_denied_.get());
    add("ib_auth_acl_denied_total", "PUBLISH and SUBSCRIBE refused by the ACL", K, "action=\"subscribe\"",
        subscribe_denied_.get());
    add("ib_auth_http_refused_total", "HTTP API requests refused for missing or wrong credentials", K, "",
        http_denied_.get());
    add("ib_auth_reloads_total", "Reloads of users and ACL", K, "result=\"ok\"", reloads_ok_.get());
    add("ib_auth_reloads_total", "Reloads of users and ACL", K, "result=\"failed\"", reloads_failed_.get());
    auto s = state();
    add("ib_auth_users", "Users known (config and password file)", MetricType::Gauge, "", s->users.size());
    add("ib_auth_acl_rules", "ACL rules", MetricType::Gauge, "", s->config.acl.size());
}

}  // namespace ib::auth
