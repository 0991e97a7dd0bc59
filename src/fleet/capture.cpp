#include "fleet/capture.hpp"

#include <sstream>

#include <toml++/toml.h>

#include "config/json_tree.hpp"
#include "config/table_fields.hpp"
#include "rules/rule_settings.hpp"

namespace ib::fleet {
namespace {

std::string secret(const std::string& value, bool include) {
    return include || value.empty() ? value : std::string(config::fields::kSecretMask);
}

toml::array strings(const std::vector<std::string>& list) {
    toml::array a;
    for (const auto& s : list) a.push_back(s);
    return a;
}

toml::table bridge_table(const bridge::BridgeConfig& b, bool secrets) {
    toml::array servers;
    for (const auto& s : b.servers) servers.push_back(s.host + ":" + std::to_string(s.port));
    toml::table t{{"name", b.name},
                  {"enabled", b.enabled},
                  {"servers", servers},
                  {"protocol", b.protocol == 5 ? "5" : "3.1.1"},
                  {"keep_alive_s", static_cast<int64_t>(b.keep_alive.count())},
                  {"clean_start", b.clean_start},
                  {"session_expiry_s", static_cast<int64_t>(b.session_expiry_s)},
                  {"connect_timeout_ms", static_cast<int64_t>(b.connect_timeout.count())},
                  {"reconnect_min_ms", static_cast<int64_t>(b.reconnect_min.count())},
                  {"reconnect_max_ms", static_cast<int64_t>(b.reconnect_max.count())},
                  {"inflight", static_cast<int64_t>(b.inflight)},
                  {"max_queue_bytes", static_cast<int64_t>(b.max_queue_bytes)},
                  {"max_queue_age_s", static_cast<int64_t>(b.max_queue_age.count())},
                  {"queue_qos0", b.queue_qos0}};
    if (!b.client_id.empty()) t.insert("client_id", b.client_id);
    if (!b.username.empty()) t.insert("username", b.username);
    if (!b.password.empty()) t.insert("password", secret(b.password, secrets));
    if (b.tls.enabled) {
        t.insert("tls", true);
        t.insert("tls_verify", b.tls.verify);
        if (!b.tls.ca_file.empty()) t.insert("ca_file", b.tls.ca_file);
        if (!b.tls.cert_file.empty()) t.insert("cert_file", b.tls.cert_file);
        if (!b.tls.key_file.empty()) t.insert("key_file", b.tls.key_file);
    }
    toml::array forwards;
    for (const auto& f : b.forwards) {
        forwards.push_back(toml::table{{"local", f.local}, {"remote", f.remote}, {"qos", static_cast<int64_t>(f.qos)}});
    }
    if (!forwards.empty()) t.insert("forwards", forwards);
    toml::array subscriptions;
    for (const auto& s : b.subscriptions) {
        subscriptions.push_back(toml::table{{"remote", s.remote}, {"local", s.local}, {"qos", static_cast<int64_t>(s.qos)}});
    }
    if (!subscriptions.empty()) t.insert("subscriptions", subscriptions);
    return t;
}

std::string_view action_name(auth::AclAction a) {
    switch (a) {
        case auth::AclAction::Publish: return "publish";
        case auth::AclAction::Subscribe: return "subscribe";
        case auth::AclAction::All: return "all";
    }
    return "all";
}

}  // namespace

std::string capture_toml(const ManagedConfig& running, bool include_secrets) {
    toml::table root;
    const auto secrets = include_secrets ? config::fields::Secrets::Included : config::fields::Secrets::Masked;
    if (running.devices) {
        toml::array a;
        for (const auto& d : *running.devices) {
            if (auto t = config::json_object(drivers::device_to_json(d, secrets))) a.push_back(std::move(*t));
        }
        root.insert("devices", std::move(a));
    }
    if (running.rules) {
        toml::array a;
        for (const auto& r : *running.rules) {
            if (auto t = config::json_object(rules::rule_to_json(r, secrets))) a.push_back(std::move(*t));
        }
        root.insert("rules", std::move(a));
    }
    if (running.bridges) {
        toml::array a;
        for (const auto& b : *running.bridges) a.push_back(bridge_table(b, include_secrets));
        root.insert("bridges", std::move(a));
    }
    if (running.users) {
        toml::array a;
        for (const auto& u : *running.users) {
            toml::table t{{"name", u.name}, {"role", std::string(auth::role_name(u.role))}};
            if (!u.password_hash.empty()) t.insert("password_hash", secret(u.password_hash, include_secrets));
            if (!u.password.empty()) t.insert("password", secret(u.password, include_secrets));
            a.push_back(std::move(t));
        }
        root.insert("users", std::move(a));
    }
    if (running.acl) {
        toml::array a;
        for (const auto& r : *running.acl) {
            toml::table t{{"permission", r.permission == auth::AclPermission::Allow ? "allow" : "deny"},
                          {"action", std::string(action_name(r.action))},
                          {"topics", strings(r.topics)}};
            if (r.all) t.insert("all", true);
            if (!r.username.empty()) t.insert("username", r.username);
            if (!r.clientid.empty()) t.insert("clientid", r.clientid);
            if (!r.address.empty()) t.insert("address", r.address);
            a.push_back(std::move(t));
        }
        root.insert("acl", std::move(a));
    }
    std::ostringstream out;
    out << toml::toml_formatter(root);
    std::string s = out.str();
    if (!s.empty() && s.back() != '\n') s += '\n';
    return s;
}

}  // namespace ib::fleet
