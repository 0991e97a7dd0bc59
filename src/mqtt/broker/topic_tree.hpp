// The broker's subscription index: which subscriptions match a published topic.
// One node per filter level, '+' and '#' children kept apart from literal ones, so a
// match costs a hash lookup per topic level plus the wildcard branches, never a scan.
// Not synchronized: the router holds it under a shared_mutex (match() shared, the
// rest exclusive). It knows nothing of sessions, ACLs or retained messages.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mqtt/broker/subscription.hpp"
#include "mqtt/broker/topic_match.hpp"

namespace ib::mqtt::broker {

class TopicTree {
public:
    TopicTree() = default;
    TopicTree(const TopicTree&) = delete;
    TopicTree& operator=(const TopicTree&) = delete;

    // Adds a subscription, or replaces the options of the one this subscriber
    // already has on the same filter string ([MQTT-3.8.4-3]); the share group is
    // part of that string, so "a/b", "$share/g/a/b" and "$share/h/a/b" are three
    // different subscriptions. Returns true when it is new, false when it replaced.
    // Precondition: the filter was accepted at the boundary, that is
    // parse_shared() succeeded and filter_wildcards_valid() holds for the
    // plain filter (the session answers 0x8F otherwise); checked by IB_ASSERT.
    bool subscribe(std::string_view filter, const Subscription& sub);

    // Returns true when a subscription existed and was removed. Nodes left with
    // nothing are freed up to the root. A malformed filter removes nothing.
    bool unsubscribe(std::string_view filter, SubscriberId subscriber);

    // Calls visit once per matching ordinary subscription and, for each matching
    // shared subscription (group + filter), once for ONE member chosen round-robin
    // per group (§4.8.2). The same subscriber may be visited several times when
    // several of its filters match; the broker merges (§3.3.4). Order is unspecified.
    //   visit(const Subscription&) or visit(const Subscription&, std::string_view group),
    //   where group is the ShareName, empty for an ordinary subscription.
    // With `eligible(SubscriberId) -> bool`, a group skips members for which it is
    // false (offline sessions); when none is eligible, the member whose turn it is
    // gets the message anyway. visit must not modify the tree.
    // Allocates nothing. Recursion depth is at most the depth of the deepest
    // matching filter, which the broker bounds by max_topic_depth.
    template <class Visit>
    void match(std::string_view topic, Visit&& visit) const {
        match(topic, visit, [](SubscriberId) { return true; });
    }
    template <class Visit, class Eligible>
    void match(std::string_view topic, Visit&& visit, Eligible&& eligible) const;

    // Number of subscriptions, shared members included.
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    // Number of nodes below the root: proves pruning in tests, a gauge for metrics.
    std::size_t node_count() const { return nodes_; }

    // Changes with every subscribe and unsubscribe that is called (a new or
    // replaced subscription, one removed): a match remembered at one generation
    // (MatchCache) is what match() would still answer while it is unchanged.
    // Starts at 1.
    uint64_t generation() const { return generation_; }

    // The subscription a subscriber holds on this exact filter string, or nullptr.
    // The pointer is valid until the next subscribe or unsubscribe.
    const Subscription* find(std::string_view filter, SubscriberId subscriber) const;

private:
    // One shared subscription: a ShareName on one filter, and its members.
    struct SharedGroup {
        std::string name;
        std::vector<Subscription> members;  // sorted by subscriber, never empty
        // The only state match() changes. Relaxed: concurrent matches may pick the
        // same member now and then, which costs fairness, never correctness.
        mutable std::atomic<uint32_t> cursor{0};
    };

    struct Node {
        LevelMap<std::unique_ptr<Node>> children;  // literal levels
        std::unique_ptr<Node> plus;                // '+'
        std::unique_ptr<Node> hash;                // '#': always a leaf [MQTT-4.7.1-1]
        std::vector<Subscription> subs;            // ordinary, sorted by subscriber
        std::vector<std::unique_ptr<SharedGroup>> shared;  // few per node: linear search

        bool empty() const {
            return children.empty() && !plus && !hash && subs.empty() && shared.empty();
        }
    };

    template <class Visit, class Eligible>
    static void match_below(const Node& node, LevelCursor cur, Visit& visit, Eligible& eligible);
    template <class Visit, class Eligible>
    static void deliver(const Node& node, Visit& visit, Eligible& eligible);
    template <class Visit>
    static void call(Visit& visit, const Subscription& sub, std::string_view group);

    // The node for a plain filter, or nullptr.
    const Node* find_node(std::string_view filter) const;

    Node root_;
    std::size_t size_ = 0;
    std::size_t nodes_ = 0;
    uint64_t generation_ = 1;
};

template <class Visit>
void TopicTree::call(Visit& visit, const Subscription& sub, std::string_view group) {
    if constexpr (std::is_invocable_v<Visit&, const Subscription&, std::string_view>) {
        visit(sub, group);
    } else {
        visit(sub);
    }
}

template <class Visit, class Eligible>
void TopicTree::deliver(const Node& node, Visit& visit, Eligible& eligible) {
    for (const Subscription& sub : node.subs) call(visit, sub, {});
    for (const auto& group : node.shared) {
        const auto& members = group->members;
        const auto n = static_cast<uint32_t>(members.size());
        const uint32_t turn = group->cursor.fetch_add(1, std::memory_order_relaxed);
        const Subscription* chosen = &members[turn % n];
        for (uint32_t skip = 0; skip < n; ++skip) {
            const Subscription& m = members[(turn + skip) % n];
            if (eligible(m.subscriber)) {
                chosen = &m;
                // Move the cursor past the skipped members too, so the member after
                // an offline one does not get two turns in a row.
                if (skip != 0) group->cursor.fetch_add(skip, std::memory_order_relaxed);
                break;
            }
        }
        call(visit, *chosen, group->name);
    }
}

// `node` stands for the levels already consumed; `cur` holds the rest of the topic.
template <class Visit, class Eligible>
void TopicTree::match_below(const Node& node, LevelCursor cur, Visit& visit, Eligible& eligible) {
    // A '#' child matches every remaining level, and none: "sport/#" matches
    // "sport" as well as "sport/tennis/player1" (§4.7.1.2).
    if (node.hash) deliver(*node.hash, visit, eligible);
    if (cur.done()) {
        deliver(node, visit, eligible);
        return;
    }
    const std::string_view level = cur.next();
    if (!node.children.empty()) {
        if (auto it = node.children.find(level); it != node.children.end()) {
            match_below(*it->second, cur, visit, eligible);
        }
    }
    // '+' matches exactly one level, an empty one included (§4.7.1.3).
    if (node.plus) match_below(*node.plus, cur, visit, eligible);
}

template <class Visit, class Eligible>
void TopicTree::match(std::string_view topic, Visit&& visit, Eligible&& eligible) const {
    // [MQTT-4.7.2-1] Filters starting with '#' or '+' do not match topics starting
    // with '$'; those filters are exactly the root's wildcard children.
    const bool system = !topic.empty() && topic.front() == '$';
    if (root_.hash && !system) deliver(*root_.hash, visit, eligible);
    LevelCursor cur(topic);
    const std::string_view first = cur.next();
    if (auto it = root_.children.find(first); it != root_.children.end()) {
        match_below(*it->second, cur, visit, eligible);
    }
    if (root_.plus && !system) match_below(*root_.plus, cur, visit, eligible);
}

}  // namespace ib::mqtt::broker
