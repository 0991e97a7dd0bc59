#include "config/auth_loader.hpp"

#include "auth/acl.hpp"
#include "auth/password_file.hpp"
#include "auth/password_hash.hpp"

namespace ib::config {
namespace {

using namespace fields;
using auth::AclAction;
using auth::AclPermission;
using auth::AclRuleConfig;
using auth::UserConfig;

const std::vector<Field<UserConfig>>& user_fields() {
    static const std::vector<Field<UserConfig>> f = {
        {"name", Kind::String, "(required)", "User name, unique (also across `auth.password_file`).", 0, 0,
         [](UserConfig& u, const toml::node& n) -> std::string {
             u.name = str(n);
             if (!auth::valid_file_user(u.name)) {
                 return ib::quoted(u.name) + " is not a valid user name: 1 to 256 characters, no ':' or control characters";
             }
             return {};
         },
         nullptr, true},
        {"password_hash", Kind::String, "\"\"",
         "`$pbkdf2-sha512$<iterations>$<salt>$<hash>`, as `ironbridge passwd` writes it.", 0, 0,
         [](UserConfig& u, const toml::node& n) -> std::string {
             u.password_hash = str(n);
             auto h = auth::parse_password_hash(u.password_hash);
             return h ? std::string() : h.error();
         }},
        {"password", Kind::String, "\"\"",
         "Plain-text password; refused unless `auth.allow_plaintext_passwords = true` (use `password_hash`).", 0, 0,
         [](UserConfig& u, const toml::node& n) -> std::string {
             u.password = str(n);
             u.password_line = line_of(n);
             return u.password.empty() ? "must not be empty" : "";
         }},
        {"role", Kind::String, "\"admin\"",
         "What the user may do through the HTTP API and the console: `viewer` (read), `operator` (also write to "
         "devices, start and stop rules, publish test messages) or `admin` (everything). Users of "
         "`auth.password_file` are admins.",
         0, 0,
         [](UserConfig& u, const toml::node& n) -> std::string {
             auto role = auth::parse_role(str(n));
             if (!role) return ib::quoted(str(n)) + " is not one of viewer, operator, admin";
             u.role = *role;
             return {};
         }},
    };
    return f;
}

std::string store_topics(AclRuleConfig& r, const toml::node& n) {
    r.topics.clear();
    for (const auto& e : *n.as_array()) r.topics.push_back(e.as_string()->get());
    return {};
}

const std::vector<Field<AclRuleConfig>>& acl_fields() {
    static const std::vector<Field<AclRuleConfig>> f = {
        {"permission", Kind::String, "(required)", "`allow` or `deny`.", 0, 0,
         [](AclRuleConfig& r, const toml::node& n) -> std::string {
             std::string s = str(n);
             if (s == "allow") r.permission = AclPermission::Allow;
             else if (s == "deny") r.permission = AclPermission::Deny;
             else return ib::quoted(s) + " is not one of allow, deny";
             return {};
         },
         nullptr, true},
        {"username", Kind::String, "\"\"", "The rule applies to this authenticated user.", 0, 0,
         [](AclRuleConfig& r, const toml::node& n) {
             r.username = str(n);
             return std::string();
         }},
        {"clientid", Kind::String, "\"\"", "The rule applies to this client id.", 0, 0,
         [](AclRuleConfig& r, const toml::node& n) {
             r.clientid = str(n);
             return std::string();
         }},
        {"address", Kind::String, "\"\"", "The rule applies to clients from this IP address or network (`10.0.0.0/8`).",
         0, 0,
         [](AclRuleConfig& r, const toml::node& n) -> std::string {
             r.address = str(n);
             auto net = auth::IpNetwork::parse(r.address);
             return net ? std::string() : net.error();
         }},
        {"all", Kind::Boolean, "false", "The rule applies to every client (give no username, clientid or address).", 0,
         0,
         [](AclRuleConfig& r, const toml::node& n) {
             r.all = n.as_boolean()->get();
             return std::string();
         }},
        {"action", Kind::String, "\"all\"", "`publish`, `subscribe` or `all` (both).", 0, 0,
         [](AclRuleConfig& r, const toml::node& n) -> std::string {
             std::string s = str(n);
             if (s == "publish") r.action = AclAction::Publish;
             else if (s == "subscribe") r.action = AclAction::Subscribe;
             else if (s == "all") r.action = AclAction::All;
             else return ib::quoted(s) + " is not one of publish, subscribe, all";
             return {};
         }},
        {"topics", Kind::StringArray, "(required)",
         "Topic filters; `%u` is the user name, `%c` the client id (a name holding `+`, `#` or `/` is never "
         "substituted: the filter then matches nothing in an allow rule, everything in a deny rule).",
         0, 0, store_topics, nullptr, true},
    };
    return f;
}

}  // namespace

std::optional<UserConfig> parse_user(const toml::table& table, const std::string& display,
                                     const ReportProblem& report) {
    UserConfig u;
    if (!apply_fields(table, user_fields(), {}, u, display, line_of(table), report)) return std::nullopt;
    if (u.password_hash.empty() == u.password.empty()) {
        report(line_of(table), display + ": give exactly one of password_hash and password");
        return std::nullopt;
    }
    return u;
}

std::optional<AclRuleConfig> parse_acl_rule(const toml::table& table, const std::string& display,
                                            const ReportProblem& report) {
    AclRuleConfig r;
    if (!apply_fields(table, acl_fields(), {}, r, display, line_of(table), report)) return std::nullopt;
    if (std::string why = auth::check_acl_rule(r); !why.empty()) {
        report(line_of(table), display + ": " + why);
        return std::nullopt;
    }
    return r;
}

std::string render_auth_markdown() {
    std::string out;
    out += "\n## [[users]]\n\n"
           "MQTT users (and HTTP basic-auth users of the API). Users can also live in\n"
           "`auth.password_file`, managed with `ironbridge passwd FILE USER` (`-D` deletes).\n"
           "Reloaded on SIGHUP and `POST /api/v1/reload`.\n\n"
           "**API roles.** Every HTTP API route needs a role: `viewer` reads, `operator` also writes\n"
           "to devices, starts and stops rules and publishes test messages, `admin` may do\n"
           "everything; a request beyond its role gets 403 naming the role it needed. A user's role\n"
           "is its `role` key; a token's is written before it in `api.tokens` or `api.token_file`:\n"
           "`tokens = [\"operator:9f2c...\", \"viewer:51ab...\"]`. A token with no role prefix (the form\n"
           "used before roles) is an admin's. With `api.allow_anonymous = true` a request without\n"
           "credentials acts as an admin. The console logs in with `POST /api/v1/auth/login` and keeps\n"
           "a session cookie (`api.session_ttl_s`, `api.session_idle_s`, `api.max_sessions`).\n\n";
    out += render_markdown(user_fields());
    out += "\n## [[acl]]\n\n"
           "Ordered authorization rules, first match wins; `auth.acl_default` decides when none\n"
           "matches. A PUBLISH matches a rule when one of its filters matches the topic. A SUBSCRIBE\n"
           "(`$share/group/filter` is checked on `filter`) is allowed by an allow rule only when one\n"
           "of its filters contains the whole subscription (every topic it can match), and denied by\n"
           "a deny rule when any of its filters overlaps it: `#` from a user allowed `tenant/%u/#`\n"
           "does not pass. A denied SUBSCRIBE gets 0x87 (5.0) / 0x80 (3.1.1); a denied PUBLISH is\n"
           "dropped and counted, with 0x87 in the PUBACK/PUBREC for 5.0 (3.1.1: acknowledged\n"
           "normally), or the client is disconnected with `auth.acl_deny_action = \"disconnect\"`.\n"
           "Rules are compiled for each connection at CONNECT; after a reload, connected clients\n"
           "use the new rules from their next packet, and subscriptions the new rules no longer\n"
           "allow are removed then (for a resumed session, at its CONNECT).\n\n";
    out += render_markdown(acl_fields());
    return out;
}

}  // namespace ib::config
