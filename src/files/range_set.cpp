#include "files/range_set.hpp"

namespace ib::files {

void RangeSet::add(uint64_t begin, uint64_t end) {
    if (begin >= end) return;
    // Merge with a range that starts before and reaches `begin`...
    auto it = ranges_.upper_bound(begin);
    if (it != ranges_.begin()) {
        auto prev = std::prev(it);
        if (prev->second >= begin) {
            if (prev->second >= end) return;  // already covered
            begin = prev->first;
            it = prev;
        }
    }
    // ...and with every range that starts inside [begin, end].
    while (it != ranges_.end() && it->first <= end) {
        if (it->second > end) end = it->second;
        it = ranges_.erase(it);
    }
    ranges_.emplace(begin, end);
}

std::optional<std::pair<uint64_t, uint64_t>> RangeSet::first_gap(uint64_t size) const {
    uint64_t at = 0;
    for (const auto& [b, e] : ranges_) {
        if (at >= size) break;
        if (b > at) return std::pair{at, b < size ? b : size};
        if (e > at) at = e;
    }
    if (at < size) return std::pair{at, size};
    return std::nullopt;
}

uint64_t RangeSet::covered() const {
    uint64_t n = 0;
    for (const auto& [b, e] : ranges_) n += e - b;
    return n;
}

uint64_t RangeSet::contiguous() const {
    if (ranges_.empty() || ranges_.begin()->first != 0) return 0;
    return ranges_.begin()->second;
}

}  // namespace ib::files
