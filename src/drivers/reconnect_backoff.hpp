// The wait before a driver's next reconnect attempt: from the shortest,
// doubling up to the longest, each wait jittered by ±20 % so that gateways
// restarting together (after a power cut) do not reconnect in step.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace ib::drivers {

class ReconnectBackoff {
public:
    ReconnectBackoff(std::chrono::milliseconds shortest, std::chrono::milliseconds longest)
        : shortest_(shortest), longest_(longest), current_(shortest), rng_(std::random_device{}()) {}

    // Back to the shortest wait: the link came up.
    void reset() { current_ = shortest_; }

    // The wait before the next attempt; the one after it is twice as long.
    std::chrono::milliseconds next() {
        std::uniform_real_distribution<double> jitter(0.8, 1.2);
        const auto wait = std::chrono::milliseconds(
            static_cast<int64_t>(static_cast<double>(current_.count()) * jitter(rng_)));
        current_ = std::min(current_ * 2, longest_);
        return wait;
    }

private:
    std::chrono::milliseconds shortest_, longest_, current_;
    std::mt19937 rng_;
};

}  // namespace ib::drivers
