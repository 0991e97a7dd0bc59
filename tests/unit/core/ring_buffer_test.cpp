#include "core/ring_buffer.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace ib {
namespace {

TEST(RingBuffer, KeepsFifoOrderAcrossGrowthAndWrap) {
    RingBuffer<int> q;
    int next_in = 0, next_out = 0;
    // Interleave pushes and pops so the head wraps around several capacities.
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < round % 7 + 1; ++i) q.push_back(next_in++);
        for (int i = 0; i < round % 5 && !q.empty(); ++i) {
            EXPECT_EQ(q.front(), next_out++);
            q.pop_front();
        }
    }
    while (!q.empty()) {
        EXPECT_EQ(q.front(), next_out++);
        q.pop_front();
    }
    EXPECT_EQ(next_in, next_out);
}

TEST(RingBuffer, EraseFromTheMiddleKeepsOrder) {
    RingBuffer<std::string> q;
    for (int i = 0; i < 6; ++i) q.push_back(std::to_string(i));
    q.pop_front();
    q.push_back("6");
    q.erase(2);  // removes "3"
    std::string seen;
    for (std::size_t i = 0; i < q.size(); ++i) seen += q[i];
    EXPECT_EQ(seen, "12456");
}

TEST(RingBuffer, DestroysWhatItHoldsAndReleasesWhenEmpty) {
    auto tracker = std::make_shared<int>(0);
    {
        RingBuffer<std::shared_ptr<int>> q;
        for (int i = 0; i < 10; ++i) q.push_back(tracker);
        EXPECT_EQ(tracker.use_count(), 11);
        q.erase(3);
        q.pop_front();
        EXPECT_EQ(tracker.use_count(), 9);
        q.clear();
        EXPECT_EQ(tracker.use_count(), 1);
        q.release_if_empty();
        q.push_back(tracker);
        EXPECT_EQ(q.size(), 1u);
    }
    EXPECT_EQ(tracker.use_count(), 1);
}

}  // namespace
}  // namespace ib
