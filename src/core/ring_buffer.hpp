// A FIFO over one contiguous array, for per-session queues: unlike std::deque it
// allocates nothing while empty (libstdc++'s deque allocates a 512-byte block and
// a map on construction), and it reuses its array once grown. Removing from the
// middle is O(n), for rare paths such as dropping the oldest QoS 0 message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "core/assert.hpp"

namespace ib {

template <typename T>
class RingBuffer {
public:
    RingBuffer() = default;
    RingBuffer(const RingBuffer&) = delete;
    RingBuffer& operator=(const RingBuffer&) = delete;
    ~RingBuffer() { clear(); }

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    T& operator[](std::size_t i) { return slot(i); }
    const T& operator[](std::size_t i) const { return const_cast<RingBuffer*>(this)->slot(i); }
    T& front() { return slot(0); }

    void push_back(T value) {
        if (size_ == capacity_) grow();
        new (&raw(head_ + size_)) T(std::move(value));
        ++size_;
    }

    void pop_front() {
        IB_ASSERT(size_ > 0, "pop_front on an empty queue is a caller bug");
        slot(0).~T();
        head_ = (head_ + 1) & (capacity_ - 1);
        --size_;
    }

    // Removes element i, keeping the order of the others.
    void erase(std::size_t i) {
        IB_ASSERT(i < size_, "erase index within the queue");
        for (std::size_t k = i; k + 1 < size_; ++k) slot(k) = std::move(slot(k + 1));
        slot(size_ - 1).~T();
        --size_;
    }

    void clear() {
        while (size_ > 0) pop_front();
        head_ = 0;
    }

    // Gives the array back when empty.
    void release_if_empty() {
        if (size_ == 0 && capacity_ > 0) {
            data_.reset();
            capacity_ = 0;
            head_ = 0;
        }
    }

private:
    using Storage = std::aligned_storage_t<sizeof(T), alignof(T)>;
    T& raw(std::size_t i) { return *std::launder(reinterpret_cast<T*>(&data_[i & (capacity_ - 1)])); }
    T& slot(std::size_t i) { return raw(head_ + i); }

    void grow() {
        const std::size_t cap = capacity_ == 0 ? 4 : std::size_t{capacity_} * 2;  // power of two: masks, no modulo
        IB_ASSERT(cap <= UINT32_MAX, "queues are bounded far below 2^32 entries by the broker's limits");
        auto next = std::make_unique<Storage[]>(cap);
        for (std::size_t i = 0; i < size_; ++i) {
            new (&next[i]) T(std::move(slot(i)));
            slot(i).~T();
        }
        data_ = std::move(next);
        capacity_ = static_cast<uint32_t>(cap);
        head_ = 0;
    }

    std::unique_ptr<Storage[]> data_;
    // 32-bit counts: 8 bytes less per queue than size_t, and every session has two
    // (BENCHMARKS.md, (f)).
    uint32_t capacity_ = 0;
    uint32_t head_ = 0;
    uint32_t size_ = 0;
};

}  // namespace ib
