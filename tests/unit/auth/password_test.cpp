#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "auth/auth.hpp"
#include "auth/password_file.hpp"
#include "auth/password_hash.hpp"

namespace ib::auth {
namespace {

// Unit tests use the minimum count: the format and the check are the same.
constexpr uint32_t kFast = kMinIterations;

std::string temp_path(const char* name) {
    auto dir = std::filesystem::temp_directory_path() / ("ib-auth-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(PasswordHash, RoundTripAndFormat) {
    auto encoded = hash_password("s3cret", kFast);
    ASSERT_TRUE(encoded) << encoded.error();
    EXPECT_TRUE(encoded->starts_with("$pbkdf2-sha512$1000$"));
    auto parsed = parse_password_hash(*encoded);
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_EQ(parsed->iterations, kFast);
    EXPECT_EQ(parsed->salt.size(), 16u);
    EXPECT_EQ(parsed->hash.size(), 64u);
    EXPECT_TRUE(verify_password("s3cret", *parsed));
    EXPECT_FALSE(verify_password("s3creT", *parsed));
    EXPECT_FALSE(verify_password("", *parsed));
    // A new salt every time.
    EXPECT_NE(*encoded, *hash_password("s3cret", kFast));
}

TEST(PasswordHash, DefaultIterationsAreStoredInTheHash) {
    auto encoded = hash_password("pw");
    ASSERT_TRUE(encoded);
    EXPECT_TRUE(encoded->starts_with("$pbkdf2-sha512$210000$")) << *encoded;
}

TEST(PasswordHash, KnownVector) {
    // PBKDF2-HMAC-SHA512("password", "saltsaltsaltsalt", 1000), computed
    // independently with Python's hashlib.pbkdf2_hmac.
    auto parsed = parse_password_hash(
        "$pbkdf2-sha512$1000$c2FsdHNhbHRzYWx0c2FsdA==$"
        "715rqIr5dXOVPpBhqqsugl037zT5bWJTWYmZtIcK8hBnisKpwfY7kokvwjDrNHqHhF50Pb7MD6HvkJwiDQw4ww==");
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_TRUE(verify_password("password", *parsed));
    EXPECT_FALSE(verify_password("passwore", *parsed));
}

TEST(PasswordHash, MalformedHashesAreRefusedWithAReason) {
    for (const char* bad : {"", "plain", "$pbkdf2-sha256$1000$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
                            "$pbkdf2-sha512$x$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
                            "$pbkdf2-sha512$10$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
                            "$pbkdf2-sha512$1000$!!$aGFzaGhhc2hoYXNoaGFzaA==", "$pbkdf2-sha512$1000$c2FsdHNhbHQ="}) {
        auto r = parse_password_hash(bad);
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_FALSE(r.error().empty());
        }
    }
}

TEST(PasswordFile, SetChangeDeleteKeepsOtherLines) {
    std::string path = temp_path("passwd-1");
    std::remove(path.c_str());
    ASSERT_TRUE(update_password_file(path, "alice", *hash_password("a", kFast)));
    ASSERT_TRUE(update_password_file(path, "bob", *hash_password("b", kFast)));
    {
        std::ofstream(path, std::ios::app) << "# a comment\n";
    }
    ASSERT_TRUE(update_password_file(path, "alice", *hash_password("a2", kFast)));
    auto entries = read_password_file(path);
    ASSERT_TRUE(entries) << entries.error();
    ASSERT_EQ(entries->size(), 2u);
    EXPECT_EQ((*entries)[0].user, "alice");
    EXPECT_TRUE(verify_password("a2", *parse_password_hash((*entries)[0].hash)));
    EXPECT_NE(slurp(path).find("# a comment"), std::string::npos);
    ASSERT_TRUE(update_password_file(path, "alice", ""));
    entries = read_password_file(path);
    ASSERT_EQ(entries->size(), 1u);
    EXPECT_EQ((*entries)[0].user, "bob");
    EXPECT_FALSE(update_password_file(path, "alice", ""));  // no longer there
    EXPECT_FALSE(update_password_file(path, "a:b", *hash_password("x", kFast)));
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::others_read,
              std::filesystem::perms::none);
}

TEST(PasswordFile, ErrorsNameFileAndLine) {
    std::string path = temp_path("passwd-2");
    std::ofstream(path) << "alice:" << *hash_password("a", kFast) << "\n\nbob\ncarol:$pbkdf2-sha512$1000$xx\nalice:"
                        << *hash_password("b", kFast) << "\n";
    auto r = read_password_file(path);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find(path + ":3: expected user:"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find(path + ":4: user 'carol'"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find(path + ":5: user 'alice' is already defined on line 1"), std::string::npos) << r.error();
    EXPECT_FALSE(read_password_file(temp_path("missing")));
}

AuthConfig config_with_users() {
    AuthConfig c;
    c.users.push_back(UserConfig{"alice", *hash_password("wonderland", kFast), "", 0});
    c.max_failed_logins = 3;
    return c;
}

TEST(Auth, LoginResults) {
    auto a = Auth::create(config_with_users());
    ASSERT_TRUE(a) << a.error();
    Auth& auth = **a;
    EXPECT_EQ(auth.login("default", true, "alice", "wonderland", "10.0.0.1"), LoginResult::Ok);
    EXPECT_EQ(auth.login("default", true, "alice", "wonder", "10.0.0.1"), LoginResult::BadCredentials);
    EXPECT_EQ(auth.login("default", true, "alice", std::nullopt, "10.0.0.1"), LoginResult::BadCredentials);
    EXPECT_EQ(auth.login("default", true, "mallory", "x", "10.0.0.1"), LoginResult::BadCredentials);
    // Three failures: the address is refused, even with the right password.
    EXPECT_EQ(auth.login("default", true, "alice", "wonderland", "10.0.0.1"), LoginResult::RateLimited);
    EXPECT_EQ(auth.login("default", true, "alice", "wonderland", "10.0.0.2"), LoginResult::Ok);
    EXPECT_EQ(auth.login("default", false, "", std::nullopt, "10.0.0.1"), LoginResult::Anonymous);
}

TEST(Auth, AnonymousPerListener) {
    AuthConfig c = config_with_users();
    c.allow_anonymous = false;
    c.listener_anonymous = {{"open", true}};
    auto a = Auth::create(c);
    ASSERT_TRUE(a);
    EXPECT_EQ((*a)->login("default", false, "", std::nullopt, "::1"), LoginResult::NotAuthorized);
    EXPECT_EQ((*a)->login("open", false, "", std::nullopt, "::1"), LoginResult::Anonymous);
}

TEST(Auth, PlainTextPasswordsNeedTheSwitch) {
    AuthConfig c;
    c.users.push_back(UserConfig{"bob", "", "builder", 0});
    auto refused = Auth::create(c);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("plain-text password is refused"), std::string::npos);
    c.allow_plaintext_passwords = true;
    auto a = Auth::create(c);
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ((*a)->login("default", true, "bob", "builder", "::1"), LoginResult::Ok);
    EXPECT_EQ((*a)->login("default", true, "bob", "builde", "::1"), LoginResult::BadCredentials);
}

TEST(Auth, FailedReloadKeepsTheOldRules) {
    auto a = Auth::create(config_with_users());
    ASSERT_TRUE(a);
    Auth& auth = **a;
    const uint64_t gen = auth.generation();
    AuthConfig bad = config_with_users();
    bad.password_file = temp_path("does-not-exist");
    auto r = auth.reload(bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("does-not-exist"), std::string::npos);
    EXPECT_EQ(auth.generation(), gen);
    EXPECT_EQ(auth.login("default", true, "alice", "wonderland", "::1"), LoginResult::Ok);

    AuthConfig good;
    good.users.push_back(UserConfig{"carol", *hash_password("c", kFast), "", 0});
    good.acl.push_back(AclRuleConfig{AclPermission::Allow, "carol", "", "", false, AclAction::All, {"c/#"}});
    good.acl_default = "deny";
    ASSERT_TRUE(auth.reload(good));
    EXPECT_NE(auth.generation(), gen);
    EXPECT_EQ(auth.login("default", true, "alice", "wonderland", "::2"), LoginResult::BadCredentials);
    EXPECT_EQ(auth.login("default", true, "carol", "c", "::2"), LoginResult::Ok);
    auto acl = auth.compile(ClientIdentity{"carol", "id", "::2"});
    ASSERT_TRUE(acl);
    EXPECT_TRUE(acl->may_publish("c/x"));
    EXPECT_FALSE(acl->may_publish("d/x"));
}

TEST(Auth, NoAclRulesAndDefaultAllowCompileToNothing) {
    auto a = Auth::create(AuthConfig{});
    ASSERT_TRUE(a);
    EXPECT_EQ((*a)->compile(ClientIdentity{"", "c", "::1"}), nullptr);
}

TEST(Auth, HttpBearerAndBasic) {
    AuthConfig c = config_with_users();
    c.api_allow_anonymous = false;
    c.api_tokens = {"tok-123"};
    auto a = Auth::create(c);
    ASSERT_TRUE(a);
    Auth& auth = **a;
    EXPECT_FALSE(auth.http_identity("").has_value());
    EXPECT_TRUE(auth.http_identity("Bearer tok-123").has_value());
    EXPECT_TRUE(auth.http_identity("bearer tok-123").has_value());
    EXPECT_FALSE(auth.http_identity("Bearer tok-12").has_value());
    const std::string good = "alice:wonderland", bad = "alice:x";
    EXPECT_TRUE(auth.http_identity("Basic " + base64_encode(reinterpret_cast<const unsigned char*>(good.data()),
                                                            good.size())));
    EXPECT_FALSE(auth.http_identity("Basic " + base64_encode(reinterpret_cast<const unsigned char*>(bad.data()),
                                                             bad.size())));
    EXPECT_FALSE(auth.http_identity("Basic !!!").has_value());
}

TEST(Auth, HttpFailuresShareTheLoginRateLimit) {
    AuthConfig c = config_with_users();  // three failures allowed
    c.api_allow_anonymous = false;
    c.api_tokens = {"tok"};
    auto a = Auth::create(c);
    ASSERT_TRUE(a);
    Auth& auth = **a;
    const std::string good = "alice:wonderland";
    const std::string basic = "Basic " + base64_encode(reinterpret_cast<const unsigned char*>(good.data()), good.size());
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(auth.http_identity("Bearer guess", "10.9.9.9").has_value());
    EXPECT_FALSE(auth.http_identity(basic, "10.9.9.9").has_value());  // limited now
    EXPECT_TRUE(auth.http_identity(basic, "10.9.9.8").has_value());
    EXPECT_TRUE(auth.http_identity("Bearer tok", "10.9.9.9").has_value());  // a valid token is not
    EXPECT_EQ(auth.login("default", true, "alice", "wonderland", "10.9.9.9"), LoginResult::RateLimited);
    // A console login is limited by the same count, with a password or a token.
    EXPECT_FALSE(auth.api_login("alice", "wonderland", "10.9.9.9"));
    EXPECT_FALSE(auth.api_token_login("tok", "10.9.9.9"));
    EXPECT_TRUE(auth.api_token_login("tok", "10.9.9.8"));
}

TEST(Auth, TokensAndUsersCarryTheirApiRole) {
    AuthConfig c = config_with_users();
    c.users[0].role = Role::Viewer;  // alice
    c.api_tokens = {"plain-old", "operator:op-secret", "viewer:", "nosuchrole:x"};
    EXPECT_FALSE(Auth::create(c));  // "viewer:" gives no secret
    c.api_tokens.erase(c.api_tokens.begin() + 2);
    auto a = Auth::create(c);
    ASSERT_TRUE(a) << a.error();
    Auth& auth = **a;
    auto plain = auth.http_identity("Bearer plain-old");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->role, Role::Admin);
    EXPECT_EQ(plain->user.rfind("token:", 0), 0u);
    EXPECT_EQ(plain->user.size(), 14u);  // a fingerprint, never the secret
    EXPECT_FALSE(auth.http_identity("Bearer operator:op-secret"));
    auto op = auth.http_identity("Bearer op-secret");
    ASSERT_TRUE(op);
    EXPECT_EQ(op->role, Role::Operator);
    // An unknown role name is part of a whole (admin) secret, as before roles.
    EXPECT_EQ(auth.http_identity("Bearer nosuchrole:x")->role, Role::Admin);
    auto alice = auth.api_login("alice", "wonderland", "10.1.1.1");
    ASSERT_TRUE(alice);
    EXPECT_EQ(alice->user, "alice");
    EXPECT_EQ(alice->role, Role::Viewer);
    EXPECT_FALSE(auth.api_login("alice", "nope", "10.1.1.1"));

    // After a reload a session's identity follows the rules in force.
    c.users[0].role = Role::Operator;
    c.api_tokens = {"plain-old"};
    ASSERT_TRUE(auth.reload(c));
    EXPECT_EQ(auth.api_recheck(*alice)->role, Role::Operator);
    EXPECT_EQ(auth.api_recheck(*plain)->role, Role::Admin);
    EXPECT_FALSE(auth.api_recheck(*op));
}

}  // namespace
}  // namespace ib::auth
