// OPC UA Connection Protocol (OPC 10000-6 §7.1): the 8-byte message header that
// frames everything on an opc.tcp connection, and the Hello, Acknowledge and Error
// messages. Pure functions over bytes, no I/O. `next_frame` finds one complete
// message in a receive buffer; "need more" is not an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "drivers/opcua/binary_reader.hpp"
#include "drivers/opcua/binary_writer.hpp"
#include "drivers/opcua/builtin_types.hpp"

namespace ib::drivers::opcua {

// §7.1.2.2 Table 50: three ASCII letters.
enum class MessageType : uint8_t {
    Hello,         // HEL
    Acknowledge,   // ACK
    Error,         // ERR
    ReverseHello,  // RHE
    Message,       // MSG  (secure conversation, §6.7.2)
    Open,          // OPN
    Close,         // CLO
};

inline constexpr std::size_t kMessageHeaderSize = 8;
// §7.1.2.3: "ReceiveBufferSize ... shall be at least 8 192 bytes", and both sides'
// buffers are the largest chunk each accepts.
inline constexpr uint32_t kMinBufferSize = 8192;
// §7.1.2.3: EndpointUrl "shall be less than 4 096 bytes".
inline constexpr std::size_t kMaxEndpointUrlSize = 4095;

struct MessageHeader {
    MessageType type = MessageType::Hello;
    char chunk = 'F';   // §6.7.2.2 IsFinal: 'F', 'C' or 'A' for MSG; always 'F' otherwise
    uint32_t size = 0;  // the whole message, header included
};

// §7.1.2.3
struct Hello {
    uint32_t protocol_version = 0;
    uint32_t receive_buffer_size = 65536;
    uint32_t send_buffer_size = 65536;
    uint32_t max_message_size = 0;  // 0: no limit
    uint32_t max_chunk_count = 0;   // 0: no limit
    std::string endpoint_url;
    bool operator==(const Hello&) const = default;
};

// §7.1.2.4
struct Acknowledge {
    uint32_t protocol_version = 0;
    uint32_t receive_buffer_size = 0;
    uint32_t send_buffer_size = 0;
    uint32_t max_message_size = 0;
    uint32_t max_chunk_count = 0;
    bool operator==(const Acknowledge&) const = default;
};

// §7.1.2.5: sent before the server closes the socket; also the body of an abort chunk.
struct ErrorMessage {
    StatusCode error;
    std::string reason;
    bool operator==(const ErrorMessage&) const = default;
};

// One complete message at the start of a receive buffer.
struct Frame {
    MessageHeader header;
    Bytes message;  // header included; a view into the buffer
};

// std::nullopt: read more bytes. An error: the connection is beyond repair; the
// code is BadLength/BadValue/TooLarge and the caller sends ERR and closes.
// `max_size` is the ReceiveBufferSize this side announced (a chunk never exceeds it).
Result<std::optional<Frame>> next_frame(Bytes buffer, uint32_t max_size);

// Bodies (after the 8-byte header) of HEL, ACK and ERR.
Result<Hello> decode_hello(Bytes body, std::size_t base = kMessageHeaderSize);
Result<Acknowledge> decode_acknowledge(Bytes body, std::size_t base = kMessageHeaderSize);
Result<ErrorMessage> decode_error_message(BinaryReader& r);

// Whole messages, header included.
void encode_hello(std::vector<std::byte>& out, const Hello& hello);
void encode_acknowledge(std::vector<std::byte>& out, const Acknowledge& ack);
void encode_error(std::vector<std::byte>& out, const ErrorMessage& error);

// Writes the header with size 0 and returns where the size goes, for patch_u32.
std::size_t begin_message(BinaryWriter& w, MessageType type, char chunk);
void end_message(BinaryWriter& w, std::size_t start);

// What the two sides agreed (§7.1.2.4): the client's chunks may not exceed the
// server's ReceiveBufferSize, and each side's MaxMessageSize/MaxChunkCount bound
// what the other sends (0: no limit).
struct TransportLimits {
    uint32_t send_chunk_size = 0;      // ≤ the server's ReceiveBufferSize
    uint32_t receive_chunk_size = 0;   // what we announced
    uint32_t send_max_message = 0;     // the server's MaxMessageSize
    uint32_t send_max_chunks = 0;      // the server's MaxChunkCount
    uint32_t receive_max_message = 0;  // ours
    uint32_t receive_max_chunks = 0;   // ours
};

// The limits of a connection from our Hello and the server's Acknowledge; an
// Acknowledge with a buffer below 8 192 bytes is refused.
Result<TransportLimits> negotiate(const Hello& hello, const Acknowledge& ack);

}  // namespace ib::drivers::opcua
