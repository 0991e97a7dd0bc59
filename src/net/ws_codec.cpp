#include "net/ws_codec.hpp"

namespace ib::net::ws {

namespace {
bool is_control(uint8_t op) { return (op & 0x8) != 0; }
bool known(uint8_t op) { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }
}  // namespace

std::expected<std::optional<FrameHeader>, WsError> decode_header(Bytes in, bool require_mask) {
    if (in.size() < 2) return std::optional<FrameHeader>{};
    const auto b0 = static_cast<uint8_t>(in[0]);
    const auto b1 = static_cast<uint8_t>(in[1]);
    // §5.2: RSV1-3 MUST be 0 unless an extension was negotiated (we offer none).
    if (b0 & 0x70) return std::unexpected(WsError{kCloseProtocolError, 0, "reserved bits set"});
    const uint8_t op = b0 & 0x0F;
    if (!known(op)) return std::unexpected(WsError{kCloseProtocolError, 0, "unknown opcode"});
    FrameHeader h;
    h.fin = (b0 & 0x80) != 0;
    h.opcode = static_cast<Opcode>(op);
    h.masked = (b1 & 0x80) != 0;
    // §5.1: a server MUST close the connection on an unmasked client frame.
    if (require_mask && !h.masked) return std::unexpected(WsError{kCloseProtocolError, 1, "unmasked client frame"});
    const uint8_t len7 = b1 & 0x7F;
    std::size_t pos = 2;
    if (is_control(op)) {
        // §5.5: control frames MUST have a payload of 125 bytes or less and MUST NOT be fragmented.
        if (len7 > kMaxControlPayload)
            return std::unexpected(WsError{kCloseProtocolError, 1, "control frame longer than 125 bytes"});
        if (!h.fin) return std::unexpected(WsError{kCloseProtocolError, 0, "fragmented control frame"});
    }
    if (len7 == 126) {
        if (in.size() < 4) return std::optional<FrameHeader>{};
        h.payload_len = (uint64_t{static_cast<uint8_t>(in[2])} << 8) | static_cast<uint8_t>(in[3]);
        pos = 4;
        // §5.2: the minimal number of bytes MUST be used to encode the length.
        if (h.payload_len < 126) return std::unexpected(WsError{kCloseProtocolError, 2, "length not minimally encoded"});
    } else if (len7 == 127) {
        if (in.size() < 10) return std::optional<FrameHeader>{};
        for (std::size_t i = 0; i < 8; ++i) h.payload_len = (h.payload_len << 8) | static_cast<uint8_t>(in[2 + i]);
        pos = 10;
        // §5.2: the most significant bit MUST be 0.
        if (h.payload_len >> 63) return std::unexpected(WsError{kCloseProtocolError, 2, "64-bit length with the top bit set"});
        if (h.payload_len <= 0xFFFF)
            return std::unexpected(WsError{kCloseProtocolError, 2, "length not minimally encoded"});
    } else {
        h.payload_len = len7;
    }
    if (h.masked) {
        if (in.size() < pos + 4) return std::optional<FrameHeader>{};
        for (std::size_t i = 0; i < 4; ++i) h.mask[i] = in[pos + i];
        pos += 4;
    }
    h.header_size = pos;
    return std::optional<FrameHeader>{h};
}

void apply_mask(std::span<std::byte> data, const std::array<std::byte, 4>& key, uint64_t offset) {
    std::size_t k = static_cast<std::size_t>(offset & 3);
    for (auto& b : data) {
        b ^= key[k];
        k = (k + 1) & 3;
    }
}

void encode_header(std::vector<std::byte>& out, Opcode op, bool fin, uint64_t len,
                   const std::array<std::byte, 4>* mask) {
    const auto b0 = static_cast<uint8_t>((fin ? 0x80 : 0) | static_cast<uint8_t>(op));
    const uint8_t m = mask ? 0x80 : 0;
    out.push_back(std::byte{b0});
    if (len < 126) {
        out.push_back(std::byte{static_cast<uint8_t>(m | len)});
    } else if (len <= 0xFFFF) {
        out.push_back(std::byte{static_cast<uint8_t>(m | 126)});
        out.push_back(std::byte{static_cast<uint8_t>(len >> 8)});
        out.push_back(std::byte{static_cast<uint8_t>(len)});
    } else {
        out.push_back(std::byte{static_cast<uint8_t>(m | 127)});
        for (int i = 7; i >= 0; --i) out.push_back(std::byte{static_cast<uint8_t>(len >> (8 * i))});
    }
    if (mask) out.insert(out.end(), mask->begin(), mask->end());
}

void encode_frame(std::vector<std::byte>& out, Opcode op, Bytes payload, bool fin) {
    encode_header(out, op, fin, payload.size());
    out.insert(out.end(), payload.begin(), payload.end());
}

void encode_close(std::vector<std::byte>& out, uint16_t code) {
    const std::byte body[2] = {std::byte{static_cast<uint8_t>(code >> 8)}, std::byte{static_cast<uint8_t>(code)}};
    encode_frame(out, Opcode::Close, Bytes(body, 2));
}

std::expected<void, WsError> Decoder::start_frame(const FrameHeader& h, std::size_t offset) {
    switch (h.opcode) {
        case Opcode::Continuation:
            // §5.4: a continuation belongs to a message that was started.
            if (!in_message_) return std::unexpected(WsError{kCloseProtocolError, offset, "continuation frame without a message"});
            if (h.fin) in_message_ = false;
            break;
        case Opcode::Text:
            return std::unexpected(WsError{kCloseUnsupportedData, offset, "text frame (MQTT uses binary frames)"});
        case Opcode::Binary:
            if (in_message_) return std::unexpected(WsError{kCloseProtocolError, offset, "new message inside a fragmented one"});
            in_message_ = !h.fin;
            break;
        case Opcode::Close:
            // §5.5.1: a close body is empty or starts with a 2-byte status code.
            if (h.payload_len == 1) return std::unexpected(WsError{kCloseProtocolError, offset, "close frame of 1 byte"});
            break;
        default:
            break;
    }
    cur_ = h;
    in_frame_ = true;
    remaining_ = h.payload_len;
    mask_offset_ = 0;
    ctrl_len_ = 0;
    return {};
}

}  // namespace ib::net::ws
