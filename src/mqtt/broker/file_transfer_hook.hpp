// The seam between the broker and MQTT file transfer (src/files): a PUBLISH to
// `$file/...` or `$file-async/...` is taken out of routing on the shard that
// read it and handed to the hook, never delivered nor retained. The hook must
// not block the shard: it copies what it needs and answers later through the
// outcome and the ticket it was given.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"
#include "mqtt/broker/router.hpp"

namespace ib::mqtt::broker {

// The reason code (and 5.0 reason string) of a held acknowledgement, written by
// the hook before it completes the ticket it came with, and read by the
// connection's shard when the acknowledgement goes out.
struct AckOutcome {
    uint8_t reason = 0;
    std::string reason_string;
};

// What a client published on a file-transfer topic: views valid during the call.
struct FileCommandRequest {
    std::string_view client_id;
    std::string_view topic;
    Bytes payload;
    uint16_t packet_id = 0;  // 0 for QoS 0
    std::optional<std::string_view> response_topic;  // 5.0 only
    std::optional<Bytes> correlation_data;
};

// Whether `topic` is one the file-transfer hook takes ("$file/", "$file-async/").
inline bool is_file_transfer_topic(std::string_view topic) {
    return topic.starts_with("$file/") || topic.starts_with("$file-async/");
}

class FileTransferHook {
public:
    virtual ~FileTransferHook() = default;
    // Called on the shard that read the PUBLISH, after the ACL allowed it.
    // `outcome` is null when nobody waits for an answer (QoS 0). The
    // acknowledgement, when held, goes out once `ticket` is complete (dropping
    // it completes it), with the outcome's reason. Returns whether the shard
    // must hold the acknowledgement until then; false answers at once with success
    // (the `$file-async/` commands, unless the hook is behind and wants the
    // publisher slowed down).
    virtual bool on_file_command(const FileCommandRequest& request, std::shared_ptr<AckOutcome> outcome,
                                 DurableTicket ticket) = 0;
};

}  // namespace ib::mqtt::broker
