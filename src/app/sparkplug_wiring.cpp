#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "app/sparkplug_wiring.hpp"

#include "api/http_server.hpp"
#include "app/placement.hpp"
#include "bridge/bridge.hpp"
#include "core/bus.hpp"
#include "core/log.hpp"
#include "drivers/device_manager.hpp"
#include "sparkplug/edge_node.hpp"
#include "sparkplug/metric_catalog.hpp"

namespace ib::app {

std::expected<std::unique_ptr<sparkplug::EdgeNode>, std::string> start_sparkplug(
    const sparkplug::SparkplugConfig& config, boost::asio::io_context& loop, mqtt::broker::Router& router,
    const BusTopics& bus, const drivers::DeviceManager& devices,
    const std::vector<std::unique_ptr<bridge::Bridge>>& bridges, const std::string& data_dir) {
    if (!config.enabled) return nullptr;
    // The devices as they are at start-up (from the file and the API's store).
    std::vector<drivers::DeviceConfig> device_configs;
    for (const auto* d : devices.devices()) device_configs.push_back(d->config());
    auto catalog = sparkplug::MetricCatalog::build(config, device_configs);
    if (!catalog) return std::unexpected(catalog.error());

    std::optional<bridge::BridgeConfig> upstream;
    if (config.broker != "local") {
        for (const auto& b : bridges) {
            if (b->config().name == config.broker) upstream = b->config();
        }
        if (!upstream) {
            return std::unexpected("sparkplug.broker: \"" + config.broker +
                                   "\" is neither \"local\" nor the name of a [[bridges]] table");
        }
    }
    const std::size_t devices_published = catalog->devices().size();
    std::size_t metrics = 0;
    for (auto& d : catalog->devices()) metrics += d.metrics.size();
    auto node = std::make_unique<sparkplug::EdgeNode>(loop, router, bus, config, std::move(*catalog), std::move(upstream),
                                                      data_dir + "/sparkplug-bdseq");
    if (auto r = node->start(); !r) return std::unexpected(r.error());
    log::info("sparkplug: edge node {}/{} on {}: {} devices, {} metrics", config.group_id, config.edge_node_id,
              config.broker == "local" ? std::string("the local broker") : "bridge " + config.broker,
              devices_published, metrics);
    return node;
}

void add_sparkplug_metrics(api::HttpServer& http, sparkplug::EdgeNode* node, boost::asio::io_context& loop) {
    if (node == nullptr) return;
    http.add_metrics([node](MetricSink& sink) { node->collect_metrics(sink); }, &loop);
}

void stop_sparkplug_then(sparkplug::EdgeNode* node, boost::asio::io_context& loop, std::function<void()> then) {
    if (node == nullptr) return then();
    // The empty second step is a later turn of the loop: the NDEATH routed in
    // the first leaves for the broker's shards at the end of that turn, before
    // `then` stops them.
    run_in_turn({{&loop, [node] { node->stop(); }}, {&loop, [] {}}}, std::move(then));
}

}  // namespace ib::app
