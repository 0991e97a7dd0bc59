#include "files/range_set.hpp"

#include <gtest/gtest.h>

namespace ib::files {
namespace {

TEST(RangeSet, MergesOverlapsAndRetransmissions) {
    RangeSet s;
    s.add(100, 200);
    s.add(300, 400);
    s.add(150, 350);  // bridges both
    s.add(100, 200);  // sent again
    EXPECT_EQ(s.pieces(), 1u);
    EXPECT_EQ(s.covered(), 300u);
    s.add(0, 100);  // touching: merged
    EXPECT_EQ(s.pieces(), 1u);
    EXPECT_EQ(s.contiguous(), 400u);
}

TEST(RangeSet, NamesTheFirstGap) {
    RangeSet s;
    EXPECT_EQ(s.first_gap(10), (std::pair<uint64_t, uint64_t>{0, 10}));
    EXPECT_FALSE(s.first_gap(0));  // an empty file has no gap
    s.add(0, 5);
    s.add(8, 20);
    EXPECT_EQ(s.first_gap(10), (std::pair<uint64_t, uint64_t>{5, 8}));
    s.add(5, 8);
    EXPECT_FALSE(s.first_gap(10));  // beyond the size is not a gap
    EXPECT_EQ(s.first_gap(30), (std::pair<uint64_t, uint64_t>{20, 30}));
}

}  // namespace
}  // namespace ib::files
