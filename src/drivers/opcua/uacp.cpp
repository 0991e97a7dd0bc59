// OPC 10000-6 §7.1.2: UACP message header, Hello, Acknowledge, Error.
#include "drivers/opcua/uacp.hpp"

#include <algorithm>
#include <string_view>

#include "drivers/opcua/opcua_binary.hpp"

namespace ib::drivers::opcua {

namespace {

// §7.1.2.2 Table 50, in MessageType order.
constexpr std::string_view kTypeNames[] = {"HEL", "ACK", "ERR", "RHE", "MSG", "OPN", "CLO"};

}  // namespace

Result<std::optional<Frame>> next_frame(Bytes buffer, uint32_t max_size) {
    if (buffer.size() < kMessageHeaderSize) return std::optional<Frame>{};
    const std::string_view name = as_string_view(buffer.first(3));
    MessageHeader h;
    bool known = false;
    for (std::size_t i = 0; i < std::size(kTypeNames); ++i) {
        if (name == kTypeNames[i]) {
            h.type = static_cast<MessageType>(i);
            known = true;
        }
    }
    if (!known) return fail(DecodeErrc::BadValue, 0, "unknown message type (not HEL, ACK, ERR, RHE, MSG, OPN or CLO)");
    h.chunk = static_cast<char>(buffer[3]);
    // §6.7.2.2: only MSG is chunked; "This field is always 'F' for other MessageTypes".
    if (h.type == MessageType::Message) {
        if (h.chunk != 'F' && h.chunk != 'C' && h.chunk != 'A') {
            return fail(DecodeErrc::BadValue, 3, "chunk type is not F, C or A");
        }
    } else if (h.chunk != 'F') {
        return fail(DecodeErrc::BadValue, 3, "chunk type of a non-MSG message is not F");
    }
    BinaryReader r{buffer.subspan(4, 4), 4};
    h.size = *r.u32();
    if (h.size < kMessageHeaderSize) return fail(DecodeErrc::BadLength, 4, "message size smaller than its header");
    if (h.size > max_size) return fail(DecodeErrc::TooLarge, 4, "message larger than the receive buffer announced");
    if (buffer.size() < h.size) return std::optional<Frame>{};
    return std::optional<Frame>{Frame{h, buffer.first(h.size)}};
}

namespace {

// Hello and Acknowledge open with the same five UInt32 (P6 §7.1.2.3, §7.1.2.4).
template <typename Message>
Result<void> decode_buffer_sizes(BinaryReader& r, Message& m) {
    for (uint32_t* field : {&m.protocol_version, &m.receive_buffer_size, &m.send_buffer_size, &m.max_message_size,
                            &m.max_chunk_count}) {
        IB_OPCUA_TRY(value, r.u32());
        *field = *value;
    }
    return {};
}

}  // namespace

Result<Hello> decode_hello(Bytes body, std::size_t base) {
    BinaryReader r{body, base};
    Hello h;
    IB_OPCUA_TRY(sizes, decode_buffer_sizes(r, h));
    const std::size_t url_at = r.offset();
    IB_OPCUA_TRY(url, decode_string(r));
    if (url->size() > kMaxEndpointUrlSize) return fail(DecodeErrc::BadLength, url_at, "EndpointUrl of 4096 bytes or more");
    h.endpoint_url = std::move(*url);
    return h;
}

Result<Acknowledge> decode_acknowledge(Bytes body, std::size_t base) {
    BinaryReader r{body, base};
    Acknowledge a;
    IB_OPCUA_TRY(sizes, decode_buffer_sizes(r, a));
    return a;
}

Result<ErrorMessage> decode_error_message(BinaryReader& r) {
    IB_OPCUA_TRY(code, decode_status_code(r));
    IB_OPCUA_TRY(reason, decode_string(r));
    return ErrorMessage{*code, std::move(*reason)};
}

std::size_t begin_message(BinaryWriter& w, MessageType type, char chunk) {
    const std::size_t start = w.size();
    w.raw(kTypeNames[static_cast<std::size_t>(type)]);
    w.u8(static_cast<uint8_t>(chunk));
    w.u32(0);
    return start;
}

void end_message(BinaryWriter& w, std::size_t start) {
    w.patch_u32(start + 4, static_cast<uint32_t>(w.size() - start));
}

void encode_hello(std::vector<std::byte>& out, const Hello& hello) {
    BinaryWriter w(out);
    const auto start = begin_message(w, MessageType::Hello, 'F');
    w.u32(hello.protocol_version);
    w.u32(hello.receive_buffer_size);
    w.u32(hello.send_buffer_size);
    w.u32(hello.max_message_size);
    w.u32(hello.max_chunk_count);
    encode_string(w, hello.endpoint_url);
    end_message(w, start);
}

void encode_acknowledge(std::vector<std::byte>& out, const Acknowledge& ack) {
    BinaryWriter w(out);
    const auto start = begin_message(w, MessageType::Acknowledge, 'F');
    w.u32(ack.protocol_version);
    w.u32(ack.receive_buffer_size);
    w.u32(ack.send_buffer_size);
    w.u32(ack.max_message_size);
    w.u32(ack.max_chunk_count);
    end_message(w, start);
}

void encode_error(std::vector<std::byte>& out, const ErrorMessage& error) {
    BinaryWriter w(out);
    const auto start = begin_message(w, MessageType::Error, 'F');
    encode(w, error.error);
    encode_string(w, error.reason);
    end_message(w, start);
}

Result<TransportLimits> negotiate(const Hello& hello, const Acknowledge& ack) {
    // §7.1.2.4: both buffers are at least 8 192 bytes; the server's
    // ReceiveBufferSize and SendBufferSize "shall not be larger than" what the
    // client asked for. A server that offers more gets what we asked for: our
    // chunks stay within our SendBufferSize, and next_frame refuses any chunk
    // beyond our ReceiveBufferSize.
    if (ack.receive_buffer_size < kMinBufferSize || ack.send_buffer_size < kMinBufferSize) {
        return fail(DecodeErrc::BadValue, 12, "Acknowledge buffer size below 8192");
    }
    TransportLimits l;
    l.send_chunk_size = std::min(ack.receive_buffer_size, hello.send_buffer_size);
    l.receive_chunk_size = hello.receive_buffer_size;
    l.send_max_message = ack.max_message_size;
    l.send_max_chunks = ack.max_chunk_count;
    l.receive_max_message = hello.max_message_size;
    l.receive_max_chunks = hello.max_chunk_count;
    return l;
}

}  // namespace ib::drivers::opcua
