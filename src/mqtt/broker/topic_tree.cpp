#include "mqtt/broker/topic_tree.hpp"

#include "core/assert.hpp"

namespace ib::mqtt::broker {

namespace {

// A filter split into the share group (empty for an ordinary subscription) and
// the plain filter the tree is built from.
struct SplitFilter {
    std::string_view group;
    std::string_view plain;
};

std::optional<SplitFilter> split(std::string_view filter) {
    auto shared = parse_shared(filter);
    if (!shared) return std::nullopt;
    SplitFilter out{{}, filter};
    if (*shared) out = {(*shared)->group, (*shared)->filter};
    if (!filter_wildcards_valid(out.plain)) return std::nullopt;
    return out;
}

auto lower_bound_subscriber(std::vector<Subscription>& list, SubscriberId id) {
    return std::ranges::lower_bound(list, id, {}, &Subscription::subscriber);
}

}  // namespace

bool TopicTree::subscribe(std::string_view filter, const Subscription& sub) {
    const auto parts = split(filter);
    IB_ASSERT(parts.has_value(),
              "filters are validated by the session before they reach the tree "
              "(parse_shared, filter_wildcards_valid; 0x8F otherwise)");
    ++generation_;

    Node* node = &root_;
    LevelCursor cur(parts->plain);
    while (!cur.done()) {
        const std::string_view level = cur.next();
        std::unique_ptr<Node>* slot = nullptr;
        if (level == kSingleLevelWildcard) {
            slot = &node->plus;
        } else if (level == kMultiLevelWildcard) {
            slot = &node->hash;
        } else {
            auto it = node->children.find(level);
            if (it == node->children.end()) {
                it = node->children.emplace(std::string(level), nullptr).first;
            }
            slot = &it->second;
        }
        if (!*slot) {
            *slot = std::make_unique<Node>();
            ++nodes_;
        }
        node = slot->get();
    }

    std::vector<Subscription>* list = &node->subs;
    if (!parts->group.empty()) {
        auto g = std::ranges::find_if(node->shared,
                                      [&](const auto& sg) { return sg->name == parts->group; });
        if (g == node->shared.end()) {
            node->shared.push_back(std::make_unique<SharedGroup>());
            node->shared.back()->name = std::string(parts->group);
            g = node->shared.end() - 1;
        }
        list = &(*g)->members;
    }
    auto it = lower_bound_subscriber(*list, sub.subscriber);
    if (it != list->end() && it->subscriber == sub.subscriber) {
        // [MQTT-3.8.4-3] An identical Topic Filter from the same session replaces
        // the existing Subscription's options.
        *it = sub;
        return false;
    }
    list->insert(it, sub);
    ++size_;
    return true;
}

bool TopicTree::unsubscribe(std::string_view filter, SubscriberId subscriber) {
    const auto parts = split(filter);
    // Nothing malformed was ever stored (subscribe() asserts), so nothing to remove.
    if (!parts) return false;
    ++generation_;

    // The path from the root, kept so emptied nodes can be freed bottom-up. This
    // is the cold path: allocating the path here is fine.
    struct Step {
        Node* parent;
        std::string_view level;
    };
    std::vector<Step> path;
    path.reserve(topic_depth(parts->plain));

    Node* node = &root_;
    LevelCursor cur(parts->plain);
    while (!cur.done()) {
        const std::string_view level = cur.next();
        Node* child = nullptr;
        if (level == kSingleLevelWildcard) {
            child = node->plus.get();
        } else if (level == kMultiLevelWildcard) {
            child = node->hash.get();
        } else if (auto it = node->children.find(level); it != node->children.end()) {
            child = it->second.get();
        }
        if (!child) return false;
        path.push_back({node, level});
        node = child;
    }

    if (parts->group.empty()) {
        auto& subs = node->subs;
        auto it = lower_bound_subscriber(subs, subscriber);
        if (it == subs.end() || it->subscriber != subscriber) return false;
        subs.erase(it);
        if (subs.empty()) subs.shrink_to_fit();
    } else {
        auto g = std::ranges::find_if(node->shared,
                                      [&](const auto& sg) { return sg->name == parts->group; });
        if (g == node->shared.end()) return false;
        auto& members = (*g)->members;
        auto it = lower_bound_subscriber(members, subscriber);
        if (it == members.end() || it->subscriber != subscriber) return false;
        members.erase(it);
        // A group lives as long as it has members: match() relies on that.
        if (members.empty()) {
            node->shared.erase(g);
            if (node->shared.empty()) node->shared.shrink_to_fit();
        }
    }
    --size_;

    // Free the nodes that are left with nothing, deepest first.
    for (auto step = path.rbegin(); step != path.rend() && node->empty(); ++step) {
        Node* parent = step->parent;
        if (step->level == kSingleLevelWildcard) {
            parent->plus.reset();
        } else if (step->level == kMultiLevelWildcard) {
            parent->hash.reset();
        } else {
            parent->children.erase(parent->children.find(step->level));
            give_back_buckets(parent->children);
        }
        --nodes_;
        node = parent;
    }
    return true;
}

const TopicTree::Node* TopicTree::find_node(std::string_view plain) const {
    const Node* node = &root_;
    LevelCursor cur(plain);
    while (node && !cur.done()) {
        const std::string_view level = cur.next();
        if (level == kSingleLevelWildcard) {
            node = node->plus.get();
        } else if (level == kMultiLevelWildcard) {
            node = node->hash.get();
        } else {
            auto it = node->children.find(level);
            node = it == node->children.end() ? nullptr : it->second.get();
        }
    }
    return node;
}

const Subscription* TopicTree::find(std::string_view filter, SubscriberId subscriber) const {
    const auto parts = split(filter);
    if (!parts) return nullptr;
    const Node* node = find_node(parts->plain);
    if (!node) return nullptr;
    const std::vector<Subscription>* list = &node->subs;
    if (!parts->group.empty()) {
        auto g = std::ranges::find_if(node->shared,
                                      [&](const auto& sg) { return sg->name == parts->group; });
        if (g == node->shared.end()) return nullptr;
        list = &(*g)->members;
    }
    auto it = std::ranges::lower_bound(*list, subscriber, {}, &Subscription::subscriber);
    return it != list->end() && it->subscriber == subscriber ? &*it : nullptr;
}

}  // namespace ib::mqtt::broker
