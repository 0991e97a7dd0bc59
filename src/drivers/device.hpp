// One running device: polls each group on its interval through the driver (or
// takes the readings a subscribing driver pushes), applies scale and offset,
// drops unchanged on-change tags, publishes readings on
// <prefix>/data/{device}/{group} and the link state on <prefix>/status/{device} (retained),
// keeps the latest values for the REST API, and carries out writes. The same for
// every driver. Runs on one event loop; nothing here is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/metrics.hpp"
#include "drivers/device_config.hpp"
#include "drivers/driver.hpp"

namespace boost::asio {
class io_context;
}

namespace ib {
class BusTopics;
}

namespace ib::mqtt::broker {
class Router;
}

namespace ib::drivers {

// What a write request asks: tag names with the engineering values to write.
struct WriteRequest {
    std::vector<std::pair<std::string, Value>> values;
};

// Per tag, in request order: nullopt when written.
using WriteResults = std::vector<std::pair<std::string, std::optional<TagError>>>;

class ReadingsInOrder;

class Device final : private DriverEvents {
public:
    Device(boost::asio::io_context& io, DeviceConfig config, const DriverFactory& factory,
           mqtt::broker::Router& router, const BusTopics& bus);
    ~Device() override;
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    void start();
    // Stops polling and the driver; publishes state "stopped".
    void stop();

    const DeviceConfig& config() const { return config_; }
    LinkState state() const { return state_; }
    const std::string& last_error() const { return last_error_; }

    // {"device":..,"groups":{"fast":{"ts":..,"values":{..},"errors":{..}}}}: the last
    // reading of every tag (write-only tags are absent).
    std::string values_json() const;

    // Unscales, checks and writes; `done` runs on the device's loop.
    void write(WriteRequest request, std::function<void(WriteResults)> done);

    // The children of a node of the device (OPC UA); `done` runs on the device's loop.
    void browse(std::string node, std::function<void(BrowseOutcome)> done);

    void collect_metrics(MetricSink& sink) const;

private:
    struct Group;

    void on_link_state(LinkState state, std::string_view error) override;
    void on_readings(uint32_t group, std::span<TagNews> news) override;
    void schedule(Group& group);
    void poll(Group& group);
    void on_read(Group& group, const ReadingsInOrder& readings);
    void publish_status();

    boost::asio::io_context& io_;
    DeviceConfig config_;
    mqtt::broker::Router& router_;
    std::string status_topic_;
    std::unique_ptr<Driver> driver_;
    std::vector<std::unique_ptr<Group>> groups_;
    LinkState state_ = LinkState::Connecting;
    std::string last_error_;
    bool running_ = false;
    // Shared with pending callbacks so they can tell the device is gone.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::string payload_;  // reused for every publish
    uint64_t polls_ = 0;
    uint64_t overruns_ = 0;
    uint64_t tag_errors_ = 0;
    uint64_t writes_ = 0;
    uint64_t write_errors_ = 0;
    uint64_t published_ = 0;
};

}  // namespace ib::drivers
