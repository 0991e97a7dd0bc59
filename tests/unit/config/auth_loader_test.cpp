// [auth], [[users]], [[acl]] and the API credential keys: what loads, and that
// every refusal names the line and the key.
#include <gtest/gtest.h>

#include <string>

#include "auth/password_hash.hpp"
#include "config/loader.hpp"

namespace ib::config {
namespace {

std::string error_of(std::string_view toml) {
    auto r = load_config_string(toml, "ironbridge.toml");
    EXPECT_FALSE(r.has_value()) << "expected an error for:\n" << toml;
    return r.has_value() ? std::string() : r.error();
}

NodeConfig load_ok(std::string_view toml) {
    auto r = load_config_string(toml, "ironbridge.toml");
    EXPECT_TRUE(r.has_value()) << (r.has_value() ? "" : r.error());
    return r.value_or(NodeConfig{});
}

TEST(AuthConfig, UsersAclAndApiCredentialsLoad) {
    const std::string hash = *auth::hash_password("pw", auth::kMinIterations);
    NodeConfig c = load_ok(R"(
[broker]
allow_anonymous = false

[[broker.listeners]]
name = "open"
port = 1884
allow_anonymous = true

[[broker.listeners]]
name = "closed"
port = 1885

[api]
allow_anonymous = false
tokens = ["t1", "t2"]

[auth]
acl_default = "deny"
acl_deny_action = "disconnect"
max_failed_logins = 3

[[users]]
name = "alice"
password_hash = ")" + hash + R"("

[[acl]]
permission = "deny"
address = "10.0.0.0/8"
action = "publish"
topics = ["cmd/#"]

[[acl]]
permission = "allow"
all = true
topics = ["tenant/%u/#", "dev/%c/+"]
)");
    ASSERT_EQ(c.broker.listeners.size(), 2u);
    EXPECT_EQ(c.broker.listeners[0].allow_anonymous, true);
    EXPECT_EQ(c.broker.listeners[1].allow_anonymous, std::nullopt);
    EXPECT_FALSE(c.auth.api_allow_anonymous);
    EXPECT_EQ(c.auth.api_tokens, (std::vector<std::string>{"t1", "t2"}));
    EXPECT_EQ(c.auth.acl_default, "deny");
    EXPECT_EQ(c.auth.acl_deny_action, "disconnect");
    EXPECT_EQ(c.auth.max_failed_logins, 3u);
    ASSERT_EQ(c.auth.users.size(), 1u);
    EXPECT_EQ(c.auth.users[0].password_hash, hash);
    ASSERT_EQ(c.auth.acl.size(), 2u);
    EXPECT_EQ(c.auth.acl[0].permission, auth::AclPermission::Deny);
    EXPECT_EQ(c.auth.acl[0].action, auth::AclAction::Publish);
    EXPECT_EQ(c.auth.acl[1].topics.size(), 2u);
    EXPECT_TRUE(c.auth.acl[1].all);
}

TEST(AuthConfig, PlainTextPasswordIsRefusedUnlessAllowed) {
    const char* doc = R"([[users]]
name = "bob"
password = "builder"
)";
    std::string e = error_of(doc);
    EXPECT_NE(e.find("ironbridge.toml:3: users[0].password: a plain-text password is refused"), std::string::npos)
        << e;
    NodeConfig c = load_ok(std::string(doc) + "\n[auth]\nallow_plaintext_passwords = true\n");
    EXPECT_EQ(c.auth.users[0].password, "builder");
}

TEST(AuthConfig, UserErrorsNameLineAndKey) {
    EXPECT_NE(error_of("[[users]]\nname = \"a\"\npassword_hash = \"nope\"\n")
                  .find("ironbridge.toml:3: users[0].password_hash: not a password hash"),
              std::string::npos);
    EXPECT_NE(error_of("[[users]]\nname = \"a\"\n").find("ironbridge.toml:1: users[0]: give exactly one of"),
              std::string::npos);
    EXPECT_NE(error_of("[[users]]\nname = \"a:b\"\npassword_hash = \"x\"\n").find("users[0].name:"),
              std::string::npos);
    const std::string hash = *auth::hash_password("pw", auth::kMinIterations);
    std::string twice = "[[users]]\nname = \"a\"\npassword_hash = \"" + hash + "\"\n[[users]]\nname = \"a\"\npassword_hash = \"" +
                        hash + "\"\n";
    EXPECT_NE(error_of(twice).find("users[1].name: \"a\" is already the name of another user"), std::string::npos);
}

TEST(AuthConfig, AclErrorsNameLineAndKey) {
    EXPECT_NE(error_of("[[acl]]\npermission = \"maybe\"\nall = true\ntopics = [\"a\"]\n")
                  .find("ironbridge.toml:2: acl[0].permission: \"maybe\" is not one of allow, deny"),
              std::string::npos);
    EXPECT_NE(error_of("[[acl]]\npermission = \"allow\"\ntopics = [\"a\"]\n")
                  .find("ironbridge.toml:1: acl[0]: say who the rule is for"),
              std::string::npos);
    EXPECT_NE(error_of("[[acl]]\npermission = \"allow\"\nall = true\ntopics = [\"a/#/b\"]\n")
                  .find("acl[0]: topics: 'a/#/b' is not a valid MQTT topic filter"),
              std::string::npos);
    EXPECT_NE(error_of("[[acl]]\npermission = \"allow\"\naddress = \"10.0.0.0/40\"\ntopics = [\"a\"]\n")
                  .find("ironbridge.toml:3: acl[0].address:"),
              std::string::npos);
    EXPECT_NE(error_of("[[acl]]\npermission = \"allow\"\nall = true\naction = \"read\"\ntopics = [\"a\"]\n")
                  .find("acl[0].action: \"read\" is not one of publish, subscribe, all"),
              std::string::npos);
    EXPECT_NE(error_of("[[acl]]\npermission = \"allow\"\nall = true\n").find("acl[0].topics: is required"),
              std::string::npos);
    EXPECT_NE(error_of("[auth]\nacl_default = \"maybe\"\n").find("ironbridge.toml:2: auth.acl_default"),
              std::string::npos);
    EXPECT_NE(error_of("[api]\ntokens = \"t\"\n").find("ironbridge.toml:2: api.tokens: expected an array of strings"),
              std::string::npos);
}

}  // namespace
}  // namespace ib::config
