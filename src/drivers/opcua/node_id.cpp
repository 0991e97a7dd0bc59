// OPC 10000-6 §5.3.1.10 (NodeId) and §5.3.1.11 (ExpandedNodeId) string forms.
#include "drivers/opcua/node_id.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

namespace ib::drivers::opcua {

namespace {

std::unexpected<Error> syntax(std::size_t at, const char* message) {
    return ib::fail(static_cast<uint8_t>(NodeIdErrc::Syntax), at, message);
}

// A base-10 number with nothing else: no sign, no spaces, within `max`.
template <typename T>
bool parse_decimal(std::string_view s, T max, T& out) {
    if (s.empty()) return false;
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v > max) return false;
    out = static_cast<T>(v);
    return true;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// 8-4-4-4-12 hexadecimal digits (§5.1.3 Guid string form), either case.
bool parse_guid(std::string_view s, Guid& g) {
    if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
    std::array<uint8_t, 16> b{};
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size();) {
        if (s[i] == '-') {
            ++i;
            continue;
        }
        const int hi = hex_value(s[i]);
        const int lo = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
        if (hi < 0 || lo < 0) return false;
        b[n++] = static_cast<uint8_t>(hi * 16 + lo);
        i += 2;
    }
    g.data1 = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
    g.data2 = static_cast<uint16_t>((b[4] << 8) | b[5]);
    g.data3 = static_cast<uint16_t>((b[6] << 8) | b[7]);
    for (std::size_t i = 0; i < 8; ++i) g.data4[i] = b[8 + i];
    return true;
}

constexpr std::string_view kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
    const auto at = kBase64.find(c);
    return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

// RFC 4648 base64 with padding, as the ByteString form uses (§5.1.3).
bool parse_base64(std::string_view s, ByteString& out) {
    if (s.size() % 4 != 0) return false;
    out.clear();
    for (std::size_t i = 0; i < s.size(); i += 4) {
        const bool last = i + 4 == s.size();
        const int pad = last ? (s[i + 3] == '=') + (s[i + 2] == '=') : 0;
        if (pad == 1 && s[i + 2] == '=') return false;  // "x=y=" is not padding
        uint32_t v = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            int d = 0;
            if (k < 4u - pad) {
                d = base64_value(s[i + k]);
                if (d < 0) return false;
            }
            v = (v << 6) | static_cast<uint32_t>(d);
        }
        out.push_back(static_cast<std::byte>(v >> 16));
        if (pad < 2) out.push_back(static_cast<std::byte>(v >> 8));
        if (pad < 1) out.push_back(static_cast<std::byte>(v));
    }
    return true;
}

std::string to_base64(const ByteString& b) {
    std::string out;
    for (std::size_t i = 0; i < b.size(); i += 3) {
        const std::size_t n = std::min<std::size_t>(3, b.size() - i);
        uint32_t v = 0;
        for (std::size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? static_cast<uint8_t>(b[i + k]) : 0u);
        for (std::size_t k = 0; k < 4; ++k) out += k <= n ? kBase64[(v >> (18 - 6 * k)) & 0x3F] : '=';
    }
    return out;
}

// §5.3.1.11: ';' and '%' in a namespace URI are written %3B and %25.
bool percent_decode(std::string_view s, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        const int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
        const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) return false;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return true;
}

std::string percent_encode(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == ';') out += "%3B";
        else if (c == '%') out += "%25";
        else out += c;
    }
    return out;
}

// The identifier clause: `i=`, `s=`, `g=` or `b=` and its value, to the end.
Result<void> parse_identifier(std::string_view text, std::size_t at, NodeId& node) {
    if (text.size() < 2 || text[1] != '=') return syntax(at, "expected i=, s=, g= or b= for the identifier");
    const std::string_view value = text.substr(2);
    const std::size_t value_at = at + 2;
    switch (text[0]) {
        case 'i': {
            uint32_t v = 0;
            if (!parse_decimal<uint32_t>(value, UINT32_MAX, v)) {
                return syntax(value_at, "numeric identifier is not a number 0..4294967295");
            }
            node.id = v;
            return {};
        }
        case 's':
            if (value.empty()) return syntax(value_at, "string identifier is empty");
            node.id = std::string(value);
            return {};
        case 'g': {
            Guid g;
            if (!parse_guid(value, g)) {
                return syntax(value_at, "guid identifier is not of the form 72962b91-fa75-4ae6-8d28-b404dc7daf63");
            }
            node.id = g;
            return {};
        }
        case 'b': {
            ByteString b;
            if (value.empty() || !parse_base64(value, b)) {
                return syntax(value_at, "opaque identifier is not base64");
            }
            node.id = std::move(b);
            return {};
        }
        default:
            return syntax(at, "expected i=, s=, g= or b= for the identifier");
    }
}

// Splits off "<key>=<value>;" when `text` starts with `key=`; the value ends at
// the first ';' (a namespace index, URI or server index never contains one).
bool take_clause(std::string_view& text, std::size_t& at, std::string_view key, std::string_view& value,
                 bool& unterminated) {
    unterminated = false;
    if (!text.starts_with(key)) return false;
    const auto semi = text.find(';');
    if (semi == std::string_view::npos) {
        unterminated = true;
        return true;
    }
    value = text.substr(key.size(), semi - key.size());
    text.remove_prefix(semi + 1);
    at += semi + 1;
    return true;
}

Result<ExpandedNodeId> parse(std::string_view text, bool expanded) {
    ExpandedNodeId out;
    std::size_t at = 0;
    std::string_view value;
    bool unterminated = false;
    if (take_clause(text, at, "svr=", value, unterminated)) {
        if (!expanded) return syntax(0, "svr= is only allowed in an ExpandedNodeId");
        if (unterminated) return syntax(at, "svr= clause is not followed by ';' and an identifier");
        if (!parse_decimal<uint32_t>(value, UINT32_MAX, out.server_index)) {
            return syntax(4, "server index is not a number 0..4294967295");
        }
    }
    const std::size_t clause_at = at;
    if (take_clause(text, at, "nsu=", value, unterminated)) {
        if (!expanded) return syntax(clause_at, "nsu= needs the server's NamespaceArray: parse it as an ExpandedNodeId");
        if (unterminated) return syntax(clause_at, "nsu= clause is not followed by ';' and an identifier");
        if (value.empty()) return syntax(clause_at + 4, "namespace URI is empty");
        if (!percent_decode(value, out.namespace_uri)) {
            return syntax(clause_at + 4, "namespace URI has a '%' not followed by two hexadecimal digits");
        }
    } else if (take_clause(text, at, "ns=", value, unterminated)) {
        if (unterminated) return syntax(clause_at, "ns= clause is not followed by ';' and an identifier");
        if (!parse_decimal<uint16_t>(value, UINT16_MAX, out.node.ns)) {
            return syntax(clause_at + 3, "namespace index is not a number 0..65535");
        }
    }
    if (text.empty()) return syntax(at, "identifier missing after the namespace");
    auto id = parse_identifier(text, at, out.node);
    if (!id) return std::unexpected(id.error());
    return out;
}

std::string identifier_text(const NodeId& id) {
    switch (id.id.index()) {
        case 0: return "i=" + std::to_string(std::get<0>(id.id));
        case 1: return "s=" + std::get<1>(id.id);
        case 2: return "g=" + to_string(std::get<2>(id.id));
        default: return "b=" + to_base64(std::get<3>(id.id));
    }
}

}  // namespace

Result<NodeId> parse_node_id(std::string_view text) {
    auto e = parse(text, false);
    if (!e) return std::unexpected(e.error());
    return std::move(e->node);
}

Result<ExpandedNodeId> parse_expanded_node_id(std::string_view text) { return parse(text, true); }

std::string to_string(const Guid& g) {
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", g.data1, g.data2, g.data3,
                  g.data4[0], g.data4[1], g.data4[2], g.data4[3], g.data4[4], g.data4[5], g.data4[6], g.data4[7]);
    return buf;
}

std::string to_string(const NodeId& id) {
    std::string out;
    if (id.ns != 0) out = "ns=" + std::to_string(id.ns) + ";";
    return out + identifier_text(id);
}

std::string to_string(const ExpandedNodeId& id) {
    std::string out;
    if (id.server_index != 0) out = "svr=" + std::to_string(id.server_index) + ";";
    if (!id.namespace_uri.empty()) return out + "nsu=" + percent_encode(id.namespace_uri) + ";" + identifier_text(id.node);
    return out + to_string(id.node);
}

Result<NodeId> resolve(const ExpandedNodeId& id, std::span<const std::string> namespace_array) {
    if (id.namespace_uri.empty()) return id.node;
    for (std::size_t i = 0; i < namespace_array.size() && i <= UINT16_MAX; ++i) {
        if (namespace_array[i] == id.namespace_uri) {
            NodeId out = id.node;
            out.ns = static_cast<uint16_t>(i);
            return out;
        }
    }
    return ib::fail(static_cast<uint8_t>(NodeIdErrc::NamespaceUnknown), 0,
                    "namespace URI is not in the server's NamespaceArray");
}

}  // namespace ib::drivers::opcua
