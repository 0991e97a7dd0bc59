// What TopicTree::match found for the topics a shard routed last, so that a
// publisher sending on the same topic again (the common case: a device publishes
// on its own few topics) skips the walk down the tree, the list built from it and
// its sort. An entry is valid only for the tree generation it was filled at: any
// subscribe or unsubscribe on the shard's replica bumps the generation, and every
// older entry misses from then on. A match that reached a shared subscription is
// never stored, since the member chosen changes with every message (§4.8.2).
// Direct-mapped, kEntries slots, allocated at the first store: a shard that routes
// nothing holds none. One shard's thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "mqtt/broker/subscription.hpp"
#include "mqtt/broker/topic_match.hpp"

namespace ib::mqtt::broker {

class MatchCache {
public:
    static constexpr std::size_t kEntries = 64;  // a power of two
    // Longer topics are not cached: the key is kept inline, never allocated.
    static constexpr std::size_t kMaxTopic = 96;
    // Larger match lists are not cached, which bounds what the cache holds.
    static constexpr std::size_t kMaxMatches = 256;

    // The matches stored for `topic` at `generation` (sorted by subscriber as
    // stored), or nullopt. The span is valid until the next store().
    std::optional<std::span<const Subscription>> find(std::string_view topic, uint64_t generation) const {
        if (!entries_ || topic.size() > kMaxTopic) return std::nullopt;
        const Entry& e = (*entries_)[slot(topic)];
        if (e.generation != generation || e.topic_len != topic.size() ||
            std::memcmp(e.topic.data(), topic.data(), topic.size()) != 0) {
            return std::nullopt;
        }
        return std::span<const Subscription>(e.matches);
    }

    // Remembers `matches` for `topic` at `generation`, replacing what its slot held.
    // Allocates only the first time and when a slot's list outgrows its capacity.
    void store(std::string_view topic, uint64_t generation, std::span<const Subscription> matches) {
        if (topic.size() > kMaxTopic || matches.size() > kMaxMatches) return;
        if (!entries_) entries_ = std::make_unique<std::array<Entry, kEntries>>();
        Entry& e = (*entries_)[slot(topic)];
        e.generation = generation;
        e.topic_len = static_cast<uint8_t>(topic.size());
        std::memcpy(e.topic.data(), topic.data(), topic.size());
        e.matches.assign(matches.begin(), matches.end());
    }

private:
    struct Entry {
        uint64_t generation = 0;  // TopicTree generations start at 1: 0 is an empty slot
        uint8_t topic_len = 0;
        std::array<char, kMaxTopic> topic{};
        std::vector<Subscription> matches;
    };
    static std::size_t slot(std::string_view topic) { return LevelHash{}(topic) & (kEntries - 1); }

    std::unique_ptr<std::array<Entry, kEntries>> entries_;
};

}  // namespace ib::mqtt::broker
