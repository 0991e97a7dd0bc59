// The MQTT broker: listeners, sessions and the router, spread over the event
// loops of a LoopPool. This header is what the app and the API see; Asio stays
// in the .cpp files.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "mqtt/broker/broker_config.hpp"
#include "mqtt/broker/router.hpp"

namespace ib::net {
class LoopPool;
}
namespace ib::auth {
class Auth;
}

namespace ib::mqtt::broker {

class BrokerCore;
class SessionPersistence;
class FileTransferHook;

class Broker {
public:
    // The first `shard_loops` loops of the pool are broker shards (0: all of
    // them); the others are service loops, where in-process subscribers may
    // run their handlers and from which their publishes are routed.
    Broker(const BrokerConfig& config, net::LoopPool& loops, std::string version, std::size_t shard_loops = 0);
    ~Broker();
    Broker(const Broker&) = delete;
    Broker& operator=(const Broker&) = delete;

    // Binds every listener; the error names the listener, address and port.
    std::expected<void, std::string> start();
    // Closes listeners and client connections on every loop, then calls `done`
    // (on one of the loops). Safe to call from any thread.
    void stop(std::function<void()> done);

    // Actual bound port of each listener, in config order (port 0 resolved).
    std::vector<uint16_t> ports() const;

    Router& router();
    // Users and ACL for network clients; without it, only allow_anonymous is
    // checked and everything is allowed. Set before start(); `auth` outlives the broker.
    void set_auth(auth::Auth* auth);
    // Sessions and retained messages kept in `store` (broker.persistence); set
    // before start(), which loads them. The store outlives the broker.
    void set_persistence(SessionPersistence* store);
    // MQTT file transfer: `$file/` and `$file-async/` PUBLISHes go to `hook`
    // instead of being routed (file_transfer_hook.hpp). Set before start();
    // `hook` outlives the broker.
    void set_file_transfer(FileTransferHook* hook);
    void collect_metrics(MetricSink& sink) const;
    // The sessions of network clients as JSON, for the console's MQTT page:
    // {"total":N,"clients":[{"client_id","connected","peer","protocol",
    // "queued","queued_bytes","inflight","subscriptions":[{"filter","qos"}]}]},
    // at most `limit` clients listed per shard. Each shard lists its own on its loop;
    // `done` runs on `reply_on` once all have. Safe to call from any thread.
    void list_clients(std::size_t limit, boost::asio::io_context& reply_on, std::function<void(std::string)> done);

private:
    std::unique_ptr<BrokerCore> core_;
};

}  // namespace ib::mqtt::broker
