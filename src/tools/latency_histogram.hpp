// A fixed-size log-linear latency histogram for the load generator: recording
// is a few integer operations and never allocates, so it can run per message on
// the receive path. Values are nanoseconds; relative error is below 1/64 (1.6%).
// One histogram per thread, merged after the threads have joined; not thread-safe.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace ib::tools {

class LatencyHistogram {
public:
    // Sub-buckets per power of two: 64 keeps the error under 1.6%, which is far
    // below run-to-run noise, while the whole table stays ~19 KiB.
    static constexpr unsigned kSubBits = 6;
    static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
    // Values up to 2^40 ns (~18 minutes); anything longer lands in the last bucket.
    static constexpr unsigned kMaxExp = 40;
    // Bucket rows: one for values below kSub, then one per exponent kSubBits..kMaxExp.
    static constexpr std::size_t kBuckets = (kMaxExp - kSubBits + 2) * kSub;

    void record(uint64_t ns) {
        ++counts_[index_of(ns)];
        ++total_;
        if (ns > max_) max_ = ns;
        if (ns < min_) min_ = ns;
        sum_ += ns;
    }

    void merge(const LatencyHistogram& other) {
        for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
        total_ += other.total_;
        sum_ += other.sum_;
        if (other.max_ > max_) max_ = other.max_;
        if (other.min_ < min_) min_ = other.min_;
    }

    uint64_t count() const { return total_; }
    uint64_t max() const { return max_; }
    uint64_t min() const { return total_ ? min_ : 0; }
    double mean() const { return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0.0; }

    // The value at quantile q (0..1): the midpoint of the bucket holding the
    // ceil(q * count)-th smallest sample, clamped to the observed maximum.
    uint64_t quantile(double q) const;

private:
    // Values below kSub map one-to-one; above, the top kSubBits+1 significant
    // bits select the bucket, so each power of two is split into kSub equal parts.
    static std::size_t index_of(uint64_t v) {
        if (v < kSub) return static_cast<std::size_t>(v);
        unsigned exp = 63u - static_cast<unsigned>(std::countl_zero(v));  // v >= 2^exp
        if (exp > kMaxExp) return kBuckets - 1;
        unsigned shift = exp - kSubBits;
        return static_cast<std::size_t>((shift + 1) * kSub + ((v >> shift) - kSub));
    }
    static uint64_t lower_bound_of(std::size_t index);
    static uint64_t width_of(std::size_t index);

    std::array<uint64_t, kBuckets> counts_{};
    uint64_t total_ = 0;
    uint64_t sum_ = 0;
    uint64_t max_ = 0;
    uint64_t min_ = UINT64_MAX;
};

}  // namespace ib::tools
