#include "sparkplug/topic.hpp"

#include <array>

namespace ib::sparkplug {
namespace {

constexpr std::array<std::string_view, 9> kTypeNames = {"NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA",
                                                        "DDATA",  "NCMD",   "DCMD",   "STATE"};

std::optional<MessageType> parse_type(std::string_view s) {
    for (std::size_t i = 0; i < kTypeNames.size(); ++i) {
        if (kTypeNames[i] == s) return static_cast<MessageType>(i);
    }
    return std::nullopt;
}

bool is_device_type(MessageType t) {
    return t == MessageType::DBIRTH || t == MessageType::DDEATH || t == MessageType::DDATA || t == MessageType::DCMD;
}

// The next level of `rest`, consumed; nullopt past the last one.
std::optional<std::string_view> next_level(std::string_view& rest, bool& done) {
    if (done) return std::nullopt;
    auto slash = rest.find('/');
    std::string_view level = rest.substr(0, slash);
    if (slash == std::string_view::npos) done = true;
    else rest.remove_prefix(slash + 1);
    return level;
}

}  // namespace

std::string_view message_type_name(MessageType type) { return kTypeNames[static_cast<std::size_t>(type)]; }

std::string id_problem(std::string_view id) {
    if (id.empty()) return "is empty";
    for (char c : id) {
        if (c == '/' || c == '+' || c == '#') return "holds '" + std::string(1, c) + "', which Sparkplug ids may not";
    }
    return {};
}

std::string topic(std::string_view group, MessageType type, std::string_view edge, std::string_view device) {
    std::string t;
    t.reserve(kNamespace.size() + group.size() + edge.size() + device.size() + 12);
    t.append(kNamespace).append("/").append(group).append("/").append(message_type_name(type)).append("/").append(edge);
    if (!device.empty()) t.append("/").append(device);
    return t;
}

std::string state_topic(std::string_view host) {
    return std::string(kNamespace) + "/STATE/" + std::string(host);
}

std::optional<ParsedTopic> parse_topic(std::string_view t) {
    bool done = false;
    std::string_view rest = t;
    auto ns = next_level(rest, done);
    if (!ns || *ns != kNamespace) return std::nullopt;
    auto group = next_level(rest, done);
    if (!group || group->empty()) return std::nullopt;
    ParsedTopic out;
    if (*group == "STATE") {
        auto host = next_level(rest, done);
        if (!host || host->empty() || !done) return std::nullopt;
        out.type = MessageType::STATE;
        out.host = *host;
        return out;
    }
    auto type_text = next_level(rest, done);
    auto type = type_text ? parse_type(*type_text) : std::nullopt;
    if (!type || *type == MessageType::STATE) return std::nullopt;
    auto edge = next_level(rest, done);
    if (!edge || edge->empty()) return std::nullopt;
    out.type = *type;
    out.group = *group;
    out.edge = *edge;
    if (is_device_type(*type)) {
        auto device = next_level(rest, done);
        if (!device || device->empty()) return std::nullopt;
        out.device = *device;
    }
    if (!done) return std::nullopt;  // levels beyond the last one
    return out;
}

}  // namespace ib::sparkplug
