#include "fleet_ctl/fleet_template.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace ib::fleet_ctl {

namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

// Splits CSV text into rows of fields (RFC 4180: "..." with "" inside); the line
// each row starts on, for errors.
struct CsvRow {
    std::size_t line = 0;
    std::vector<std::string> fields;
};

std::expected<std::vector<CsvRow>, std::string> split_csv(std::string_view text, std::string_view source) {
    std::vector<CsvRow> rows;
    CsvRow row{1, {}};
    std::string field;
    std::size_t line = 1;
    bool quoted = false, was_quoted = false;
    auto end_field = [&] {
        row.fields.push_back(std::move(field));
        field.clear();
        was_quoted = false;
    };
    auto end_row = [&] {
        end_field();
        const bool blank = row.fields.size() == 1 && row.fields[0].empty();
        if (!blank) rows.push_back(std::move(row));
        row = CsvRow{line, {}};
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                if (c == '\n') ++line;
                field += c;
            }
            continue;
        }
        if (c == '"' && field.empty() && !was_quoted) {
            quoted = was_quoted = true;
        } else if (c == ',') {
            end_field();
        } else if (c == '\n') {
            ++line;
            end_row();
        } else if (c != '\r') {
            field += c;
        }
    }
    if (quoted) return std::unexpected(std::string(source) + ":" + std::to_string(row.line) + ": a quote is not closed");
    end_row();
    return rows;
}

std::string trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return std::string(s);
}

// docs/fleet.md: site and edge ids are 1-64 of [A-Za-z0-9_.-].
bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id) {
        if (!is_name_char(c)) return false;
    }
    return true;
}

std::expected<void, std::string> check_ids(const std::vector<EdgeParams>& edges, std::string_view source) {
    std::map<std::string, int> seen;
    for (std::size_t i = 0; i < edges.size(); ++i) {
        const auto& e = edges[i];
        const std::string where = std::string(source) + ": edge #" + std::to_string(i + 1);
        if (!valid_id(e.edge)) return std::unexpected(where + ": edge '" + e.edge + "' is not 1-64 of [A-Za-z0-9_.-]");
        if (!valid_id(e.site)) return std::unexpected(where + ": site '" + e.site + "' is not 1-64 of [A-Za-z0-9_.-]");
        if (seen[e.key()]++) return std::unexpected(where + ": " + e.key() + " appears twice");
    }
    return {};
}

// A parameter's text as the template gets it: a string as it is, a number or
// a boolean as TOML writes it; an array or a table is no parameter.
std::expected<std::string, std::string> toml_text_of(const toml::node& n) {
    if (auto s = n.as_string()) return s->get();
    std::ostringstream out;
    if (auto i = n.as_integer()) out << i->get();
    else if (auto f = n.as_floating_point()) out << toml::value<double>(f->get());
    else if (auto b = n.as_boolean()) out << (b->get() ? "true" : "false");
    else return std::unexpected(std::string("a parameter is a string, a number or a boolean"));
    return out.str();
}

}  // namespace

std::expected<std::vector<EdgeParams>, std::string> parse_params_csv(std::string_view text, std::string_view source) {
    auto rows = split_csv(text, source);
    if (!rows) return std::unexpected(rows.error());
    if (rows->empty()) return std::unexpected(std::string(source) + ": empty, a header row (edge,site,...) is needed");
    std::vector<std::string> header;
    for (const auto& f : rows->front().fields) header.push_back(trimmed(f));
    auto column = [&](std::string_view name) -> int {
        for (std::size_t i = 0; i < header.size(); ++i) {
            if (header[i] == name) return static_cast<int>(i);
        }
        return -1;
    };
    if (column("edge") < 0 || column("site") < 0) {
        return std::unexpected(std::string(source) + ":1: the header must name the columns edge and site");
    }
    std::vector<EdgeParams> out;
    for (std::size_t r = 1; r < rows->size(); ++r) {
        const auto& row = (*rows)[r];
        if (row.fields.size() != header.size()) {
            return std::unexpected(std::string(source) + ":" + std::to_string(row.line) + ": " +
                                   std::to_string(row.fields.size()) + " fields, the header has " +
                                   std::to_string(header.size()));
        }
        EdgeParams p;
        for (std::size_t i = 0; i < header.size(); ++i) p.values[header[i]] = row.fields[i];
        p.edge = trimmed(p.values["edge"]);
        p.site = trimmed(p.values["site"]);
        p.values["edge"] = p.edge;
        p.values["site"] = p.site;
        out.push_back(std::move(p));
    }
    if (auto ok = check_ids(out, source); !ok) return std::unexpected(ok.error());
    return out;
}

std::expected<std::vector<EdgeParams>, std::string> parse_params_toml(std::string_view text, std::string_view source) {
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        return std::unexpected(std::string(source) + ":" + std::to_string(e.source().begin.line) + ": " +
                               std::string(e.description()));
    }
    std::map<std::string, std::string> defaults;
    if (auto d = root["defaults"].as_table()) {
        for (const auto& [k, v] : *d) {
            auto text = toml_text_of(v);
            if (!text) return std::unexpected(std::string(source) + ": defaults." + std::string(k.str()) + ": " + text.error());
            defaults[std::string(k.str())] = std::move(*text);
        }
    }
    std::vector<EdgeParams> out;
    auto edges = root["edges"].as_array();
    if (!edges) return std::unexpected(std::string(source) + ": no [[edges]] table");
    for (const auto& node : *edges) {
        auto t = node.as_table();
        if (!t) return std::unexpected(std::string(source) + ": edges must be tables ([[edges]])");
        EdgeParams p;
        p.values = defaults;
        for (const auto& [k, v] : *t) {
            auto text = toml_text_of(v);
            if (!text) {
                return std::unexpected(std::string(source) + ": edges[" + std::to_string(out.size()) + "]." +
                                       std::string(k.str()) + ": " + text.error());
            }
            p.values[std::string(k.str())] = std::move(*text);
        }
        p.edge = p.values["edge"];
        p.site = p.values["site"];
        out.push_back(std::move(p));
    }
    if (auto ok = check_ids(out, source); !ok) return std::unexpected(ok.error());
    return out;
}

std::expected<std::vector<EdgeParams>, std::string> load_params(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::unexpected(path + ": cannot read the file");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (path.ends_with(".csv")) return parse_params_csv(text, path);
    if (path.ends_with(".toml")) return parse_params_toml(text, path);
    return std::unexpected(path + ": parameters are a .csv or a .toml file");
}

namespace {

// Walks a template: literal text to `literal`, each placeholder's name to
// `placeholder` (with its line); false from either stops the walk.
template <typename Literal, typename Placeholder>
void walk(std::string_view text, Literal&& literal, Placeholder&& placeholder) {
    std::size_t line = 1;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') ++line;
        if (c == '$' && text.substr(i, 3) == "$${") {
            literal(std::string_view("${"));
            i += 2;
            continue;
        }
        if (c == '$' && i + 1 < text.size() && text[i + 1] == '{') {
            std::size_t j = i + 2;
            while (j < text.size() && is_name_char(text[j])) ++j;
            if (j < text.size() && text[j] == '}' && j > i + 2) {
                if (!placeholder(text.substr(i + 2, j - i - 2), line)) return;
                i = j;
                continue;
            }
        }
        literal(text.substr(i, 1));
    }
}

}  // namespace

std::expected<std::string, std::string> fill_template(std::string_view text, const EdgeParams& params) {
    std::string out;
    out.reserve(text.size());
    std::string error;
    walk(
        text, [&](std::string_view s) { out += s; },
        [&](std::string_view name, std::size_t line) {
            auto it = params.values.find(std::string(name));
            if (it == params.values.end()) {
                error = "edge " + params.key() + ": no parameter '" + std::string(name) + "' (line " +
                        std::to_string(line) + " of the template)";
                return false;
            }
            out += it->second;
            return true;
        });
    if (!error.empty()) return std::unexpected(error);
    return out;
}

std::vector<std::string> placeholders(std::string_view text) {
    std::vector<std::string> out;
    walk(
        text, [](std::string_view) {},
        [&](std::string_view name, std::size_t) {
            if (std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
            return true;
        });
    return out;
}

namespace {

// `key = "********"` (or '********') lines: the value becomes "${secret_key}".
std::string unmask_secrets(const std::string& text) {
    constexpr std::string_view kMasks[] = {"\"********\"", "'********'"};
    std::string out;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string_view line = std::string_view(text).substr(start, end - start);
        const std::size_t eq = line.find('=');
        std::size_t mask = std::string_view::npos;
        std::size_t mask_size = 0;
        for (auto m : kMasks) {
            if (const std::size_t at = line.find(m); at != std::string_view::npos) {
                mask = at;
                mask_size = m.size();
            }
        }
        if (eq != std::string_view::npos && mask != std::string_view::npos && mask > eq) {
            std::string_view key = line.substr(0, eq);
            while (!key.empty() && (key.front() == ' ' || key.front() == '\t')) key.remove_prefix(1);
            while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
            out += line.substr(0, mask);
            out += "\"${secret_" + std::string(key) + "}\"";
            out += line.substr(mask + mask_size);
        } else {
            out += line;
        }
        if (end < text.size()) out += '\n';
        start = end + 1;
    }
    return out;
}

}  // namespace

std::string template_of_capture(std::string_view config, std::string_view edge, std::string_view site) {
    std::string out;
    out.reserve(config.size() + 64);
    // The string being read: its delimiter ("basic" with escapes, 'literal'
    // without), tripled for a multi-line one; empty outside strings.
    std::string_view closing;
    std::pair<std::string_view, const char*> ids[] = {{edge, "${edge}"}, {site, "${site}"}};
    if (site.size() > edge.size()) std::swap(ids[0], ids[1]);
    for (std::size_t i = 0; i < config.size(); ++i) {
        const char c = config[i];
        if (c == '$' && i + 1 < config.size() && config[i + 1] == '{') {
            out += "$${";
            ++i;
            continue;
        }
        if (closing.empty()) {
            if (c == '"' || c == '\'') {
                const std::string_view triple = c == '"' ? R"(""")" : "'''";
                closing = config.substr(i, 3) == triple ? triple : triple.substr(0, 1);
                out += closing;
                i += closing.size() - 1;
            } else if (c == '#') {  // a comment: as it is, to the end of the line
                const std::size_t end = config.find('\n', i);
                const std::size_t stop = end == std::string_view::npos ? config.size() : end;
                out += config.substr(i, stop - i);
                i = stop - 1;
            } else {
                out += c;
            }
            continue;
        }
        if (c == '\\' && closing[0] == '"' && i + 1 < config.size()) {
            out += config.substr(i, 2);
            ++i;
            continue;
        }
        if (config.substr(i, closing.size()) == closing) {
            out += closing;
            i += closing.size() - 1;
            closing = {};
            continue;
        }
        // A whole id inside a string: not inside a longer word or number, but
        // between separators (`lyon-press-7`, `alarms/lyon/press-7`); the
        // longer id first, so a site that begins an edge's id stays in it.
        const bool starts_token = i == 0 || !is_alnum(config[i - 1]);
        bool replaced = false;
        if (starts_token) {
            for (const auto& [id, name] : ids) {
                if (id.empty() || config.substr(i, id.size()) != id) continue;
                const std::size_t after = i + id.size();
                if (after < config.size() && is_alnum(config[after])) continue;
                out += name;
                i = after - 1;
                replaced = true;
                break;
            }
        }
        if (!replaced) out += c;
    }
    return unmask_secrets(out);
}

}  // namespace ib::fleet_ctl
