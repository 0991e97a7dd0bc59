// A bridge to one upstream MQTT broker: local messages matching its forwards are
// taken into a disk queue (store/outbox) and sent upstream oldest first, leaving
// the queue only when acknowledged; remote messages matching its subscriptions
// (commands) are published on the local bus. Runs on the bridges' service loop,
// where the router delivers its forwards; the queue file is written and read on
// a writer thread (store/outbox_writer.hpp), so that loop never waits for the disk.
// Asio stays in the .cpp.
#pragma once

#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/bridge_config.hpp"
#include "bridge/file_forwarder.hpp"
#include "core/bytes.hpp"
#include "core/metrics.hpp"
#include "mqtt/broker/router.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::bridge {

// Why a message selected for forwarding did not reach the upstream; every one is counted.
enum class DropReason : uint8_t { QueueFull, TooOld, OfflineQos0, TooLarge, NoTopic, Rejected, StoreError, Count };
std::string_view drop_reason_name(DropReason r);

// An established link that went down: when, why, and when it came back
// (0 while still down).
struct Disconnect {
    int64_t at_ms = 0;
    std::string reason;
    int64_t up_again_ms = 0;
};
inline constexpr std::size_t kDisconnectHistory = 20;

struct BridgeStatus {
    std::string name;
    bool enabled = true;
    bool connected = false;
    // Connected and the upstream has answered the subscriptions' SUBACK: from
    // then on a command published upstream comes down (before, it may be lost).
    bool subscribed = false;
    std::string server;      // in use, or last tried
    std::string last_error;  // why the link last went down or an attempt failed; "" if never
    // Why an established link last went down, and when (Unix ms; 0 if never):
    // kept apart from last_error, which the next failed attempt overwrites.
    std::string last_disconnect;
    int64_t last_disconnect_ms = 0;
    std::deque<Disconnect> disconnects;  // the last kDisconnectHistory, oldest first
    uint64_t backlog_messages = 0;  // in the disk queue, sent or not, not yet acknowledged
    uint64_t backlog_bytes = 0;     // their topic and payload bytes
    double oldest_age_s = 0;        // of the oldest one; 0 when empty
    uint64_t queue_file_bytes = 0;
    uint64_t inflight = 0;
    uint64_t taken = 0;     // appended to the queue
    uint64_t sent = 0;      // PUBLISH written upstream (first attempts)
    uint64_t acked = 0;     // acknowledged by the upstream (QoS 0: written)
    uint64_t resent = 0;    // sent again after a reconnect: possible duplicates
    uint64_t received = 0;  // from the upstream's subscriptions, published locally
    uint64_t dropped[static_cast<int>(DropReason::Count)] = {};
    uint64_t connects = 0;
    uint64_t store_errors = 0;
    // push-back: messages held in memory until the queue has room, and whether
    // local publishers' acknowledgements are being withheld for them.
    uint64_t held_messages = 0;
    bool pushing_back = false;
    std::optional<FileForwardStatus> files;  // with forward_files
};

// A message from the upstream on one of the control channel's filters.
struct ControlMessage {
    std::string_view topic;
    std::string_view payload;
    bool retain = false;
    // MQTT 5 request/response: where to answer, and what to answer with.
    std::optional<std::string_view> response_topic;
    std::optional<Bytes> correlation_data;
};

// An in-process party's own channel over the bridge's link (the fleet agent,
// docs/fleet.md): its filters are subscribed upstream at every connect and their
// messages go to `message` instead of the local bus; `link` hears of every
// connect (true) and every loss of the link (false, with the reason).
struct ControlChannel {
    std::vector<std::string> filters;
    std::function<void(const ControlMessage&)> message;
    std::function<void(bool up, const std::string& why)> link;
};

// The client id of a bridge whose config gives none: `node` tells apart the
// nodes started from one configuration file, which would otherwise present the
// same id to the cloud broker and take each other's connection in turn.
std::string default_client_id(std::string_view node, std::string_view bridge);

class Bridge {
public:
    // `data_dir` holds the queue file, bridge-<name>.db; `node` is this node's
    // id for default_client_id. Threading: every call on the thread running
    // `io`, which is the loop of the router's in-process subscribers.
    Bridge(boost::asio::io_context& io, BridgeConfig config, mqtt::broker::Router& router, std::string data_dir,
           std::string node);
    ~Bridge();
    Bridge(const Bridge&) = delete;
    Bridge& operator=(const Bridge&) = delete;

    // Opens the queue and subscribes the forwards; the link connects in the
    // background (an unreachable upstream is not an error). The error names the file.
    std::expected<void, std::string> start();
    // Commits what was taken, disconnects, unsubscribes.
    void stop();
    // Stops and starts again with `config` on the same queue file (same name),
    // keeping the control channel: nothing queued is lost.
    std::expected<void, std::string> restart(BridgeConfig config);

    // Before start(); kept across restart().
    void set_control(ControlChannel channel);
    // Publishes straight upstream at QoS 1, outside the queue (the control
    // channel's facts are sent again after a reconnect); false while the link is down.
    bool publish_control(std::string_view topic, std::string_view payload, bool retain,
                         std::optional<std::string_view> response_topic = {},
                         std::optional<Bytes> correlation_data = {});
    bool connected() const;

    const BridgeConfig& config() const;
    // Whether this bridge holds messages it could not yet write (push-back policy,
    // a full queue or a failed write): the durable gate stays closed meanwhile.
    bool holding_back() const;
    BridgeStatus status() const;
    // A received file was queued for this bridge (forward_files): its
    // forwarder looks at its queue at once. Thread-safe.
    void files_queued();
    void collect_metrics(MetricSink& sink) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    // Stopped by restart(): kept until the bridge goes, since handlers of their
    // link may still be queued on the loop.
    std::vector<std::unique_ptr<Impl>> retired_;
};

}  // namespace ib::bridge
