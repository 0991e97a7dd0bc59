// The Sparkplug B edge node put together from the [sparkplug] settings: its
// devices and tags from the device manager, its broker (the local one or a
// bridge's upstream), its loop (the bridges': it is a northbound link too),
// its metrics and its place in the shutdown.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sparkplug/edge_node.hpp"
#include "sparkplug/sparkplug_config.hpp"

namespace boost::asio {
class io_context;
}
namespace ib {
class BusTopics;
}
namespace ib::api {
class HttpServer;
}
namespace ib::bridge {
class Bridge;
}
namespace ib::drivers {
class DeviceManager;
}
namespace ib::mqtt::broker {
class Router;
}

namespace ib::app {

// Null when [sparkplug] is absent or disabled. Called before the loops run.
std::expected<std::unique_ptr<sparkplug::EdgeNode>, std::string> start_sparkplug(
    const sparkplug::SparkplugConfig& config, boost::asio::io_context& loop, mqtt::broker::Router& router,
    const BusTopics& bus, const drivers::DeviceManager& devices,
    const std::vector<std::unique_ptr<bridge::Bridge>>& bridges, const std::string& data_dir);

// Its metrics on /metrics, collected on its loop; nothing when `node` is null.
void add_sparkplug_metrics(api::HttpServer& http, sparkplug::EdgeNode* node, boost::asio::io_context& loop);

// NDEATH and disconnect on `loop`, then `then` (on that loop); with a null
// `node`, `then` at once. The first step of the shutdown: before the broker
// stops, so the NDEATH reaches the local broker's clients.
void stop_sparkplug_then(sparkplug::EdgeNode* node, boost::asio::io_context& loop, std::function<void()> then);

}  // namespace ib::app
