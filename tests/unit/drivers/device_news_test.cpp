// A pushing driver's news (DriverEvents::on_readings): only the tags that
// changed, in the order they came, published as a poll of the same readings
// would be: config order, values, quality and errors.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/bus.hpp"
#include "drivers/device.hpp"
#include "mqtt/broker/router.hpp"

namespace {

using namespace ib::drivers;

// Keeps what the device publishes on its data topics.
class RecordingRouter final : public ib::mqtt::broker::Router {
public:
    std::vector<std::string> data;

    std::expected<void, std::string> publish(std::string_view topic, ib::Bytes payload,
                                             const ib::mqtt::broker::PublishOptions&) override {
        if (topic.starts_with("ib/data/")) {
            data.emplace_back(reinterpret_cast<const char*>(payload.data()), payload.size());
        }
        return {};
    }
    std::expected<ib::mqtt::broker::SubscriberId, std::string> subscribe(std::string_view, boost::asio::io_context&,
                                                                         ib::mqtt::broker::MessageHandler) override {
        return std::unexpected("not here");
    }
    std::expected<ib::mqtt::broker::SubscriberId, std::string> subscribe_durable(
        std::string_view, boost::asio::io_context&, ib::mqtt::broker::DurableHandler) override {
        return std::unexpected("not here");
    }
    void unsubscribe(ib::mqtt::broker::SubscriberId) override {}
    void set_durable_gate(std::function<bool()>) override {}
};

// A driver that pushes its one group and hands the device's events to the test.
class PushingDriver final : public Driver {
public:
    explicit PushingDriver(DriverEvents& events) : events(events) {}
    DriverEvents& events;
    void start() override {}
    void stop() override {}
    void read(uint32_t, std::span<TagReading>, ReadDone done) override { done(); }
    void write(std::vector<WriteItem>, WriteDone done) override { done({}); }
    const DriverStats& stats() const override { return stats_; }
    bool pushes(uint32_t) const override { return true; }

private:
    DriverStats stats_;
};

TagNews news(uint32_t tag, Value v, std::string quality = {}) {
    TagNews n{tag, {}};
    n.reading.set(std::move(v));
    if (!quality.empty()) n.reading.set_quality(std::move(quality));
    return n;
}

TagNews failed(uint32_t tag, std::string message) {
    TagNews n{tag, {}};
    n.reading.fail(static_cast<uint16_t>(TagErrc::DeviceStatus), std::move(message));
    return n;
}

// The payload without its "ts", which is the clock's.
std::string without_ts(const std::string& json) {
    auto at = json.find(",\"ts\":");
    auto end = json.find(',', at + 1);
    return json.substr(0, at) + json.substr(end);
}

// A device "ua" with one group "g" of int32 tags, and its pushing driver.
struct PushedDevice {
    explicit PushedDevice(std::vector<TagConfig> tags) {
        DeviceConfig config;
        config.name = "ua";
        config.driver = DriverKind::OpcUa;
        GroupConfig group;
        group.name = "g";
        group.tags = std::move(tags);
        config.groups.push_back(std::move(group));
        DriverFactory factory = [this](boost::asio::io_context&, const DeviceConfig&, DriverEvents& events) {
            auto d = std::make_unique<PushingDriver>(events);
            driver = d.get();
            return d;
        };
        device = std::make_unique<Device>(io, std::move(config), factory, router, bus);
        device->start();
    }
    void push(std::vector<TagNews> news) { driver->events.on_readings(0, news); }

    boost::asio::io_context io;
    RecordingRouter router;
    ib::BusTopics bus{"ib"};
    PushingDriver* driver = nullptr;
    std::unique_ptr<Device> device;
};

std::vector<TagConfig> int32_tags(std::initializer_list<const char*> names) {
    std::vector<TagConfig> tags;
    for (const char* name : names) {
        TagConfig tag;
        tag.set_name(name);
        tag.type = DataType::Int32;
        tags.push_back(tag);
    }
    return tags;
}

TEST(DeviceNews, ChangedTagsInAnyOrderArePublishedInConfigOrder) {
    auto tags = int32_tags({"a", "b", "c", "d", "e"});
    tags[4].scale = 0.5;  // published as the engineering value
    PushedDevice ua(std::move(tags));

    std::vector<TagNews> pushed;
    pushed.push_back(news(4, int64_t{8}));
    pushed.push_back(failed(3, "BadNodeIdUnknown"));
    pushed.push_back(news(2, int64_t{-3}, "UncertainLastUsableValue"));
    pushed.push_back(news(0, int64_t{1}));
    ua.push(std::move(pushed));

    ASSERT_EQ(ua.router.data.size(), 1u);
    EXPECT_EQ(without_ts(ua.router.data[0]),
              R"({"device":"ua","group":"g","values":{"a":1,"c":-3,"e":4},)"
              R"("quality":{"c":"UncertainLastUsableValue"},)"
              R"("errors":{"d":{"code":1008,"error":"BadNodeIdUnknown"}}})");

    // The tags without news keep their last outcome for the REST API.
    std::vector<TagNews> later;
    later.push_back(news(1, int64_t{2}));
    ua.push(std::move(later));
    ASSERT_EQ(ua.router.data.size(), 2u);
    EXPECT_EQ(without_ts(ua.router.data[1]), R"({"device":"ua","group":"g","values":{"b":2}})");
    const std::string rest = ua.device->values_json();
    EXPECT_NE(rest.find(R"("values":{"a":1,"b":2,"c":-3,"e":4})"), std::string::npos) << rest;
    EXPECT_NE(rest.find(R"("errors":{"d":{"code":1008,"error":"BadNodeIdUnknown"}})"), std::string::npos) << rest;
}

TEST(DeviceNews, NewsOfATagTheGroupDoesNotHaveIsLeftOut) {
    PushedDevice ua(int32_tags({"a"}));
    std::vector<TagNews> pushed;
    pushed.push_back(news(7, int64_t{9}));
    pushed.push_back(news(0, int64_t{1}));
    ua.push(std::move(pushed));
    ASSERT_EQ(ua.router.data.size(), 1u);
    EXPECT_EQ(without_ts(ua.router.data[0]), R"({"device":"ua","group":"g","values":{"a":1}})");
}

}  // namespace
