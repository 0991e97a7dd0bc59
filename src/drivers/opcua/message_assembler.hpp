// Reassembles the chunks of received messages (OPC 10000-6 §6.7.2, §6.7.3): chunks
// are collected by RequestId up to the MaxMessageSize and MaxChunkCount this side
// announced, an abort chunk ('A') drops the partial message and fails its request,
// and every chunk's SequenceNumber must follow the previous one (§6.7.2.4). An
// error means the channel cannot go on: the caller closes it.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "drivers/opcua/secure_channel.hpp"

namespace ib::drivers::opcua {

// A whole message. `body` is a view into the final chunk when the message had one
// chunk (no copy), else into the assembler's buffer; either way valid until the
// next call to add() or until the frame's buffer is reused.
struct AssembledMessage {
    MessageType type = MessageType::Message;
    uint32_t request_id = 0;
    Bytes body;
};

// The server gave up on a response (§6.7.3): the request fails with `error`.
struct AbortedMessage {
    uint32_t request_id = 0;
    ErrorMessage error;
};

// monostate: the chunk was an intermediate one; more are to come.
using AssemblyEvent = std::variant<std::monostate, AssembledMessage, AbortedMessage>;

class MessageAssembler {
public:
    struct Limits {
        uint32_t max_message_size = 16 * 1024 * 1024;  // body bytes; 0: kHardMaxMessageSize
        uint32_t max_chunk_count = 0;                   // 0: no limit (the size still is)
    };
    // However a server is configured, a partial message never holds more.
    static constexpr uint32_t kHardMaxMessageSize = 256u * 1024 * 1024;
    // Responses being reassembled at once (one per outstanding request at most).
    static constexpr std::size_t kMaxPartialMessages = 16;

    explicit MessageAssembler(Limits limits);

    Result<AssemblyEvent> add(const Chunk& chunk);

    // After the channel is (re)opened: forget partial messages and the sequence.
    void reset();

    std::size_t partial_messages() const { return partial_.size(); }

private:
    struct Partial {
        uint32_t request_id = 0;
        MessageType type = MessageType::Message;
        uint32_t chunks = 0;
        std::vector<std::byte> body;
    };

    Result<void> check_sequence(uint32_t number);
    Partial* find(uint32_t request_id);
    void drop(uint32_t request_id);

    Limits limits_;
    std::vector<Partial> partial_;
    std::vector<std::byte> complete_;  // the last multi-chunk message, handed out as a view
    std::optional<uint32_t> last_sequence_;
};

}  // namespace ib::drivers::opcua
