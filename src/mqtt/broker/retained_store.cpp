#include "mqtt/broker/retained_store.hpp"

#include <vector>

#include "core/assert.hpp"

namespace ib::mqtt::broker {

void RetainedStore::set(MessageRef msg) {
    IB_ASSERT(msg, "the router passes the message it is publishing, never an empty ref");
    // [MQTT-3.3.1-6] A retained PUBLISH with a zero-byte payload removes the
    // retained message of its topic; [MQTT-3.3.1-7] and is not stored itself.
    if (msg->payload().empty()) {
        clear(msg->topic());
        return;
    }
    Node* node = &root_;
    LevelCursor cur(msg->topic());
    while (!cur.done()) {
        const std::string_view level = cur.next();
        auto it = node->children.find(level);
        if (it == node->children.end()) {
            it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
        }
        node = it->second.get();
    }
    // [MQTT-3.3.1-5] The new message replaces any existing one for this topic.
    if (node->msg) {
        bytes_ -= cost(node->msg);
    } else {
        ++size_;
    }
    bytes_ += cost(msg);
    node->msg = std::move(msg);
}

void RetainedStore::clear(std::string_view topic) {
    // The path is kept to free emptied nodes bottom-up; clearing is rare enough
    // that allocating it is fine.
    std::vector<std::pair<Node*, LevelMap<std::unique_ptr<Node>>::iterator>> path;
    Node* node = &root_;
    LevelCursor cur(topic);
    while (!cur.done()) {
        auto it = node->children.find(cur.next());
        if (it == node->children.end()) return;
        path.emplace_back(node, it);
        node = it->second.get();
    }
    if (!node->msg) return;
    drop(*node);
    for (auto step = path.rbegin(); step != path.rend() && node->empty(); ++step) {
        Node* parent = step->first;
        parent->children.erase(step->second);
        give_back_buckets(parent->children);
        node = parent;
    }
}

MessageRef RetainedStore::get(std::string_view topic) const {
    const Node* node = &root_;
    LevelCursor cur(topic);
    while (!cur.done()) {
        auto it = node->children.find(cur.next());
        if (it == node->children.end()) return {};
        node = it->second.get();
    }
    return node->msg;
}

bool RetainedStore::sweep(Node& node, Clock::time_point now, std::size_t& removed) {
    if (node.msg && node.msg->expired(now)) {
        drop(node);
        ++removed;
    }
    const std::size_t before = node.children.size();
    for (auto it = node.children.begin(); it != node.children.end();) {
        if (sweep(*it->second, now, removed)) {
            it = node.children.erase(it);
        } else {
            ++it;
        }
    }
    if (node.children.size() != before) give_back_buckets(node.children);
    return node.empty();
}

std::size_t RetainedStore::remove_expired(Clock::time_point now) {
    std::size_t removed = 0;
    sweep(root_, now, removed);
    return removed;
}

}  // namespace ib::mqtt::broker
