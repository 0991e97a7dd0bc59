// MQTT file transfer on the broker, compatible with EMQX's protocol
// (docs/files.md): the broker hands every `$file/` and `$file-async/` PUBLISH to
// this service (mqtt/broker/file_transfer_hook.hpp), which writes segments at
// their offsets into a partial file, checks checksums, assembles and verifies
// the file at fin and stores it (file_store.hpp). All disk work, and all
// transfer state, lives on the service's own writer thread (`ib-files`): no
// broker shard waits for a write or an fsync; acknowledgements wait for a ticket.
#pragma once

#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "files/file_store.hpp"
#include "files/files_config.hpp"
#include "mqtt/broker/file_transfer_hook.hpp"
#include "mqtt/broker/router.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::files {

class FileTransferService : public mqtt::broker::FileTransferHook {
public:
    // `root` is data_dir/files; results are published through `router`.
    FileTransferService(FilesConfig config, std::string root, mqtt::broker::Router& router);
    ~FileTransferService() override;
    FileTransferService(const FileTransferService&) = delete;
    FileTransferService& operator=(const FileTransferService&) = delete;

    // Opens the store; `tick_loop` runs the timer that expires unfinished
    // transfers and old files (the work itself runs on the service's thread).
    std::expected<void, std::string> start(boost::asio::io_context& tick_loop);
    // Stops the timer and runs what is queued. On `tick_loop`.
    void stop();

    bool on_file_command(const mqtt::broker::FileCommandRequest& request,
                         std::shared_ptr<mqtt::broker::AckOutcome> outcome,
                         mqtt::broker::DurableTicket ticket) override;

    // Called on the service's thread each time a finished file was queued for
    // the forwarding bridges. Set before the loops run.
    void set_on_queued(std::function<void()> fn);
    // The bridges with forward_files, when a fleet revision changed the bridges:
    // the files finished from then on are queued for these. From any thread.
    void set_forward_bridges(std::vector<std::string> names);

    // For the REST API; `done` runs on the service's thread.
    // {"total":N,"files":[manifest...]}, oldest first, from `offset`.
    void list(std::size_t offset, std::size_t limit, std::function<void(std::string json)> done);
    // The manifest of the file removed, or nullopt when there was none.
    void remove(std::string client, std::string id, std::function<void(std::optional<Manifest>)> done);
    // Paths only (no I/O): where a stored file and its manifest are.
    const FileStore& store() const;

    void collect_metrics(MetricSink& sink) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ib::files
