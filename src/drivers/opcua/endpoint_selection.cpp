// Endpoint selection: filter by what we speak and what was asked, then rank.
#include "drivers/opcua/endpoint_selection.hpp"

#include <algorithm>

namespace ib::drivers::opcua {

namespace {

constexpr std::string_view kBinaryTransport = "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary";

std::string_view mode_name(MessageSecurityMode mode) {
    switch (mode) {
        case MessageSecurityMode::None: return "None";
        case MessageSecurityMode::Sign: return "Sign";
        case MessageSecurityMode::SignAndEncrypt: return "SignAndEncrypt";
        case MessageSecurityMode::Invalid: break;
    }
    return "Invalid";
}

std::string_view token_name(UserTokenType type) {
    switch (type) {
        case UserTokenType::Anonymous: return "anonymous";
        case UserTokenType::UserName: return "user name";
        case UserTokenType::Certificate: return "certificate";
        case UserTokenType::IssuedToken: return "issued token";
    }
    return "?";
}

bool policy_matches(const EndpointDescription& e, SecurityPolicy wanted) {
    const bool none = e.security_policy_uri == kSecurityPolicyNone && e.security_mode == MessageSecurityMode::None;
    if (wanted == SecurityPolicy::None) return none;
    const PolicyAlgorithms* ours = policy_by_uri(e.security_policy_uri);
    if (ours == nullptr || e.security_mode == MessageSecurityMode::None) return false;
    return wanted == SecurityPolicy::Best || ours->policy == wanted;
}

bool mode_matches(const EndpointDescription& e, MessageSecurityMode wanted) {
    return wanted == MessageSecurityMode::Invalid || e.security_mode == wanted;
}

}  // namespace

const UserTokenPolicy* token_policy(const EndpointDescription& endpoint, UserTokenType type) {
    for (const UserTokenPolicy& p : endpoint.user_identity_tokens) {
        if (p.token_type == type) return &p;
    }
    return nullptr;
}

std::string describe(const EndpointDescription& endpoint) {
    return std::string(policy_name(endpoint.security_policy_uri)) + "/" + std::string(mode_name(endpoint.security_mode));
}

std::expected<EndpointDescription, std::string> select_endpoint(const std::vector<EndpointDescription>& offered,
                                                                const EndpointWanted& wanted) {
    std::vector<const EndpointDescription*> fit;
    for (const EndpointDescription& e : offered) {
        if (!e.transport_profile_uri.empty() && e.transport_profile_uri != kBinaryTransport) continue;
        if (policy_matches(e, wanted.policy) && mode_matches(e, wanted.mode) && token_policy(e, wanted.identity)) {
            fit.push_back(&e);
        }
    }
    if (fit.empty()) {
        std::string why = "no endpoint offers " + std::string(policy_name(wanted.policy)) +
                          (wanted.mode == MessageSecurityMode::Invalid ? "" : "/" + std::string(mode_name(wanted.mode))) +
                          " with " + std::string(token_name(wanted.identity)) + " login; the server offers:";
        for (const EndpointDescription& e : offered) {
            why += " " + describe(e) + " (";
            for (std::size_t i = 0; i < e.user_identity_tokens.size(); ++i) {
                why += (i == 0 ? "" : ", ") + std::string(token_name(e.user_identity_tokens[i].token_type));
            }
            why += ")";
        }
        if (offered.empty()) why += " nothing";
        if (wanted.policy == SecurityPolicy::Best) why += " (policy None is used only when asked for by name)";
        return std::unexpected(why);
    }
    const auto strength = [](const EndpointDescription* e) {
        const PolicyAlgorithms* p = policy_by_uri(e->security_policy_uri);
        return std::tuple(e->security_level, p != nullptr ? p->rank : 0, static_cast<int32_t>(e->security_mode));
    };
    return **std::max_element(fit.begin(), fit.end(),
                              [&](const auto* a, const auto* b) { return strength(a) < strength(b); });
}

}  // namespace ib::drivers::opcua
