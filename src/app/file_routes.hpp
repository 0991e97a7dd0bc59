// The files received over MQTT (files::FileTransferService) on the REST API:
// GET /api/v1/files (paged list), GET /api/v1/files/{client}/{id} (the bytes,
// streamed from disk), DELETE /api/v1/files/{client}/{id} (admin, audited).
// Wiring only, so neither the API nor the files module knows the other.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace ib::api {
class HttpServer;
}
namespace ib::files {
class FileTransferService;
}
namespace ib::config {
struct NodeConfig;
}
namespace ib::bridge {
struct BridgeConfig;
class Bridge;
}
namespace ib::mqtt::broker {
class Broker;
}

namespace ib::app {

// Makes the service (the bridges with forward_files get a queue each), opens
// data_dir/files, and hands the broker its `$file/` commands; before
// broker.start(). `tick_loop` runs its expiry timer.
std::expected<void, std::string> start_file_transfer(config::NodeConfig& cfg,
                                                     const std::vector<bridge::BridgeConfig>& bridges,
                                                     mqtt::broker::Broker& broker, boost::asio::io_context& tick_loop,
                                                     std::unique_ptr<files::FileTransferService>& out);

// FleetTargets::bridges_changed: the bridges a fleet revision left with
// forward_files get the files finished from then on, like the file's at start.
// Empty without file transfer.
std::function<void(const std::vector<std::unique_ptr<bridge::Bridge>>&)> file_bridges_follow(
    files::FileTransferService* files);

// `api_loop` is the server's loop: listing and deleting run on the service's
// thread and answer from there.
void add_file_routes(api::HttpServer& server, files::FileTransferService& files, boost::asio::io_context& api_loop);

}  // namespace ib::app
