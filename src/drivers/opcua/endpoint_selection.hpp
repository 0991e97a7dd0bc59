// Which of the server's endpoints (GetEndpoints, OPC 10000-4 §5.4.4) a client
// uses: secure by default. With policy `Best`, the most secure endpoint we
// support (the server's securityLevel first, then our own ranking of policy
// and mode); `None` only when asked for by name; always one that offers the
// user identity we log in with (§7.37).
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "drivers/opcua/security_policy.hpp"
#include "drivers/opcua/session_services.hpp"

namespace ib::drivers::opcua {

struct EndpointWanted {
    SecurityPolicy policy = SecurityPolicy::Best;
    MessageSecurityMode mode = MessageSecurityMode::Invalid;  // Invalid: any secured mode
    UserTokenType identity = UserTokenType::Anonymous;
};

// The chosen endpoint, or a message listing what the server offers.
std::expected<EndpointDescription, std::string> select_endpoint(const std::vector<EndpointDescription>& offered,
                                                                const EndpointWanted& wanted);

// The endpoint's UserTokenPolicy for this kind of identity; null when it has none.
const UserTokenPolicy* token_policy(const EndpointDescription& endpoint, UserTokenType type);

// "Basic256Sha256/SignAndEncrypt", for messages.
std::string describe(const EndpointDescription& endpoint);

}  // namespace ib::drivers::opcua
