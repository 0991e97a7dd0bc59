// The history's writer at idle priority, started as the app starts it: while
// other threads keep every core busy it gets next to no CPU, and the rescuer,
// at normal priority, does its work, so readings still reach the file and a
// query is still answered.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mqtt/broker/message.hpp"
#include "mqtt/broker/router.hpp"
#include "store/history.hpp"

namespace ib::store {
namespace {

using namespace std::chrono_literals;
using mqtt::broker::Message;
using mqtt::broker::MessageInit;

// Hands the history's subscription handler to the test.
class CapturingRouter final : public mqtt::broker::Router {
public:
    mqtt::broker::MessageHandler handler;

    std::expected<void, std::string> publish(std::string_view, Bytes, const mqtt::broker::PublishOptions&) override {
        return {};
    }
    std::expected<mqtt::broker::SubscriberId, std::string> subscribe(std::string_view, boost::asio::io_context&,
                                                                     mqtt::broker::MessageHandler h) override {
        handler = std::move(h);
        return 1;
    }
    std::expected<mqtt::broker::SubscriberId, std::string> subscribe_durable(std::string_view,
                                                                             boost::asio::io_context&,
                                                                             mqtt::broker::DurableHandler) override {
        return std::unexpected("not here");
    }
    void unsubscribe(mqtt::broker::SubscriberId) override {}
    void set_durable_gate(std::function<bool()>) override {}
};

// The scheduling policy of this process's thread named `name` (field 41 of
// its stat), or -1.
int policy_of_thread(const std::string& name) {
    for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(t.path() / "comm");
        std::string c;
        std::getline(comm, c);
        if (c != name) continue;
        std::ifstream stat(t.path() / "stat");
        std::string line;
        std::getline(stat, line);
        std::istringstream rest(line.substr(line.rfind(')') + 2));
        std::string field;
        for (int i = 3; i <= 41 && rest >> field; ++i) {
            if (i == 41) return std::stoi(field);
        }
    }
    return -1;
}

double metric(const History& h, std::string_view name) {
    MetricSink sink;
    h.collect_metrics(sink);
    for (const auto& s : sink) {
        if (s.name == name) return s.value;
    }
    ADD_FAILURE() << "no metric " << name;
    return -1;
}

TEST(HistoryRescue, AStarvedIdleWriterHasItsWorkDoneAtNormalPriority) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ib-history-rescue-XXXXXX").string();
    const std::string dir = mkdtemp(tmpl.data());
    HistoryConfig config;
    config.topic = "ib/data/#";
    config.idle_priority = true;
    config.rescue_after = 50ms;
    auto opened = History::open(dir + "/history.db", config);
    ASSERT_TRUE(opened.has_value()) << opened.error();
    auto& h = **opened;
    boost::asio::io_context io;
    CapturingRouter router;
    ASSERT_TRUE(h.start(io, router).has_value());
    // The writer names itself, then takes its policy: a refusal leaves it at 0.
    constexpr int kSchedIdle = 5;
    const auto named_by = std::chrono::steady_clock::now() + 5s;
    while (policy_of_thread("ib-history") != kSchedIdle && std::chrono::steady_clock::now() < named_by) {
        std::this_thread::sleep_for(5ms);
    }
    if (policy_of_thread("ib-history") != kSchedIdle) {
        boost::asio::post(io, [&] { h.stop(); });
        io.run();
        std::filesystem::remove_all(dir);
        GTEST_SKIP() << "this system refused SCHED_IDLE to the writer";
    }

    // Every core busy at normal priority, for at most a minute.
    std::atomic<bool> spin{true};
    std::atomic<unsigned> spinning{0};
    std::vector<std::jthread> spinners;
    const unsigned cores = std::max(2u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < cores; ++i) {
        spinners.emplace_back([&spin, &spinning] {
            spinning.fetch_add(1);
            const auto end = std::chrono::steady_clock::now() + 60s;
            while (spin.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < end) {
            }
        });
    }
    // Readings handed over before the spinners hold the cores could be written
    // by the idle writer at once, with nothing to rescue.
    const auto spinning_by = std::chrono::steady_clock::now() + 5s;
    while (spinning.load() < cores && std::chrono::steady_clock::now() < spinning_by) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);

    constexpr int kReadings = 20;
    constexpr int64_t kT0 = 1732200000000;
    std::optional<size_t> points;
    boost::asio::post(io, [&] {
        for (int i = 0; i < kReadings; ++i) {
            std::string payload = R"({"device":"plc1","group":"g","ts":)" + std::to_string(kT0 + i) +
                                  R"(,"values":{"temp":)" + std::to_string(i) + "}}";
            MessageInit init;
            init.topic = "ib/data/plc1/g";
            init.payload = Bytes(reinterpret_cast<const std::byte*>(payload.data()), payload.size());
            router.handler(*Message::make(init, mqtt::broker::Clock::now()));
        }
        HistoryQuery q;
        q.from_ms = kT0;
        q.to_ms = kT0 + kReadings;
        h.query_async("plc1", "temp", q, [&](History::QueryResult r) { points = r ? r->size() : 0; });
    });
    {
        // The answer is posted to the loop from the writer's side.
        auto busy = boost::asio::make_work_guard(io);
        const auto deadline = std::chrono::steady_clock::now() + 50s;
        while (!points && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
    }
    const double rescues = metric(h, "ib_history_writer_rescues_total");
    spin = false;
    spinners.clear();
    boost::asio::post(io, [&] { h.stop(); });
    io.restart();
    io.run();

    ASSERT_TRUE(points.has_value()) << "the query was not answered";
    EXPECT_EQ(*points, static_cast<size_t>(kReadings));
    EXPECT_GE(rescues, 1) << "the starved writer's work was not taken over";
    opened->reset();
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ib::store
