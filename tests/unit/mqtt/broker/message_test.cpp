#include "mqtt/broker/message.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace ib::mqtt::broker {
namespace {

MessageRef make(std::string_view topic) {
    MessageInit init;
    init.topic = topic;
    return Message::make(init, Clock::now());
}

// The shard's encoded-packet cache is keyed by the serial alone: a message
// built where a freed one lived must not look like it.
TEST(Message, SerialsDifferEvenWhereAFreedMessageLived) {
    std::set<uint64_t> seen;
    for (int i = 0; i < 1000; ++i) {
        MessageRef m = make("a/b");
        EXPECT_NE(m->serial(), 0u);
        EXPECT_TRUE(seen.insert(m->serial()).second);
    }
}

TEST(Message, SerialsDifferAcrossThreads) {
    std::vector<uint64_t> a, b;
    std::thread other([&] {
        for (int i = 0; i < 100; ++i) b.push_back(make("x")->serial());
    });
    for (int i = 0; i < 100; ++i) a.push_back(make("x")->serial());
    other.join();
    std::set<uint64_t> all(a.begin(), a.end());
    all.insert(b.begin(), b.end());
    EXPECT_EQ(all.size(), a.size() + b.size());
}

}  // namespace
}  // namespace ib::mqtt::broker
