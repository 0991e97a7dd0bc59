#include "fleet/managed_config.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <sstream>

#include <toml++/toml.h>

#include "bridge/bridge_settings.hpp"
#include "config/loader.hpp"
#include "core/json_writer.hpp"
#include "rules/rule_settings.hpp"

namespace ib::fleet {
namespace {

constexpr std::array<std::string_view, 5> kManagedKinds = {"devices", "rules", "bridges", "users", "acl"};

bool is_managed(std::string_view key) {
    return std::find(kManagedKinds.begin(), kManagedKinds.end(), key) != kManagedKinds.end();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) out.push_back(std::move(line));
    }
    return out;
}

std::string to_toml(const toml::table& t) {
    std::ostringstream out;
    out << toml::toml_formatter(t);
    std::string s = out.str();
    if (!s.empty() && s.back() != '\n') s += '\n';
    return s;
}

// One kind's diff, objects matched by `name_of` and compared by `same`.
template <typename T, typename Name, typename Same>
KindDiff diff_kind(const std::vector<T>& from, const std::vector<T>& to, Name name_of, Same same) {
    KindDiff d;
    for (const T& t : to) {
        auto it = std::find_if(from.begin(), from.end(), [&](const T& f) { return name_of(f) == name_of(t); });
        if (it == from.end()) d.added.push_back(name_of(t));
        else if (!same(*it, t)) d.changed.push_back(name_of(t));
    }
    for (const T& f : from) {
        if (std::none_of(to.begin(), to.end(), [&](const T& t) { return name_of(f) == name_of(t); })) {
            d.removed.push_back(name_of(f));
        }
    }
    return d;
}

template <typename T, typename Name, typename Same>
std::optional<KindDiff> diff_part(const std::optional<std::vector<T>>& from, const std::optional<std::vector<T>>& to,
                                  Name name_of, Same same) {
    if (!to) return std::nullopt;
    static const std::vector<T> none;
    return diff_kind(from ? *from : none, *to, name_of, same);
}

void write_kind(JsonWriter& w, std::string_view name, const std::optional<KindDiff>& d) {
    if (!d) return;
    auto list = [&w](std::string_view key, const std::vector<std::string>& names) {
        w.key(key).begin_array();
        for (const auto& n : names) w.string(n);
        w.end_array();
    };
    w.key(name).begin_object();
    list("added", d->added);
    list("removed", d->removed);
    list("changed", d->changed);
    w.end_object();
}

void mask(toml::table& t) {
    for (auto&& [k, v] : t) {
        if ((k.str() == "password" || k.str() == "password_hash") && v.is_string() && !v.as_string()->get().empty()) {
            *v.as_string() = std::string(config::fields::kSecretMask);
        } else if (auto* sub = v.as_table()) {
            mask(*sub);
        } else if (auto* arr = v.as_array()) {
            for (auto& e : *arr) {
                if (auto* et = e.as_table()) mask(*et);
            }
        }
    }
}

}  // namespace

std::expected<ManagedConfig, std::vector<std::string>> parse_managed(std::string_view toml, std::string_view source,
                                                                     drivers::AddressCheck check) {
    std::vector<drivers::DeviceConfig> devices;
    std::vector<bridge::BridgeConfig> bridges;
    std::vector<rules::RuleConfig> rule_list;
    const config::TableList lists[] = {drivers::device_tables(devices, check), bridge::bridge_tables(bridges),
                                       rules::rule_tables(rule_list)};
    auto loaded = config::load_config_string(toml, source, lists);
    std::vector<std::string> errors;
    if (!loaded) errors = lines_of(loaded.error());
    toml::table root;
    try {
        root = toml::parse(toml, source);
    } catch (const std::exception&) {
        return std::unexpected(errors);  // the loader said why (a syntax error)
    }
    ManagedConfig out;
    for (auto&& [k, v] : root) {
        std::string_view key = k.str();
        if (is_managed(key)) continue;
        errors.push_back(std::string(source) + ":" + std::to_string(k.source().begin.line) + ": '" + std::string(key) +
                         "' is not managed by the fleet: a desired configuration holds only devices, rules, bridges, "
                         "users and acl");
    }
    if (!errors.empty()) return std::unexpected(std::move(errors));
    if (root.contains("devices")) out.devices = std::move(devices);
    if (root.contains("rules")) out.rules = std::move(rule_list);
    if (root.contains("bridges")) out.bridges = std::move(bridges);
    if (root.contains("users")) out.users = std::move(loaded->auth.users);
    if (root.contains("acl")) out.acl = std::move(loaded->auth.acl);
    return out;
}

std::expected<std::string, std::string> merge_managed(std::string_view base, std::string_view over) {
    try {
        toml::table merged = base.empty() ? toml::table{} : toml::parse(base, std::string_view("in force"));
        toml::table parts = toml::parse(over, std::string_view("revision"));
        for (auto&& [k, v] : parts) merged.insert_or_assign(k, v);
        return to_toml(merged);
    } catch (const toml::parse_error& e) {
        return std::unexpected(std::string(e.description()));
    }
}

bool same_user(const auth::UserConfig& a, const auth::UserConfig& b) {
    return a.name == b.name && a.password_hash == b.password_hash && a.password == b.password && a.role == b.role;
}

bool same_acl(const std::vector<auth::AclRuleConfig>& a, const std::vector<auth::AclRuleConfig>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auth::AclRuleConfig& x, const auth::AclRuleConfig& y) {
        return x.permission == y.permission && x.username == y.username && x.clientid == y.clientid &&
               x.address == y.address && x.all == y.all && x.action == y.action && x.topics == y.topics;
    });
}

ManagedDiff diff_managed(const ManagedConfig& from, const ManagedConfig& to) {
    ManagedDiff d;
    d.devices = diff_part(
        from.devices, to.devices, [](const drivers::DeviceConfig& c) { return c.name; },
        [](const drivers::DeviceConfig& a, const drivers::DeviceConfig& b) {
            return drivers::device_to_json(a) == drivers::device_to_json(b);
        });
    d.rules = diff_part(
        from.rules, to.rules, [](const rules::RuleConfig& c) { return c.id; },
        [](const rules::RuleConfig& a, const rules::RuleConfig& b) { return rules::rule_to_json(a) == rules::rule_to_json(b); });
    d.bridges = diff_part(
        from.bridges, to.bridges, [](const bridge::BridgeConfig& c) { return c.name; },
        [](const bridge::BridgeConfig& a, const bridge::BridgeConfig& b) { return a == b; });
    d.users = diff_part(from.users, to.users, [](const auth::UserConfig& u) { return u.name; }, same_user);
    if (to.acl) {
        static const std::vector<auth::AclRuleConfig> none;
        d.acl_changed = !same_acl(from.acl ? *from.acl : none, *to.acl);
    }
    return d;
}

std::string diff_json(const ManagedDiff& d) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    write_kind(w, "devices", d.devices);
    write_kind(w, "rules", d.rules);
    write_kind(w, "bridges", d.bridges);
    write_kind(w, "users", d.users);
    if (d.acl_changed) w.key("acl").begin_object().field("changed", *d.acl_changed).end_object();
    w.end_object();
    return out;
}

std::string mask_secrets(std::string_view text) {
    try {
        toml::table t = toml::parse(text, std::string_view("revision"));
        mask(t);
        return to_toml(t);
    } catch (const toml::parse_error&) {
        return {};
    }
}

}  // namespace ib::fleet
