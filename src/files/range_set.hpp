// Which byte ranges of a file have arrived: segments may come in any order, be
// sent again or overlap, and fin must name the first range still missing.
// Ranges are half-open [begin, end), kept merged.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>

namespace ib::files {

class RangeSet {
public:
    void add(uint64_t begin, uint64_t end);
    // The first range of [0, size) not covered, or nullopt when all of it is.
    std::optional<std::pair<uint64_t, uint64_t>> first_gap(uint64_t size) const;
    // Bytes covered (overlaps counted once).
    uint64_t covered() const;
    // The end of the range that starts at 0: everything below it has arrived.
    uint64_t contiguous() const;
    bool empty() const { return ranges_.empty(); }
    void clear() { ranges_.clear(); }
    std::size_t pieces() const { return ranges_.size(); }

private:
    std::map<uint64_t, uint64_t> ranges_;  // begin -> end
};

}  // namespace ib::files
