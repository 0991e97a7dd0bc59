// The retained message of each topic (§3.3.1.3), kept in a tree of topic levels
// so that a new subscription's filter walks only the branches it can match:
// "a/+/c" visits the children of "a", "#" at the end visits one subtree. It holds
// references to immutable Messages and never copies a payload. Not synchronized:
// the router wraps it in a mutex. It neither persists nor limits what it holds.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "mqtt/broker/message.hpp"
#include "mqtt/broker/topic_match.hpp"

namespace ib::mqtt::broker {

class RetainedStore {
public:
    RetainedStore() = default;
    RetainedStore(const RetainedStore&) = delete;
    RetainedStore& operator=(const RetainedStore&) = delete;

    // Stores or replaces the retained message for msg->topic() [MQTT-3.3.1-5]; an
    // empty payload removes it instead and is not stored [MQTT-3.3.1-6/7].
    // The topic is a valid Topic Name (no wildcards, checked by the codec).
    void set(MessageRef msg);

    // Removes the retained message of this topic, if there is one.
    void clear(std::string_view topic);

    // Calls visit(const MessageRef&) for every retained message whose topic
    // matches `filter`, a plain filter (wildcards allowed, no "$share/"; shared
    // subscriptions get no retained messages at subscribe time, §4.8.2). Follows
    // topic_matches(), so "+" and "#" at the start skip "$" topics [MQTT-4.7.2-1].
    // Expired messages (§3.3.2.3.3) are not visited; they are removed on the way.
    // visit must not modify the store. Order is unspecified.
    template <class Visit>
    void match(std::string_view filter, Clock::time_point now, Visit&& visit);

    // Calls visit(const MessageRef&) for every message held, expired or not
    // (for persistence and metrics; check expired() if it matters).
    template <class Visit>
    void for_each(Visit&& visit) const {
        for_each_below(root_, visit);
    }

    // The message retained on exactly this topic, or an empty ref. Does not look at expiry.
    MessageRef get(std::string_view topic) const;

    // Removes every expired message; returns how many. For a periodic sweep, so
    // that messages nobody subscribes to again do not hold memory forever.
    std::size_t remove_expired(Clock::time_point now);

    std::size_t size() const { return size_; }
    // Topic plus payload bytes of the messages held.
    std::size_t bytes() const { return bytes_; }

private:
    struct Node {
        LevelMap<std::unique_ptr<Node>> children;
        MessageRef msg;

        bool empty() const { return children.empty() && !msg; }
    };

    static std::size_t cost(const MessageRef& m) { return m->topic().size() + m->payload().size(); }
    void drop(Node& node) {
        bytes_ -= cost(node.msg);
        --size_;
        node.msg = MessageRef();
    }
    // Visits node's message unless it expired, in which case it goes.
    template <class Visit>
    void offer(Node& node, Clock::time_point now, Visit& visit) {
        if (!node.msg) return;
        if (node.msg->expired(now)) {
            drop(node);
            return;
        }
        visit(static_cast<const MessageRef&>(node.msg));
    }

    // Each returns true when `node` is left empty, so the caller (which holds the
    // iterator into its parent's map) erases it.
    template <class Visit>
    bool match_below(Node& node, LevelCursor cur, bool at_root, Clock::time_point now, Visit& visit);
    template <class Visit>
    bool visit_subtree(Node& node, bool at_root, Clock::time_point now, Visit& visit);
    template <class Visit>
    static void for_each_below(const Node& node, Visit& visit);
    bool sweep(Node& node, Clock::time_point now, std::size_t& removed);

    // [MQTT-4.7.2-1]: at the root, a wildcard level skips the '$' children.
    static bool skip_for_wildcard(bool at_root, std::string_view level) {
        return at_root && !level.empty() && level.front() == '$';
    }

    Node root_;
    std::size_t size_ = 0;
    std::size_t bytes_ = 0;
};

template <class Visit>
bool RetainedStore::visit_subtree(Node& node, bool at_root, Clock::time_point now, Visit& visit) {
    offer(node, now, visit);
    const std::size_t before = node.children.size();
    for (auto it = node.children.begin(); it != node.children.end();) {
        if (!skip_for_wildcard(at_root, it->first) &&
            visit_subtree(*it->second, false, now, visit)) {
            it = node.children.erase(it);
        } else {
            ++it;
        }
    }
    if (node.children.size() != before) give_back_buckets(node.children);
    return node.empty();
}

template <class Visit>
bool RetainedStore::match_below(Node& node, LevelCursor cur, bool at_root, Clock::time_point now,
                                Visit& visit) {
    if (cur.done()) {
        offer(node, now, visit);
        return node.empty();
    }
    const std::string_view level = cur.next();
    const std::size_t before = node.children.size();
    if (level == kMultiLevelWildcard) {
        // '#' is the last level [MQTT-4.7.1-1] and matches the parent too:
        // "sport/#" matches "sport" (§4.7.1.2). The root holds no message.
        visit_subtree(node, at_root, now, visit);
    } else if (level == kSingleLevelWildcard) {
        for (auto it = node.children.begin(); it != node.children.end();) {
            if (!skip_for_wildcard(at_root, it->first) &&
                match_below(*it->second, cur, false, now, visit)) {
                it = node.children.erase(it);
            } else {
                ++it;
            }
        }
    } else if (auto it = node.children.find(level); it != node.children.end()) {
        if (match_below(*it->second, cur, false, now, visit)) node.children.erase(it);
    }
    if (node.children.size() != before) give_back_buckets(node.children);
    return node.empty();
}

template <class Visit>
void RetainedStore::match(std::string_view filter, Clock::time_point now, Visit&& visit) {
    match_below(root_, LevelCursor(filter), true, now, visit);
}

template <class Visit>
void RetainedStore::for_each_below(const Node& node, Visit& visit) {
    if (node.msg) visit(node.msg);
    for (const auto& [level, child] : node.children) for_each_below(*child, visit);
}

}  // namespace ib::mqtt::broker
