#include "tools/latency_histogram.hpp"

#include <cmath>

namespace ib::tools {

uint64_t LatencyHistogram::lower_bound_of(std::size_t index) {
    if (index < kSub) return index;
    std::size_t shift = index / kSub - 1;
    return (kSub + index % kSub) << shift;
}

uint64_t LatencyHistogram::width_of(std::size_t index) {
    if (index < kSub) return 1;
    return uint64_t{1} << (index / kSub - 1);
}

uint64_t LatencyHistogram::quantile(double q) const {
    if (total_ == 0) return 0;
    if (q <= 0.0) return min();
    // Rank of the sample wanted, 1-based: p99 of 100 samples is the 99th.
    auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total_)));
    if (rank < 1) rank = 1;
    if (rank > total_) rank = total_;
    uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            uint64_t mid = lower_bound_of(i) + width_of(i) / 2;
            if (mid > max_) mid = max_;
            if (mid < min_) mid = min_;
            return mid;
        }
    }
    return max_;
}

}  // namespace ib::tools
