// Listeners: every broker shard accepts on the same port (SO_REUSEPORT), and
// that sharing never lets a second broker take a port that is in use.
#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mqtt/broker/broker.hpp"
#include "net/loop_pool.hpp"
#include "test_client.hpp"

namespace ib::mqtt::broker {
namespace {

BrokerConfig config_on(uint16_t port) {
    BrokerConfig cfg;
    ListenerConfig l;
    l.name = "test";
    l.bind_address = "127.0.0.1";
    l.port = port;
    cfg.listeners = {l};
    cfg.sys_interval = std::chrono::seconds(0);
    return cfg;
}

TEST(Listener, ClientsAreServedWhileEveryShardListensOnOnePort) {
    net::LoopPool loops(3);
    Broker broker(config_on(0), loops, "test", 3);
    ASSERT_TRUE(broker.start().has_value());
    const uint16_t port = broker.ports().at(0);
    std::thread runner([&] { loops.run(); });
    // Many clients, spread by the kernel over the shards' acceptors; each is served
    // (which shard took which is not visible here: this checks none is lost).
    std::vector<std::unique_ptr<test::TestClient>> clients;
    for (int i = 0; i < 24; ++i) {
        auto c = std::make_unique<test::TestClient>(port);
        ASSERT_TRUE(c->ok());
        auto ack = c->connect(codec::Version::V5, "c" + std::to_string(i), true, 0);
        ASSERT_TRUE(ack.has_value()) << "client " << i << " got no CONNACK";
        EXPECT_EQ(ack->reason_code, 0);
        clients.push_back(std::move(c));
    }
    broker.stop([&] { loops.stop(); });
    runner.join();
}

TEST(Listener, ASecondBrokerOnAPortInUseIsRefused) {
    net::LoopPool loops(2);
    Broker first(config_on(0), loops, "test", 2);
    ASSERT_TRUE(first.start().has_value());
    const uint16_t port = first.ports().at(0);

    net::LoopPool other_loops(2);
    Broker second(config_on(port), other_loops, "test", 2);
    auto r = second.start();
    ASSERT_FALSE(r.has_value()) << "a second broker shared port " << port;
    EXPECT_NE(r.error().find("Address already in use"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("listener 'test'"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace ib::mqtt::broker
