// One subscription as the topic tree stores it.
#pragma once

#include <cstdint>

namespace ib::mqtt::broker {

// Identifies a subscriber: a session (network client) or an in-process
// subscriber of the router. Unique for the life of the process.
using SubscriberId = uint64_t;

struct SubscriptionOptions {
    uint8_t qos = 0;
    bool no_local = false;
    bool retain_as_published = false;
    uint8_t retain_handling = 0;
    uint32_t subscription_id = 0;  // 0: none (§3.8.2.1.2)
};

struct Subscription {
    SubscriberId subscriber = 0;
    SubscriptionOptions options;
};

}  // namespace ib::mqtt::broker
