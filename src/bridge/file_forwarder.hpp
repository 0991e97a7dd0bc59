// Sends the files received over MQTT (src/files) to a bridge's upstream with
// the same protocol (`$file/{id}/init`, segments, `fin`), from the disk, one
// file at a time in the order they finished, on a connection of its own
// (`<client_id>-files`) so a large file never delays the bridge's messages.
// The queue is the bridge's directory of entries under data_dir/files/.forward
// (written, fsynced, before the client's fin was acknowledged), each with the
// offset the upstream acknowledged: after an outage or a kill -9 the file goes
// on from there. A file leaves the queue, and the disk unless
// keep_forwarded_files, only once the upstream's fin succeeded. Runs on the
// bridges' loop; reading the disk happens on its own thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bridge/bridge_config.hpp"
#include "core/metrics.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::bridge {

struct FileForwardStatus {
    bool connected = false;
    uint64_t forwarded = 0;       // files whose upstream fin succeeded
    uint64_t bytes = 0;           // segment bytes the upstream acknowledged
    uint64_t failures = 0;        // commands the upstream refused (the file starts over)
    uint64_t queued = 0;          // files waiting, the one in progress included
    std::string current;          // "<client>/<file id>" in progress, "" when idle
};

class FileForwarder {
public:
    // `files_root` is data_dir/files.
    FileForwarder(boost::asio::io_context& io, const BridgeConfig& config, std::string files_root);
    ~FileForwarder();
    FileForwarder(const FileForwarder&) = delete;
    FileForwarder& operator=(const FileForwarder&) = delete;

    void start();
    void stop();
    // A file was queued: look now rather than at the next idle poll.
    void kick();
    FileForwardStatus status() const;
    void collect_metrics(MetricSink& sink, const std::string& labels) const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace ib::bridge
