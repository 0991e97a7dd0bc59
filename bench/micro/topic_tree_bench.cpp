// Topic tree and retained store against a realistic edge layout: 10,000
// subscriptions, mostly one per device and group, plus the wildcards that
// dashboards, rules and the history writer hold. Prints allocations per
// operation next to the time: the matching paths must show 0.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include "mqtt/broker/message.hpp"
#include "mqtt/broker/retained_store.hpp"
#include "mqtt/broker/topic_tree.hpp"

namespace ib::mqtt::broker {
namespace {

constexpr int kDevices = 2000;
constexpr int kGroups = 4;
constexpr std::size_t kSubscriptions = 10'000;

std::string device_topic(int device, int group) {
    return "ib/data/dev" + std::to_string(device) + "/g" + std::to_string(group);
}

// 8,000 per-device subscriptions, 1,000 "ib/data/devN/#", 480 "ib/data/+/gN",
// a handful of "#", "+/+/+/+", "$SYS/#", two shared groups of 4, and
// "ib/status/devN" to make exactly 10,000.
const TopicTree& tree() {
    static const TopicTree* t = [] {
        auto* tree = new TopicTree;
        SubscriberId id = 1;
        auto add = [&](const std::string& f) { tree->subscribe(f, Subscription{id++, {}}); };
        for (int d = 0; d < kDevices; ++d) {
            for (int g = 0; g < kGroups; ++g) add(device_topic(d, g));
        }
        for (int d = 0; d < 1000; ++d) add("ib/data/dev" + std::to_string(d) + "/#");
        for (int i = 0; i < 480; ++i) add("ib/data/+/g" + std::to_string(i % kGroups));
        add("#");
        add("+/+/+/+");
        add("$SYS/#");
        for (int i = 0; i < 4; ++i) add("$share/history/ib/data/#");
        for (int i = 0; i < 4; ++i) add("$share/rules/ib/data/+/g0");
        for (int d = 0; tree->size() < kSubscriptions; ++d) add("ib/status/dev" + std::to_string(d));
        return tree;
    }();
    return *t;
}

std::vector<std::string> device_topics() {
    std::vector<std::string> out;
    for (int d = 0; d < kDevices; d += 7) {
        for (int g = 0; g < kGroups; ++g) out.push_back(device_topic(d, g));
    }
    return out;
}

void report(benchmark::State& state, uint64_t allocs, uint64_t visits) {
    const auto iters = static_cast<double>(state.iterations());
    state.counters["allocs/op"] = static_cast<double>(allocs) / iters;
    state.counters["visits/op"] = static_cast<double>(visits) / iters;
}

// A device reading: one exact subscription, the device's "#" for half the
// devices, 120 "ib/data/+/gN", "#", "+/+/+/+" and the shared groups.
void BM_TreeMatchDeviceTopic(benchmark::State& state) {
    const TopicTree& t = tree();
    const auto topics = device_topics();
    std::size_t i = 0;
    uint64_t visits = 0;
    const uint64_t before = ib::bench::allocations();
    for (auto _ : state) {
        t.match(topics[i], [&](const Subscription& s) {
            visits += 1;
            benchmark::DoNotOptimize(s.subscriber);
        });
        if (++i == topics.size()) i = 0;
    }
    report(state, ib::bench::allocations() - before, visits);
}
BENCHMARK(BM_TreeMatchDeviceTopic);

// A topic only "#" and "+/+/+/+"-style wildcards could catch: the cost of a miss.
void BM_TreeMatchNoDevice(benchmark::State& state) {
    const TopicTree& t = tree();
    uint64_t visits = 0;
    const uint64_t before = ib::bench::allocations();
    for (auto _ : state) {
        t.match("plant/line3/press/temperature", [&](const Subscription& s) {
            visits += 1;
            benchmark::DoNotOptimize(s.subscriber);
        });
    }
    report(state, ib::bench::allocations() - before, visits);
}
BENCHMARK(BM_TreeMatchNoDevice);

// A $SYS topic: the root's wildcards are skipped [MQTT-4.7.2-1].
void BM_TreeMatchSys(benchmark::State& state) {
    const TopicTree& t = tree();
    uint64_t visits = 0;
    const uint64_t before = ib::bench::allocations();
    for (auto _ : state) {
        t.match("$SYS/broker/clients/connected", [&](const Subscription& s) {
            visits += 1;
            benchmark::DoNotOptimize(s.subscriber);
        });
    }
    report(state, ib::bench::allocations() - before, visits);
}
BENCHMARK(BM_TreeMatchSys);

// Several event loops matching at once under the router's shared lock; the
// shared groups' cursors are the only shared writes.
void BM_TreeMatchDeviceTopicThreads(benchmark::State& state) {
    const TopicTree& t = tree();
    const auto topics = device_topics();
    std::size_t i = static_cast<std::size_t>(state.thread_index()) * 13 % topics.size();
    uint64_t visits = 0;
    for (auto _ : state) {
        t.match(
            topics[i], [&](const Subscription& s) { visits += s.subscriber != 0; },
            [](SubscriberId id) { return id % 3 != 0; });
        if (++i == topics.size()) i = 0;
    }
    state.counters["visits/op"] = benchmark::Counter(
        static_cast<double>(visits) / static_cast<double>(state.iterations()),
        benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_TreeMatchDeviceTopicThreads)->Threads(1)->Threads(2)->UseRealTime();

// Subscribe then unsubscribe one device filter in the full tree: creates and
// prunes two nodes each time.
void BM_TreeSubscribeUnsubscribe(benchmark::State& state) {
    TopicTree t;
    SubscriberId id = 1;
    for (int d = 0; d < kDevices; ++d) {
        for (int g = 0; g < kGroups; ++g) t.subscribe(device_topic(d, g), Subscription{id++, {}});
    }
    const std::string filter = "ib/data/devnew/+";
    const uint64_t before = ib::bench::allocations();
    for (auto _ : state) {
        t.subscribe(filter, Subscription{1, {}});
        t.unsubscribe(filter, 1);
    }
    report(state, ib::bench::allocations() - before, 0);
}
BENCHMARK(BM_TreeSubscribeUnsubscribe);

RetainedStore& retained() {
    static RetainedStore* s = [] {
        auto* store = new RetainedStore;
        const std::string payload = R"({"ts":1732200000123,"values":{"temp":21.5}})";
        for (int d = 0; d < kDevices; ++d) {
            for (int g = 0; g < kGroups; ++g) {
                MessageInit init;
                const std::string topic = device_topic(d, g);
                init.topic = topic;
                init.payload = as_bytes(payload);
                init.retain = true;
                store->set(Message::make(init, Clock::now()));
            }
        }
        return store;
    }();
    return *s;
}

// A new subscriber to one device's readings: walks one branch.
void BM_RetainedMatchOneDevice(benchmark::State& state) {
    RetainedStore& r = retained();
    const auto now = Clock::now();
    uint64_t visits = 0;
    const uint64_t before = ib::bench::allocations();
    for (auto _ : state) {
        r.match("ib/data/dev1234/+", now, [&](const MessageRef& m) {
            visits += 1;
            benchmark::DoNotOptimize(m.get());
        });
    }
    report(state, ib::bench::allocations() - before, visits);
}
BENCHMARK(BM_RetainedMatchOneDevice);

// "ib/data/+/g1" over 8,000 retained messages: 2,000 results, 2,000 branches.
void BM_RetainedMatchWildcard(benchmark::State& state) {
    RetainedStore& r = retained();
    const auto now = Clock::now();
    uint64_t visits = 0;
    const uint64_t before = ib::bench::allocations();
    for (auto _ : state) {
        r.match("ib/data/+/g1", now, [&](const MessageRef& m) {
            visits += 1;
            benchmark::DoNotOptimize(m.get());
        });
    }
    report(state, ib::bench::allocations() - before, visits);
    state.SetItemsProcessed(static_cast<int64_t>(visits));
}
BENCHMARK(BM_RetainedMatchWildcard);

}  // namespace
}  // namespace ib::mqtt::broker

BENCHMARK_MAIN();
