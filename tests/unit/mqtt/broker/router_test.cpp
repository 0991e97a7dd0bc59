// The in-process Router (DESIGN.md "One routing core") against a real Broker on
// 127.0.0.1: in-process and network publishers and subscribers must see the same
// messages with the same semantics. Every test runs with one event loop and with
// two, so the cross-shard delivery paths are exercised too.
#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mqtt/broker/broker.hpp"
#include "net/loop_pool.hpp"
#include "test_client.hpp"

namespace ib::mqtt::broker {
namespace {

using namespace std::chrono_literals;
using codec::PacketType;
using codec::Version;
using test::Received;
using test::TestClient;

constexpr auto kTimeout = 5s;

// One message as an in-process handler saw it.
struct Seen {
    std::string topic;
    std::string payload;
    uint8_t qos = 0;
    bool retain = false;
    int loop = -1;  // LoopPool::current_index() inside the handler
};

// Records what a Router handler receives; tests wait on it with a deadline.
// Handlers hold it by shared_ptr, so a late delivery never outlives it.
class Collector {
public:
    void on(const Message& m) {
        std::lock_guard lock(mutex_);
        seen_.push_back(Seen{std::string(m.topic()), std::string(as_string_view(m.payload())), m.qos(), m.retain(),
                             net::LoopPool::current_index()});
        cv_.notify_all();
    }
    // Waits until `pred(seen)` holds; false after the deadline.
    template <class Pred>
    bool wait(Pred pred, std::chrono::milliseconds timeout = kTimeout) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return pred(seen_); });
    }
    bool wait_count(std::size_t n, std::chrono::milliseconds timeout = kTimeout) {
        return wait([n](const std::vector<Seen>& s) { return s.size() >= n; }, timeout);
    }
    // Waits for a message on `topic`.
    bool wait_topic(const std::string& topic, std::chrono::milliseconds timeout = kTimeout) {
        return wait([&](const std::vector<Seen>& s) {
            return std::any_of(s.begin(), s.end(), [&](const Seen& x) { return x.topic == topic; });
        }, timeout);
    }
    std::vector<Seen> seen() {
        std::lock_guard lock(mutex_);
        return seen_;
    }
    std::size_t count() {
        std::lock_guard lock(mutex_);
        return seen_.size();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<Seen> seen_;
};

std::vector<std::string> topics_of(const std::vector<Seen>& seen) {
    std::vector<std::string> out;
    for (const auto& s : seen) out.push_back(s.topic);
    return out;
}

PublishOptions qos(uint8_t q, bool retain = false) {
    PublishOptions o;
    o.qos = q;
    o.retain = retain;
    return o;
}

class RouterTest : public ::testing::TestWithParam<std::size_t> {
protected:
    virtual std::chrono::seconds sys_interval() const { return 0s; }

    void SetUp() override {
        loops_ = std::make_unique<net::LoopPool>(GetParam());
        BrokerConfig cfg;
        ListenerConfig l;
        l.name = "test";
        l.bind_address = "127.0.0.1";
        l.port = 0;
        cfg.listeners = {l};
        cfg.threads = static_cast<uint32_t>(GetParam());
        cfg.sys_interval = sys_interval();
        broker_ = std::make_unique<Broker>(cfg, *loops_, "test");
        auto started = broker_->start();
        ASSERT_TRUE(started.has_value()) << started.error();
        port_ = broker_->ports().at(0);
        runner_ = std::thread([this] { loops_->run(); });
    }

    void TearDown() override {
        if (runner_.joinable()) {
            broker_->stop([this] { loops_->stop(); });
            runner_.join();
        }
        broker_.reset();
        loops_.reset();
    }

    Router& router() { return broker_->router(); }

    // Subscribes a new Collector to `filter`; fails the test when refused.
    std::shared_ptr<Collector> collect(std::string_view filter, SubscriberId* id_out = nullptr) {
        auto c = std::make_shared<Collector>();
        auto id = router().subscribe(filter, loops_->loop(0), [c](const Message& m) { c->on(m); });
        EXPECT_TRUE(id.has_value()) << "subscribe '" << filter << "': " << (id ? "" : id.error());
        if (id && id_out) *id_out = *id;
        return c;
    }

    // A client id whose session lives on the last shard (the sessions of a
    // client id are placed by hash), so that with two loops the deliveries from
    // shard 0, where in-process publishes are routed, cross shards.
    std::string client_id_on_last_shard(const std::string& prefix) const {
        const std::size_t n = GetParam();
        for (int i = 0;; ++i) {
            std::string id = prefix + "-" + std::to_string(i);
            if (std::hash<std::string_view>{}(id) % n == n - 1) return id;
        }
    }

    // A connected network client; fails the test when the broker refuses it.
    std::unique_ptr<TestClient> connect(const std::string& client_id, Version v = Version::V311,
                                        bool clean_start = true, std::optional<uint32_t> session_expiry = {}) {
        auto c = std::make_unique<TestClient>(port_);
        EXPECT_TRUE(c->ok()) << "cannot connect to 127.0.0.1:" << port_;
        auto ack = c->connect(v, client_id, clean_start, 0, session_expiry);
        EXPECT_TRUE(ack.has_value()) << "no CONNACK for " << client_id;
        if (ack) {
            EXPECT_EQ(ack->reason_code, 0) << client_id;
        }
        return c;
    }

    // Runs `f` on event loop `index` (a loop thread, not the test's).
    void run_on_loop(std::size_t index, std::function<void()> f) {
        boost::asio::post(loops_->loop(index), std::move(f));
    }

    std::unique_ptr<net::LoopPool> loops_;
    std::unique_ptr<Broker> broker_;
    std::thread runner_;
    uint16_t port_ = 0;
};

std::string loops_name(const ::testing::TestParamInfo<std::size_t>& info) {
    return "Loops" + std::to_string(info.param);
}

// ------------------------------------------------------------ in-process only

TEST_P(RouterTest, InProcessSubscriberReceivesInProcessPublish) {
    auto exact = collect("plant/line1/temp");
    router().publish("plant/line1/temp", as_bytes("21.5"), qos(1));
    router().publish("plant/line1/temp", as_bytes("21.7"), qos(2, true));
    ASSERT_TRUE(exact->wait_count(2));
    auto seen = exact->seen();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].topic, "plant/line1/temp");
    EXPECT_EQ(seen[0].payload, "21.5");
    EXPECT_EQ(seen[0].qos, 1);
    EXPECT_FALSE(seen[0].retain);
    EXPECT_EQ(seen[1].payload, "21.7");
    EXPECT_EQ(seen[1].qos, 2);
    EXPECT_TRUE(seen[1].retain);
    // Router handlers run on the loop that owns in-process subscribers.
    EXPECT_EQ(seen[0].loop, 0);
    EXPECT_EQ(seen[1].loop, 0);
}

TEST_P(RouterTest, WildcardFiltersMatchAsForNetworkClients) {
    auto plus = collect("plant/+/temp");
    auto hash = collect("plant/#");
    auto all = collect("#");
    for (const char* t : {"plant/line2/temp", "plant/line2/pressure", "plant", "plant/a/b/temp", "other/x"})
        router().publish(t, as_bytes("v"));
    router().publish("end", as_bytes("sentinel"));
    ASSERT_TRUE(all->wait_topic("end"));
    EXPECT_EQ(topics_of(plus->seen()), (std::vector<std::string>{"plant/line2/temp"}));
    // §4.7.1.2: "plant/#" also matches the parent level "plant".
    EXPECT_EQ(topics_of(hash->seen()), (std::vector<std::string>{"plant/line2/temp", "plant/line2/pressure",
                                                                 "plant", "plant/a/b/temp"}));
    EXPECT_EQ(topics_of(all->seen()), (std::vector<std::string>{"plant/line2/temp", "plant/line2/pressure", "plant",
                                                                "plant/a/b/temp", "other/x", "end"}));
}

TEST_P(RouterTest, SysTopicsAreNotMatchedByLeadingWildcards) {
    auto all = collect("#");
    auto plus = collect("+/broker/load");
    auto sys = collect("$SYS/#");
    router().publish("$SYS/broker/load", as_bytes("1"));
    router().publish("end", as_bytes("sentinel"));
    ASSERT_TRUE(all->wait_topic("end"));
    ASSERT_TRUE(sys->wait_topic("$SYS/broker/load"));
    // [MQTT-4.7.2-1] A filter starting with a wildcard never matches a '$' topic.
    EXPECT_EQ(topics_of(all->seen()), (std::vector<std::string>{"end"}));
    EXPECT_TRUE(plus->seen().empty());
    EXPECT_EQ(topics_of(sys->seen()), (std::vector<std::string>{"$SYS/broker/load"}));
}

class RouterSysTest : public RouterTest {
protected:
    std::chrono::seconds sys_interval() const override { return 1s; }
};

TEST_P(RouterSysTest, BrokerSysTopicsReachSysFilterButNotHash) {
    auto all = collect("#");
    auto version = collect("$SYS/broker/version");
    // Published at start-up and retained: seen live or right after subscribing.
    ASSERT_TRUE(version->wait_count(1));
    EXPECT_EQ(version->seen()[0].payload, "ironbridge test");
    router().publish("end", as_bytes("sentinel"));
    ASSERT_TRUE(all->wait_topic("end"));
    for (const auto& s : all->seen()) EXPECT_NE(s.topic.front(), '$') << s.topic;
    // A network client subscribed to '#' does not see $SYS either.
    auto client = connect("sys-watcher");
    ASSERT_EQ(client->subscribe("#", 0), (std::vector<uint8_t>{0}));
    router().publish("end2", as_bytes("sentinel"));
    auto p = client->next_publish();
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->topic, "end2");
}

// ------------------------------------------------------- network <-> router

TEST_P(RouterTest, InProcessSubscriberReceivesNetworkPublish) {
    auto c = collect("net/#");
    for (Version v : {Version::V311, Version::V5}) {
        const std::string tag = v == Version::V5 ? "v5" : "v311";
        auto client = connect(client_id_on_last_shard("pub-" + tag), v);
        EXPECT_EQ(client->publish("net/" + tag + "/q0", "zero", 0), 0);
        // PUBACK reason 0x00 (not 0x10 "no matching subscribers"): the Router
        // subscriber counts as a subscriber.
        EXPECT_EQ(client->publish("net/" + tag + "/q1", "one", 1), 0);
        ASSERT_TRUE(c->wait_topic("net/" + tag + "/q1"));
    }
    auto seen = c->seen();
    ASSERT_EQ(seen.size(), 4u);
    const char* topics[] = {"net/v311/q0", "net/v311/q1", "net/v5/q0", "net/v5/q1"};
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(seen[i].topic, topics[i]);
        EXPECT_EQ(seen[i].payload, i % 2 ? "one" : "zero");
        EXPECT_EQ(seen[i].qos, i % 2);
        EXPECT_FALSE(seen[i].retain);
        EXPECT_EQ(seen[i].loop, 0);
    }
}

TEST_P(RouterTest, NetworkSubscriberReceivesRouterPublishAtEachQos) {
    for (Version v : {Version::V311, Version::V5}) {
        SCOPED_TRACE(v == Version::V5 ? "MQTT 5.0" : "MQTT 3.1.1");
        auto client = connect(client_id_on_last_shard(v == Version::V5 ? "sub5" : "sub311"), v);
        ASSERT_EQ(client->subscribe("cmd/#", 2), (std::vector<uint8_t>{2}));
        router().publish("cmd/a", as_bytes("q0"), qos(0));
        router().publish("cmd/b", as_bytes("q1"), qos(1));
        router().publish("cmd/c", as_bytes("q2"), qos(2));

        auto p0 = client->next_publish();
        ASSERT_TRUE(p0.has_value());
        EXPECT_EQ(p0->topic, "cmd/a");
        EXPECT_EQ(p0->payload, "q0");
        EXPECT_EQ(p0->qos, 0);
        EXPECT_FALSE(p0->retain);

        auto p1 = client->next_publish();
        ASSERT_TRUE(p1.has_value());
        EXPECT_EQ(p1->topic, "cmd/b");
        EXPECT_EQ(p1->payload, "q1");
        EXPECT_EQ(p1->qos, 1);
        EXPECT_FALSE(p1->retain);
        EXPECT_NE(p1->packet_id, 0);
        client->send_ack(PacketType::Puback, p1->packet_id);

        auto p2 = client->next_publish();
        ASSERT_TRUE(p2.has_value());
        EXPECT_EQ(p2->topic, "cmd/c");
        EXPECT_EQ(p2->payload, "q2");
        EXPECT_EQ(p2->qos, 2);
        EXPECT_FALSE(p2->retain);
        client->send_ack(PacketType::Pubrec, p2->packet_id);
        auto rel = client->next();
        ASSERT_TRUE(rel.has_value());
        EXPECT_EQ(rel->type, PacketType::Pubrel);
        EXPECT_EQ(rel->packet_id, p2->packet_id);
        client->send_ack(PacketType::Pubcomp, p2->packet_id);

        // Both flows are complete: nothing is resent, the next message is new.
        router().publish("cmd/d", as_bytes("after"), qos(1));
        auto p3 = client->next();
        ASSERT_TRUE(p3.has_value());
        EXPECT_EQ(p3->type, PacketType::Publish);
        EXPECT_EQ(p3->topic, "cmd/d");
        EXPECT_FALSE(p3->dup);
        client->send_ack(PacketType::Puback, p3->packet_id);
    }
}

TEST_P(RouterTest, NetworkSubscriberGetsTheLowerOfPublishAndSubscriptionQos) {
    auto client = connect(client_id_on_last_shard("sub-q1"));
    ASSERT_EQ(client->subscribe("cmd/#", 1), (std::vector<uint8_t>{1}));
    router().publish("cmd/x", as_bytes("q2"), qos(2));
    auto p = client->next_publish();
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->qos, 1);
    client->send_ack(PacketType::Puback, p->packet_id);
}

// ------------------------------------------------------------------ retained

TEST_P(RouterTest, RetainedRouterPublishReachesLaterSubscribersAndEmptyPayloadClearsIt) {
    auto live = collect("status/#");
    router().publish("status/plc1", as_bytes("connected"), qos(1, true));
    // The router stores a retained message before delivering it.
    ASSERT_TRUE(live->wait_count(1));

    {
        auto client = connect(client_id_on_last_shard("late-net"));
        ASSERT_EQ(client->subscribe("status/+", 1), (std::vector<uint8_t>{1}));
        auto p = client->next_publish();
        ASSERT_TRUE(p.has_value());
        EXPECT_EQ(p->topic, "status/plc1");
        EXPECT_EQ(p->payload, "connected");
        // [MQTT-3.3.1-8] A retained message sent on subscribe carries RETAIN 1.
        EXPECT_TRUE(p->retain);
        EXPECT_EQ(p->qos, 1);
        client->send_ack(PacketType::Puback, p->packet_id);
    }
    {
        auto late = collect("status/plc1");
        ASSERT_TRUE(late->wait_count(1));
        auto seen = late->seen();
        EXPECT_EQ(seen[0].topic, "status/plc1");
        EXPECT_EQ(seen[0].payload, "connected");
        EXPECT_TRUE(seen[0].retain);
        EXPECT_EQ(seen[0].loop, 0);
    }

    // [MQTT-3.3.1-6] A retained message with an empty payload clears the topic.
    router().publish("status/plc1", as_bytes(""), qos(0, true));
    ASSERT_TRUE(live->wait_count(2));
    {
        auto client = connect(client_id_on_last_shard("after-clear"));
        ASSERT_EQ(client->subscribe("status/+", 1), (std::vector<uint8_t>{1}));
        router().publish("status/sentinel", as_bytes("not retained"), qos(0));
        auto p = client->next_publish();
        ASSERT_TRUE(p.has_value());
        EXPECT_EQ(p->topic, "status/sentinel") << "a cleared retained message was delivered";
        EXPECT_FALSE(p->retain);
    }
    {
        auto late = collect("status/#");
        // The retained replay of subscribe() runs on loop 0 before this
        // publish, which a foreign thread also hands to loop 0.
        router().publish("status/sentinel2", as_bytes("x"), qos(0));
        ASSERT_TRUE(late->wait_topic("status/sentinel2"));
        EXPECT_EQ(topics_of(late->seen()), (std::vector<std::string>{"status/sentinel2"}));
    }
}

// --------------------------------------------------- subscribe / unsubscribe

TEST_P(RouterTest, SubscribeRefusesMalformedFiltersWithAReason) {
    for (const char* bad : {"a/#/b", "$share//x", "", "a/b#", "+a/b", "$share/g", "$share/g/", "$share/g+/t"}) {
        auto r = router().subscribe(bad, loops_->loop(0), [](const Message&) { ADD_FAILURE() << "refused handler called"; });
        ASSERT_FALSE(r.has_value()) << "'" << bad << "' was accepted";
        EXPECT_FALSE(r.error().empty()) << "'" << bad << "' refused without a reason";
    }
    // The broker still routes, and to nobody that was refused.
    auto all = collect("#");
    router().publish("a/x/b", as_bytes("1"));
    router().publish("x", as_bytes("2"));
    ASSERT_TRUE(all->wait_count(2));
    auto client = connect("still-alive");
    EXPECT_EQ(client->subscribe("a/#", 0), (std::vector<uint8_t>{0}));
}

TEST_P(RouterTest, UnsubscribeStopsDelivery) {
    SubscriberId id = 0;
    auto gone = collect("u/t", &id);
    auto witness = collect("u/#");
    router().publish("u/t", as_bytes("1"));
    ASSERT_TRUE(witness->wait_count(1));
    ASSERT_TRUE(gone->wait_count(1));

    router().unsubscribe(id);
    router().publish("u/t", as_bytes("2"));
    router().publish("u/t", as_bytes("3"));
    ASSERT_TRUE(witness->wait_count(3));
    EXPECT_EQ(gone->count(), 1u);

    // Unknown or repeated ids are ignored.
    router().unsubscribe(id);
    router().unsubscribe(SubscriberId{0xdeadbeef});
    router().publish("u/t", as_bytes("4"));
    ASSERT_TRUE(witness->wait_count(4));
    EXPECT_EQ(gone->count(), 1u);
}

TEST_P(RouterTest, UnsubscribeFromInsideItsOwnHandler) {
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto id = std::make_shared<std::atomic<SubscriberId>>(0);
    Router* r = &router();
    auto sub = router().subscribe("self/#", loops_->loop(0), [calls, id, r](const Message&) {
        if (calls->fetch_add(1) == 0) r->unsubscribe(id->load());
    });
    ASSERT_TRUE(sub.has_value());
    id->store(*sub);
    auto witness = collect("self/#");
    for (int i = 0; i < 5; ++i) router().publish("self/x", as_bytes("v"));
    ASSERT_TRUE(witness->wait_count(5));
    EXPECT_EQ(calls->load(), 1);
}

// ---------------------------------------------------------------- shared subs

TEST_P(RouterTest, SharedSubscriptionGivesEachMessageToExactlyOneMember) {
    auto a = collect("$share/g/t");
    auto b = collect("$share/g/t");
    auto all = collect("t");
    constexpr int kMessages = 100;
    for (int i = 0; i < kMessages; ++i) router().publish("t", as_bytes(std::to_string(i)));
    // Every subscriber here is in-process, served by loop 0 in routing order,
    // and `all` was subscribed last: once it has every message, so have the
    // shared members.
    ASSERT_TRUE(all->wait_count(kMessages));
    auto sa = a->seen();
    auto sb = b->seen();
    EXPECT_EQ(sa.size() + sb.size(), static_cast<std::size_t>(kMessages));
    EXPECT_GT(sa.size(), 0u);
    EXPECT_GT(sb.size(), 0u);
    std::set<std::string> payloads;
    for (const auto* side : {&sa, &sb})
        for (const auto& s : *side) {
            EXPECT_EQ(s.topic, "t");
            EXPECT_TRUE(payloads.insert(s.payload).second) << "message " << s.payload << " went to both members";
        }
    EXPECT_EQ(payloads.size(), static_cast<std::size_t>(kMessages));
}

TEST_P(RouterTest, SharedSubscriptionWithNetworkAndInProcessMembers) {
    auto in_proc = collect("$share/mixed/m/#");
    auto client = connect(client_id_on_last_shard("shared-net"));
    ASSERT_EQ(client->subscribe("$share/mixed/m/#", 0), (std::vector<uint8_t>{0}));
    auto all = collect("m/#");
    constexpr int kMessages = 100;
    for (int i = 0; i < kMessages; ++i) router().publish("m/x", as_bytes(std::to_string(i)));
    ASSERT_TRUE(all->wait_count(kMessages));
    std::set<std::string> payloads;
    for (const auto& s : in_proc->seen()) EXPECT_TRUE(payloads.insert(s.payload).second) << s.payload;
    const std::size_t in_proc_count = payloads.size();
    while (payloads.size() < kMessages) {
        auto p = client->next_publish();
        if (!p) break;
        EXPECT_TRUE(payloads.insert(p->payload).second) << "message " << p->payload << " went to both members";
    }
    EXPECT_EQ(payloads.size(), static_cast<std::size_t>(kMessages));
    EXPECT_GT(in_proc_count, 0u);
    EXPECT_LT(in_proc_count, static_cast<std::size_t>(kMessages));
}

// -------------------------------------------------------- threads and order

TEST_P(RouterTest, ForeignThreadPublishKeepsPublisherOrder) {
    constexpr int kMessages = 1000;
    auto in_proc = collect("seq/#");
    auto client = connect(client_id_on_last_shard("seq-net"), Version::V5);
    ASSERT_EQ(client->subscribe("seq/#", 1), (std::vector<uint8_t>{1}));

    std::thread publisher([this] {
        for (int i = 0; i < kMessages; ++i) router().publish("seq/n", as_bytes(std::to_string(i)), qos(1));
    });
    // The client acknowledges as it reads, or the inflight window stalls.
    std::vector<std::string> net;
    for (int i = 0; i < kMessages; ++i) {
        auto p = client->next_publish();
        if (!p) break;
        EXPECT_EQ(p->qos, 1);
        client->send_ack(PacketType::Puback, p->packet_id);
        net.push_back(p->payload);
    }
    publisher.join();
    ASSERT_TRUE(in_proc->wait_count(kMessages));
    auto seen = in_proc->seen();
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(kMessages));
    ASSERT_EQ(net.size(), static_cast<std::size_t>(kMessages));
    for (int i = 0; i < kMessages; ++i) {
        ASSERT_EQ(seen[static_cast<std::size_t>(i)].payload, std::to_string(i)) << "in-process, position " << i;
        ASSERT_EQ(net[static_cast<std::size_t>(i)], std::to_string(i)) << "network, position " << i;
    }
    EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](const Seen& s) { return s.loop == 0; }));
}

TEST_P(RouterTest, LoopThreadPublishReachesInProcessSubscribersInOrder) {
    // Published from the last loop: with two loops the deliveries to the
    // in-process subscriber (owned by loop 0) cross shards.
    constexpr int kMessages = 1000;
    auto in_proc = collect("loop/#");
    run_on_loop(GetParam() - 1, [this] {
        for (int i = 0; i < kMessages; ++i) router().publish("loop/n", as_bytes(std::to_string(i)), qos(1));
    });
    ASSERT_TRUE(in_proc->wait_count(kMessages));
    auto seen = in_proc->seen();
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(kMessages));
    for (int i = 0; i < kMessages; ++i) {
        ASSERT_EQ(seen[static_cast<std::size_t>(i)].payload, std::to_string(i)) << "position " << i;
        ASSERT_EQ(seen[static_cast<std::size_t>(i)].loop, 0) << "position " << i;
    }
}

TEST_P(RouterTest, NetworkPublisherOrderIsKeptForInProcessSubscriber) {
    constexpr int kMessages = 1000;
    auto in_proc = collect("np/#");
    auto client = connect(client_id_on_last_shard("np-pub"));
    for (int i = 0; i < kMessages; ++i) client->publish("np/n", std::to_string(i), i % 2);
    ASSERT_TRUE(in_proc->wait_count(kMessages));
    auto seen = in_proc->seen();
    for (int i = 0; i < kMessages; ++i) {
        ASSERT_EQ(seen[static_cast<std::size_t>(i)].payload, std::to_string(i)) << "position " << i;
        ASSERT_EQ(seen[static_cast<std::size_t>(i)].qos, i % 2) << "position " << i;
    }
}

TEST_P(RouterTest, HandlerMayPublishThroughTheRouter) {
    // A handler that publishes (a rule re-publishing its output, the bridge
    // forwarding a command) runs on loop 0 inside Shard::route(), which is then
    // re-entered: the outer message must still reach its other subscribers.
    Router* r = &router();
    // Subscribed first, so it has the lowest id and is called first.
    auto rule = router().subscribe("in/#", loops_->loop(0), [r](const Message& m) {
        std::string out = "out/" + std::string(m.topic().substr(3));
        r->publish(out, m.payload(), qos(m.qos()));
    });
    ASSERT_TRUE(rule.has_value());
    auto in1 = collect("in/#");
    auto in2 = collect("in/+");
    auto out = collect("out/#");
    router().publish("in/a", as_bytes("1"));
    router().publish("in/b", as_bytes("2"));
    auto end = collect("end/#");
    router().publish("end/x", as_bytes("sentinel"));
    ASSERT_TRUE(end->wait_count(1));
    ASSERT_TRUE(out->wait_count(2));
    EXPECT_EQ(topics_of(in1->seen()), (std::vector<std::string>{"in/a", "in/b"}));
    EXPECT_EQ(topics_of(in2->seen()), (std::vector<std::string>{"in/a", "in/b"}));
    EXPECT_EQ(topics_of(out->seen()), (std::vector<std::string>{"out/a", "out/b"}));
}

TEST_P(RouterTest, PublishToAnInvalidTopicNameReachesNoSubscriber) {
    // A network client cannot publish these (the codec refuses them, §4.7.3);
    // Router::publish must not pass them on either, least of all to network
    // clients, which would be sent a malformed PUBLISH.
    //
    // Router::publish refuses what a client could not publish: a topic with
    // '+' or '#', an empty one, one with U+0000. Nothing is delivered or retained.
    auto all = collect("#");
    auto client = connect(client_id_on_last_shard("invalid-topic"));
    ASSERT_EQ(client->subscribe("#", 0), (std::vector<uint8_t>{0}));
    const std::string bad_topics[] = {"bad/+/x", "bad/#", "", std::string("nul\0x", 5)};
    for (const auto& topic : bad_topics) {
        auto refused = router().publish(topic, as_bytes("v"), qos(0, true));
        ASSERT_FALSE(refused.has_value()) << "published to an invalid topic";
        EXPECT_NE(refused.error().find("not a valid topic name"), std::string::npos) << refused.error();
    }
    router().publish("end", as_bytes("sentinel"));
    ASSERT_TRUE(all->wait_topic("end"));
    EXPECT_EQ(topics_of(all->seen()), (std::vector<std::string>{"end"}));
    auto p = client->next_publish();
    ASSERT_TRUE(p.has_value()) << "the network client got no PUBLISH it could decode";
    EXPECT_EQ(p->topic, "end");
}

// ------------------------------------------------------------ message expiry

TEST_P(RouterTest, ExpiredMessageIsNotDeliveredToAReconnectingSession) {
    const std::string id = client_id_on_last_shard("expiring");
    {
        auto client = connect(id, Version::V5, false, 60);
        ASSERT_EQ(client->subscribe("exp/#", 1), (std::vector<uint8_t>{1}));
        ASSERT_TRUE(client->disconnect()) << "the broker did not close after DISCONNECT";
    }
    auto witness = collect("exp/#");
    PublishOptions short_lived = qos(1);
    short_lived.message_expiry_interval = 1;
    PublishOptions long_lived = qos(1);
    long_lived.message_expiry_interval = 60;
    router().publish("exp/short", as_bytes("stale"), short_lived);
    router().publish("exp/long", as_bytes("fresh"), long_lived);
    router().publish("exp/none", as_bytes("forever"), qos(1));
    ASSERT_TRUE(witness->wait_count(3));
    // Nothing to wait on: expiry is the passing of time itself (1 s interval).
    std::this_thread::sleep_for(1200ms);

    auto client = std::make_unique<TestClient>(port_);
    auto ack = client->connect(Version::V5, id, false, 0, 60);
    ASSERT_TRUE(ack.has_value());
    EXPECT_TRUE(ack->session_present);
    // The queue is in publish order: the first message to arrive shows the
    // expired one was dropped.
    auto p1 = client->next_publish();
    ASSERT_TRUE(p1.has_value());
    EXPECT_EQ(p1->topic, "exp/long") << "an expired message was delivered";
    ASSERT_TRUE(p1->message_expiry_interval.has_value());
    // §3.3.2.3.3: what is sent on is the remaining part of the interval.
    EXPECT_LT(*p1->message_expiry_interval, 60u);
    client->send_ack(PacketType::Puback, p1->packet_id);
    auto p2 = client->next_publish();
    ASSERT_TRUE(p2.has_value());
    EXPECT_EQ(p2->topic, "exp/none");
    EXPECT_FALSE(p2->message_expiry_interval.has_value());
    client->send_ack(PacketType::Puback, p2->packet_id);
}

// ------------------------------------------------------- durable subscribers

// A durable subscriber (the bridge) makes a message safe in a task it posts on
// its loop and completes the message's ticket there; the publisher's
// acknowledgement must not leave before. The task is slow on purpose, so an
// acknowledgement sent too early is caught.
TEST_P(RouterTest, AcknowledgementsWaitForTheDurableSubscribersTicket) {
    std::atomic<int> committed{0};
    const std::size_t last = GetParam() - 1;
    auto id = router().subscribe_durable("safe/#", loops_->loop(last), [this, last, &committed](const Message&, DurableTicket t) {
        run_on_loop(last, [&committed, t = std::move(t)]() mutable {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            committed.fetch_add(1);
            t.complete();
        });
    });
    ASSERT_TRUE(id.has_value()) << id.error();
    auto plain = collect("plain/#");
    for (const std::string& client_id : {std::string("durable-pub"), client_id_on_last_shard("durable-far")}) {
        auto client = connect(client_id, Version::V5);
        const int before = committed.load();
        ASSERT_EQ(client->publish("safe/a", "1", 1), 0);
        EXPECT_GE(committed.load(), before + 1) << "PUBACK before the durable task ran (" << client_id << ")";
        ASSERT_EQ(client->publish("safe/b", "2", 2), 0);
        EXPECT_GE(committed.load(), before + 2) << "PUBREC before the durable task ran (" << client_id << ")";
        // A message no durable subscriber takes is acknowledged as before.
        ASSERT_EQ(client->publish("plain/c", "3", 1), 0);
    }
    ASSERT_TRUE(plain->wait_topic("plain/c"));
    router().unsubscribe(*id);
}

// ------------------------------------------------------------ service loops

// Two loops, the second a service loop (as the placement table makes them): an
// in-process subscriber there gets every message on that loop, whichever loop
// routed it, and what it publishes from there reaches network clients, who are
// all served by the one broker shard.
class RouterServiceLoopTest : public ::testing::Test {
protected:
    void SetUp() override {
        loops_ = std::make_unique<net::LoopPool>(2);
        BrokerConfig cfg;
        ListenerConfig l;
        l.name = "test";
        l.bind_address = "127.0.0.1";
        l.port = 0;
        cfg.listeners = {l};
        cfg.sys_interval = 0s;
        broker_ = std::make_unique<Broker>(cfg, *loops_, "test", 1);
        auto started = broker_->start();
        ASSERT_TRUE(started.has_value()) << started.error();
        port_ = broker_->ports().at(0);
        runner_ = std::thread([this] { loops_->run(); });
    }
    void TearDown() override {
        broker_->stop([this] { loops_->stop(); });
        runner_.join();
        broker_.reset();
        loops_.reset();
    }
    std::unique_ptr<net::LoopPool> loops_;
    std::unique_ptr<Broker> broker_;
    std::thread runner_;
    uint16_t port_ = 0;
};

TEST_F(RouterServiceLoopTest, HandlerRunsOnItsServiceLoopAndItsPublishesReachClients) {
    Router& router = broker_->router();
    auto seen = std::make_shared<Collector>();
    // Echoes from the service loop: a publish made there is routed there.
    auto id = router.subscribe("in/#", loops_->loop(1), [seen, &router](const Message& m) {
        seen->on(m);
        (void)router.publish("out/" + std::string(m.topic().substr(3)), m.payload(), qos(1));
    });
    ASSERT_TRUE(id.has_value()) << id.error();

    TestClient sub(port_);
    ASSERT_TRUE(sub.connect(Version::V5, "reader", true, 0).has_value());
    ASSERT_EQ(sub.subscribe("out/#", 1), (std::vector<uint8_t>{1}));
    TestClient pub(port_);
    ASSERT_TRUE(pub.connect(Version::V5, "writer", true, 0).has_value());
    ASSERT_EQ(pub.publish("in/a", "from-client", 1), 0);
    router.publish("in/b", as_bytes("from-outside"), qos(1));  // off-loop: routed by the first loop

    ASSERT_TRUE(seen->wait_count(2));
    for (const Seen& s : seen->seen()) EXPECT_EQ(s.loop, 1) << s.topic << " was handled off its loop";
    std::set<std::string> echoed;
    for (int i = 0; i < 2; ++i) {
        auto p = sub.next_publish();
        ASSERT_TRUE(p.has_value()) << "an echo from the service loop did not reach the network client";
        echoed.insert(p->topic);
        sub.send_ack(PacketType::Puback, p->packet_id);
    }
    EXPECT_EQ(echoed, (std::set<std::string>{"out/a", "out/b"}));
    router.unsubscribe(*id);
}

TEST_F(RouterServiceLoopTest, AHandlerLoopOutsideTheBrokerIsRefused) {
    boost::asio::io_context stranger;
    auto id = broker_->router().subscribe("x/#", stranger, [](const Message&) {});
    ASSERT_FALSE(id.has_value());
    EXPECT_NE(id.error().find("loop"), std::string::npos) << id.error();
}

INSTANTIATE_TEST_SUITE_P(Router, RouterTest, ::testing::Values(std::size_t{1}, std::size_t{2}), loops_name);
INSTANTIATE_TEST_SUITE_P(Router, RouterSysTest, ::testing::Values(std::size_t{1}, std::size_t{2}), loops_name);

}  // namespace
}  // namespace ib::mqtt::broker

