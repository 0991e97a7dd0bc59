// The Sparkplug B edge node (Eclipse Sparkplug 3.0): publishes the node's
// devices and tags, read from the bus (<prefix>/data/...), as NBIRTH/DBIRTH and
// then NDATA/DDATA of what changed, with aliases and a seq of 0..255; registers
// NDEATH as the will with a bdSeq kept in data_dir across restarts; births again
// on "Node Control/Rebirth"; DDEATH and DBIRTH as a device's link goes and
// comes back; turns DCMD into the bus's write requests, whose
// results it logs and counts. On the node's own broker, or on a connection of
// its own to a bridge's upstream. Runs on the loop it is given; Asio stays in
// the .cpp.
#pragma once

#include <expected>
#include <memory>
#include <optional>
#include <string>

#include "bridge/bridge_config.hpp"
#include "core/bus.hpp"
#include "core/metrics.hpp"
#include "sparkplug/metric_catalog.hpp"
#include "sparkplug/sparkplug_config.hpp"

namespace boost::asio {
class io_context;
}
namespace ib::mqtt::broker {
class Router;
}

namespace ib::sparkplug {

class EdgeNode {
public:
    // `upstream`: the bridge whose servers, TLS and credentials the node
    // connects to (its own client id, a clean session); nullopt: the node's own
    // broker, through `router`. `bdseq_file` keeps the last bdSeq used.
    EdgeNode(boost::asio::io_context& loop, mqtt::broker::Router& router, const BusTopics& bus, SparkplugConfig config,
             MetricCatalog catalog, std::optional<bridge::BridgeConfig> upstream, std::string bdseq_file);
    ~EdgeNode();
    EdgeNode(const EdgeNode&) = delete;
    EdgeNode& operator=(const EdgeNode&) = delete;

    // Subscribes to the bus and connects. Before the loops run, or on the loop.
    std::expected<void, std::string> start();
    // Publishes NDEATH and disconnects. On the loop.
    void stop();

    // On the loop.
    void collect_metrics(MetricSink& sink) const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace ib::sparkplug
