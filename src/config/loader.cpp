#include "config/loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "config/auth_loader.hpp"
#include "config/settings.hpp"
#include "core/suggest.hpp"
#include "net/tls.hpp"

namespace ib::config {
namespace {

using mqtt::broker::ListenerConfig;

struct Problem {
    uint32_t line;  // 0: unknown
    std::string text;
};

struct Context {
    std::string_view source;
    std::vector<Problem> problems;
    // Line of every key seen, by display path ("broker.listeners[1].port"), so
    // cross-field checks that run after the walk can still point at a line.
    std::map<std::string, uint32_t, std::less<>> lines;

    void report(uint32_t line, std::string text) { problems.push_back({line, std::move(text)}); }

    uint32_t line_of(std::string_view display_key, std::string_view fallback = {}) const {
        if (auto it = lines.find(display_key); it != lines.end()) return it->second;
        if (auto it = lines.find(fallback); it != lines.end()) return it->second;
        return 0;
    }
};

std::string join(std::string_view prefix, std::string_view name) {
    if (prefix.empty()) return std::string(name);
    std::string out;
    out.reserve(prefix.size() + 1 + name.size());
    out.append(prefix).append(".").append(name);
    return out;
}

using fields::describe;

std::string_view expected_text(SettingType t) {
    switch (t) {
        case SettingType::Integer: return "an integer";
        case SettingType::Boolean: return "a boolean";
        case SettingType::String: return "a string";
        case SettingType::StringArray: return "an array of strings";
    }
    return "?";
}

// The names a table at `section` may hold ("" is the document root), derived
// from the settings table so a new setting needs no edit here.
std::vector<std::string_view> children_of(std::string_view section) {
    std::vector<std::string_view> out;
    for (const Setting& s : settings()) {
        std::string_view rest = s.key;
        if (!section.empty()) {
            if (!rest.starts_with(section) || rest.size() <= section.size() ||
                rest[section.size()] != '.') {
                continue;
            }
            rest.remove_prefix(section.size() + 1);
        }
        std::string_view child = rest.substr(0, rest.find('.'));
        if (std::find(out.begin(), out.end(), child) == out.end()) out.push_back(child);
    }
    return out;
}

// A key that is not a setting but prefixes some: a table such as [broker].
bool is_section(std::string_view key) {
    for (const Setting& s : settings()) {
        if (s.key.size() > key.size() && s.key.starts_with(key) && s.key[key.size()] == '.') {
            return true;
        }
    }
    return false;
}

using fields::line_of;

class Walker {
public:
    Walker(Context& ctx, NodeConfig& cfg, std::span<const TableList> lists) : ctx_(ctx), cfg_(cfg), lists_(lists) {}

    // `section` is the schema path ("broker.listeners"), `display` what errors
    // print ("broker.listeners[1]"); `listener` is set inside a listener table.
    void table(const toml::table& t, std::string_view section, const std::string& display,
               ListenerConfig* listener) {
        for (auto&& [k, v] : t) {
            std::string_view name = k.str();
            std::string display_key = join(display, name);
            uint32_t key_line = k.source().begin.line ? k.source().begin.line : line_of(v);
            ctx_.lines.emplace(display_key, key_line);
            // A quoted key with a dot ("broker.threads" = 4) is one key, not a
            // path, and no setting has such a name.
            bool plain = name.find('.') == std::string_view::npos;
            std::string key = join(section, name);
            const Setting* s = plain ? find_setting(key) : nullptr;
            if (s != nullptr && (s->scope == SettingScope::Listener) == (listener != nullptr)) {
                value(*s, v, display_key, listener);
            } else if (plain && key == kListenersKey) {
                listeners(v, display_key);
            } else if (const TableList* list = plain && listener == nullptr ? list_at(key) : nullptr) {
                list->read(v, display_key, report_);
            } else if (plain && key == "users" && listener == nullptr) {
                named_tables<auth::UserConfig>("users", "user", "name", parse_user, user_name, nullptr,
                                               cfg_.auth.users)
                    .read(v, display_key, report_);
            } else if (plain && key == "acl" && listener == nullptr) {
                acl(v, display_key);
            } else if (plain && is_section(key)) {
                if (const toml::table* sub = v.as_table()) {
                    table(*sub, key, display_key, listener);
                } else {
                    ctx_.report(line_of(v), display_key + ": expected a table, got " +
                                                std::string(describe(v.type())));
                }
            } else {
                unknown(name, display, section, key_line);
            }
        }
    }

private:
    void unknown(std::string_view name, const std::string& display, std::string_view section,
                 uint32_t line) {
        std::string text = "unknown key '" + join(display, name) + "'";
        std::string_view hint = suggest(name, children_of(section));
        if (!hint.empty()) text += " (did you mean '" + join(display, hint) + "'?)";
        ctx_.report(line, std::move(text));
    }

    void value(const Setting& s, const toml::node& v, const std::string& display_key,
               ListenerConfig* listener) {
        SettingValue parsed;
        switch (s.type) {
            case SettingType::Integer:
                if (const auto* i = v.as_integer()) {
                    int64_t x = i->get();
                    if (x < s.min) {
                        return bad(v, display_key,
                                   std::to_string(x) + " is below the minimum " + std::to_string(s.min));
                    }
                    if (x > s.max) {
                        return bad(v, display_key,
                                   std::to_string(x) + " is above the maximum " + std::to_string(s.max));
                    }
                    parsed = x;
                }
                break;
            case SettingType::Boolean:
                if (const auto* b = v.as_boolean()) parsed = b->get();
                break;
            case SettingType::String:
                if (const auto* str = v.as_string()) parsed = str->get();
                break;
            case SettingType::StringArray:
                if (fields::is_string_array(v)) {
                    std::vector<std::string> items;
                    for (const auto& e : *v.as_array()) items.push_back(e.as_string()->get());
                    parsed = std::move(items);
                }
                break;
        }
        bool matched = (s.type == SettingType::Integer && v.is_integer()) ||
                       (s.type == SettingType::Boolean && v.is_boolean()) ||
                       (s.type == SettingType::String && v.is_string()) ||
                       (s.type == SettingType::StringArray && fields::is_string_array(v));
        if (!matched) {
            return bad(v, display_key, "expected " + std::string(expected_text(s.type)) + ", got " +
                                           std::string(describe(v.type())));
        }
        if (!s.choices.empty()) {
            const std::string& str = std::get<std::string>(parsed);
            if (std::find(s.choices.begin(), s.choices.end(), str) == s.choices.end()) {
                std::string list;
                for (std::string_view c : s.choices) list.append(list.empty() ? "" : ", ").append(c);
                return bad(v, display_key, to_toml_literal(parsed) + " is not one of " + list);
            }
        }
        if (s.check != nullptr) {
            if (std::string why = s.check(parsed); !why.empty()) return bad(v, display_key, why);
        }
        if (listener != nullptr) {
            s.set_listener(*listener, parsed);
        } else {
            s.set_node(cfg_, parsed);
        }
    }

    void bad(const toml::node& v, const std::string& display_key, const std::string& what) {
        ctx_.report(line_of(v), display_key + ": " + what);
    }

    void listeners(const toml::node& v, const std::string& display_key) {
        const toml::array* arr = v.as_array();
        if (arr == nullptr) {
            return bad(v, display_key, "expected an array of tables ([[" + std::string(kListenersKey) +
                                           "]]), got " + std::string(describe(v.type())));
        }
        // Listeners given in the file replace the built-in default one.
        cfg_.broker.listeners.clear();
        if (arr->empty()) return bad(v, display_key, "at least one listener is required");
        for (size_t i = 0; i < arr->size(); ++i) {
            const toml::node& element = *arr->get(i);
            std::string element_key = display_key + "[" + std::to_string(i) + "]";
            ctx_.lines.emplace(element_key, line_of(element));
            const toml::table* t = element.as_table();
            if (t == nullptr) {
                bad(element, element_key, "expected a table, got " + std::string(describe(element.type())));
                continue;
            }
            ListenerConfig l;
            table(*t, kListenersKey, element_key, &l);
            cfg_.broker.listeners.push_back(std::move(l));
        }
    }

    // The module's table list that reads this top-level key, if any.
    const TableList* list_at(std::string_view key) const {
        for (const TableList& l : lists_) {
            if (l.key == key) return &l;
        }
        return nullptr;
    }

    static const std::string& user_name(const auth::UserConfig& u) { return u.name; }

    // [[acl]]: ordered and unnamed, so no uniqueness to check.
    void acl(const toml::node& v, const std::string& display_key) {
        for_each_table(v, display_key, report_, [this](const toml::table& t, const std::string& key, const toml::node&) {
            if (auto rule = parse_acl_rule(t, key, report_)) cfg_.auth.acl.push_back(std::move(*rule));
        });
    }

    Context& ctx_;
    NodeConfig& cfg_;
    std::span<const TableList> lists_;
    ReportProblem report_ = [this](uint32_t line, std::string text) { ctx_.report(line, std::move(text)); };
};

bool is_wildcard(std::string_view a) { return a == "0.0.0.0" || a == "::"; }

// Whether two sockets bound to these addresses on the same port would collide.
// On Linux "::" is dual-stack by default, so it collides with every address;
// "0.0.0.0" collides with every IPv4 address.
bool addresses_overlap(std::string_view a, std::string_view b) {
    if (a == b || a == "::" || b == "::") return true;
    bool a_v4 = a.find(':') == std::string_view::npos;
    bool b_v4 = b.find(':') == std::string_view::npos;
    return a_v4 && b_v4 && (is_wildcard(a) || is_wildcard(b));
}

std::string endpoint(std::string_view address, uint16_t port) {
    std::string host = address.find(':') == std::string_view::npos
                           ? std::string(address)
                           : "[" + std::string(address) + "]";
    return host + ":" + std::to_string(port);
}

// TLS files are read here, once, so a bad certificate stops the start with the
// file and key named, rather than failing the first client.
void check_transport(const ListenerConfig& l, size_t i, Context& ctx) {
    auto key = [&](std::string_view leaf) {
        return std::string(kListenersKey) + "[" + std::to_string(i) + "]." + std::string(leaf);
    };
    auto report = [&](std::string_view leaf, const std::string& text) {
        ctx.report(ctx.line_of(key(leaf), key("transport")), key(leaf) + ": " + text);
    };
    const bool tls = l.transport == "tls" || l.transport == "wss";
    if (!tls) {
        for (auto [leaf, value] : {std::pair<std::string_view, const std::string*>{"tls_cert", &l.tls_cert},
                                   {"tls_key", &l.tls_key}, {"tls_ca", &l.tls_ca}}) {
            if (!value->empty()) report(leaf, "set, but transport is \"" + l.transport + "\" (use tls or wss)");
        }
        return;
    }
    if (l.tls_cert.empty()) report("tls_cert", "required when transport is \"" + l.transport + "\"");
    if (l.tls_key.empty()) report("tls_key", "required when transport is \"" + l.transport + "\"");
    if (l.tls_require_client_cert && l.tls_ca.empty())
        report("tls_require_client_cert", "needs tls_ca, the CA client certificates are verified against");
    if (l.tls_cn_as_username && l.tls_ca.empty())
        report("tls_cn_as_username", "needs tls_ca: only a verified certificate's CN can be a username");
    if (l.tls_cert.empty() || l.tls_key.empty()) return;
    net::TlsServerSettings t{l.tls_cert, l.tls_key, l.tls_ca, l.tls_require_client_cert, l.tls_min_version};
    std::string err = net::check_tls_files(t);
    if (err.empty()) return;
    // The message starts with the key of the file at fault ("tls_key '...': ...").
    auto space = err.find(' ');
    report(err.substr(0, space), err.substr(space + 1));
}

void check_cross_fields(const NodeConfig& cfg, Context& ctx) {
    const auto& ls = cfg.broker.listeners;
    auto key = [](size_t i, std::string_view leaf) {
        return std::string(kListenersKey) + "[" + std::to_string(i) + "]." + std::string(leaf);
    };
    auto element = [](size_t i) { return std::string(kListenersKey) + "[" + std::to_string(i) + "]"; };
    for (size_t i = 0; i < ls.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            if (ls[i].name == ls[j].name) {
                ctx.report(ctx.line_of(key(i, "name"), element(i)),
                           key(i, "name") + ": \"" + ls[i].name + "\" is already the name of " + element(j));
            }
            if (ls[i].port != 0 && ls[i].port == ls[j].port &&
                addresses_overlap(ls[i].bind_address, ls[j].bind_address)) {
                ctx.report(ctx.line_of(key(i, "port"), element(i)),
                           key(i, "port") + ": " + endpoint(ls[i].bind_address, ls[i].port) +
                               " collides with " + element(j) + " on " +
                               endpoint(ls[j].bind_address, ls[j].port));
            }
        }
    }
    if (cfg.api.tls_cert.empty() != cfg.api.tls_key.empty()) {
        const char* given = cfg.api.tls_cert.empty() ? "api.tls_key" : "api.tls_cert";
        ctx.report(ctx.line_of(given, "api"), std::string(given) + ": api.tls_cert and api.tls_key go together");
    }
    for (const std::string* file : {&cfg.api.tls_cert, &cfg.api.tls_key}) {
        if (file->empty()) continue;
        const char* k = file == &cfg.api.tls_cert ? "api.tls_cert" : "api.tls_key";
        if (std::FILE* f = std::fopen(file->c_str(), "r")) {
            std::fclose(f);
        } else {
            ctx.report(ctx.line_of(k, "api"), std::string(k) + ": cannot read '" + *file + "': " + std::strerror(errno));
        }
    }
    // Plain text is refused unless the operator said so, wherever in the file
    // (and in whichever order) the two keys appear.
    if (!cfg.auth.allow_plaintext_passwords) {
        for (size_t i = 0; i < cfg.auth.users.size(); ++i) {
            const auto& u = cfg.auth.users[i];
            if (u.password.empty()) continue;
            ctx.report(u.password_line, "users[" + std::to_string(i) + "].password: a plain-text password is refused; "
                                        "give password_hash (made by `ironbridge passwd`) or set "
                                        "auth.allow_plaintext_passwords = true");
        }
    }
    for (size_t i = 0; i < ls.size(); ++i) check_transport(ls[i], i, ctx);
    if (cfg.api.enabled && cfg.api.port != 0) {
        for (size_t i = 0; i < ls.size(); ++i) {
            if (ls[i].port == cfg.api.port && addresses_overlap(ls[i].bind_address, cfg.api.bind_address)) {
                ctx.report(ctx.line_of("api.port", "api"),
                           "api.port: " + endpoint(cfg.api.bind_address, cfg.api.port) +
                               " collides with " + element(i) + " on " +
                               endpoint(ls[i].bind_address, ls[i].port));
            }
        }
    }
}

std::string format(const Context& ctx) {
    std::vector<Problem> sorted = ctx.problems;
    // toml++ tables iterate in key order, not document order; operators read
    // errors top to bottom alongside the file.
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Problem& a, const Problem& b) { return a.line < b.line; });
    std::string out;
    for (const Problem& p : sorted) {
        if (!out.empty()) out += '\n';
        out.append(ctx.source);
        if (p.line != 0) out += ":" + std::to_string(p.line);
        out += ": " + p.text;
    }
    return out;
}

}  // namespace

std::expected<NodeConfig, std::string> load_config_string(std::string_view toml_text,
                                                          std::string_view source_name,
                                                          std::span<const TableList> lists) {
    Context ctx;
    ctx.source = source_name;
    toml::table root;
    // The Debian build of toml++ reports syntax errors by throwing; this is the
    // boundary where that becomes a value.
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
        const auto& at = e.source().begin;
        return std::unexpected(std::string(source_name) + ":" + std::to_string(at.line) + ":" +
                               std::to_string(at.column) + ": syntax error: " +
                               std::string(e.description()));
    } catch (const std::exception& e) {
        return std::unexpected(std::string(source_name) + ": " + e.what());
    }

    NodeConfig cfg;
    Walker(ctx, cfg, lists).table(root, "", "", nullptr);
    // Cross-field rules only make sense once every value is valid; running them
    // earlier would report collisions between values that were already refused.
    if (ctx.problems.empty()) check_cross_fields(cfg, ctx);
    if (!ctx.problems.empty()) return std::unexpected(format(ctx));
    return cfg;
}

std::expected<NodeConfig, std::string> load_config_file(const std::string& path,
                                                        std::span<const TableList> lists) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) return std::unexpected(path + ": cannot open: " + std::strerror(errno));
    std::string text;
    char buf[16384];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
    if (std::ferror(f.get())) return std::unexpected(path + ": cannot read: " + std::strerror(errno));
    return load_config_string(text, path, lists);
}

std::string_view embedded_default_toml() {
    // Kept short on purpose: it is what a new user sees with `ironbridge run`,
    // and every setting equals the NodeConfig default (a unit test checks it).
    // The simulated device makes data flow at once: `mosquitto_sub -t 'ib/#' -v`.
    return R"toml(# Ironbridge embedded default configuration, used when no file is given.
# See docs/configuration.md for every setting.
data_dir = "./data"

[log]
level = "info"

[[broker.listeners]]
name = "default"
bind = "0.0.0.0"
port = 1883

[api]
enabled = true
bind = "0.0.0.0"
port = 8080

# A simulated device, so data flows with no hardware: ib/data/demo/fast.
[[devices]]
name = "demo"
driver = "sim"

[[devices.groups]]
name = "fast"
interval_ms = 1000
tags = [
  { name = "temperature", address = "sine:period=60,amplitude=5,offset=21", type = "float32", unit = "degC" },
  { name = "pressure", address = "random:start=6,step=0.05,min=4,max=8", type = "float32", unit = "bar" },
  { name = "running", address = "square:period=30", type = "bool" },
  { name = "count", address = "counter", type = "uint32" },
  { name = "setpoint", address = "memory:initial=20", type = "float32", access = "rw" },
]
)toml";
}

}  // namespace ib::config
