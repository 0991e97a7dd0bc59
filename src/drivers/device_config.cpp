#include "drivers/device_config.hpp"

namespace ib::drivers {

void pack_tag_texts(DeviceConfig& device) {
    std::vector<TagTexts*> texts;
    for (GroupConfig& group : device.groups) {
        for (TagConfig& tag : group.tags) texts.push_back(&tag.texts);
    }
    TagTexts::pack(texts);
}

std::string_view driver_name(DriverKind kind) {
    switch (kind) {
        case DriverKind::ModbusTcp: return "modbus-tcp";
        case DriverKind::ModbusRtuOverTcp: return "modbus-rtu-over-tcp";
        case DriverKind::ModbusRtu: return "modbus-rtu";
        case DriverKind::Sim: return "sim";
        case DriverKind::OpcUa: return "opcua";
    }
    return "?";
}

std::string_view access_name(Access access) {
    switch (access) {
        case Access::Read: return "read";
        case Access::Write: return "write";
        case Access::ReadWrite: return "rw";
    }
    return "?";
}

std::string_view group_mode_name(GroupMode mode) {
    switch (mode) {
        case GroupMode::Auto: return "auto";
        case GroupMode::Poll: return "poll";
        case GroupMode::Subscribe: return "subscribe";
    }
    return "?";
}

std::optional<OpcEndpoint> parse_opc_endpoint(std::string_view url) {
    constexpr std::string_view kScheme = "opc.tcp://";
    if (!url.starts_with(kScheme)) return std::nullopt;
    std::string_view rest = url.substr(kScheme.size());
    std::string_view authority = rest.substr(0, rest.find('/'));
    OpcEndpoint out;
    std::string_view host = authority;
    if (!authority.empty() && authority.front() == '[') {  // [::1]:4840
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = authority.substr(1, close - 1);
        authority.remove_prefix(close + 1);
        if (!authority.empty() && authority.front() != ':') return std::nullopt;
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        authority.remove_prefix(colon);
    } else {
        authority = {};
    }
    if (!authority.empty()) {  // ":port"
        std::string_view digits = authority.substr(1);
        if (digits.empty() || digits.size() > 5) return std::nullopt;
        uint32_t port = 0;
        for (char c : digits) {
            if (c < '0' || c > '9') return std::nullopt;
            port = port * 10 + static_cast<uint32_t>(c - '0');
        }
        if (port == 0 || port > 65535) return std::nullopt;
        out.port = static_cast<uint16_t>(port);
    }
    if (host.empty()) return std::nullopt;
    out.host = std::string(host);
    return out;
}

}  // namespace ib::drivers
