// OPC 10000-4 Annex A.2: the RelativePath text format, the subset a tag needs.
#include "drivers/opcua/browse_path.hpp"

#include <charconv>

#include "drivers/opcua/node_id.hpp"

namespace ib::drivers::opcua {

namespace {

constexpr uint32_t kAggregates = 44;

std::unexpected<Error> syntax(std::size_t at, const char* message) {
    return ib::fail(static_cast<uint8_t>(NodeIdErrc::Syntax), at, message);
}

bool is_separator(char c) { return c == '/' || c == '.'; }

}  // namespace

bool is_browse_path(std::string_view address) { return !address.empty() && is_separator(address.front()); }

Result<RelativePath> parse_browse_path(std::string_view text) {
    RelativePath path;
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_separator(text[i])) return syntax(i, "expected '/' or '.' before each name");
        RelativePathElement element;
        element.reference_type_id = NodeId{0, text[i] == '/' ? kHierarchicalReferences : kAggregates};
        ++i;
        // An optional namespace index: digits then ':' (unescaped).
        std::size_t digits = i;
        while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
        if (digits > i && digits < text.size() && text[digits] == ':') {
            uint16_t ns = 0;
            const auto [end, ec] = std::from_chars(text.data() + i, text.data() + digits, ns);
            if (ec != std::errc{} || end != text.data() + digits) return syntax(i, "namespace index above 65535");
            element.target_name.ns = ns;
            i = digits + 1;
        }
        const std::size_t name_at = i;
        std::string& name = element.target_name.name;
        while (i < text.size() && !is_separator(text[i])) {
            if (text[i] == '&') {
                if (++i == text.size()) return syntax(i, "'&' at the end: nothing to escape");
            }
            name.push_back(text[i++]);
        }
        if (name.empty()) return syntax(name_at, "empty name in the browse path");
        path.elements.push_back(std::move(element));
    }
    if (path.elements.empty()) return syntax(0, "empty browse path");
    return path;
}

}  // namespace ib::drivers::opcua
