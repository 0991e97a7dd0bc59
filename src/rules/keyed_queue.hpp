// Rows waiting for a service (an HTTP endpoint, a gRPC method), in order per key:
// the rows of one key go one at a time in the order they came, while rows of
// different keys may be in flight together (the caller bounds how many). The
// queue is bounded in rows. No I/O: HttpSink and GrpcSink drive it.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace ib::rules {

template <class T>
class KeyedQueue {
public:
    explicit KeyedQueue(std::size_t max_rows) : max_rows_(max_rows) {}

    // False, keeping nothing, when max_rows rows wait already.
    bool push(const std::string& key, T item) {
        if (size_ >= max_rows_) return false;
        Lane& lane = lanes_[key];
        lane.rows.push_back(std::move(item));
        ++size_;
        if (!lane.in_flight && lane.rows.size() == 1) ready_.push_back(key);
        return true;
    }

    // The oldest waiting row of a key with nothing in flight, now in flight.
    std::optional<std::pair<std::string, T>> take() {
        if (ready_.empty()) return std::nullopt;
        std::string key = std::move(ready_.front());
        ready_.pop_front();
        Lane& lane = lanes_.at(key);
        lane.in_flight = true;
        T item = std::move(lane.rows.front());
        lane.rows.pop_front();
        --size_;
        return std::pair<std::string, T>{std::move(key), std::move(item)};
    }

    // The key's row in flight is done: its next row may go.
    void finish(const std::string& key) {
        auto it = lanes_.find(key);
        if (it == lanes_.end()) return;
        it->second.in_flight = false;
        if (it->second.rows.empty()) {
            lanes_.erase(it);
        } else {
            ready_.push_back(key);
        }
    }

    // Rows waiting, not counting those in flight.
    std::size_t size() const { return size_; }
    std::size_t max_rows() const { return max_rows_; }

private:
    struct Lane {
        std::deque<T> rows;
        bool in_flight = false;
    };
    std::unordered_map<std::string, Lane> lanes_;
    std::deque<std::string> ready_;  // keys with a row waiting and none in flight, oldest first
    std::size_t size_ = 0;
    std::size_t max_rows_;
};

}  // namespace ib::rules
