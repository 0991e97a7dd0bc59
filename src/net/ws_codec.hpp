// WebSocket (RFC 6455) framing, server side: pure functions over bytes and a
// streaming decoder that unmasks in place and hands payload bytes on as they
// arrive, so a frame is never buffered whole. No I/O, no allocation per frame.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <vector>

#include "core/bytes.hpp"

namespace ib::net::ws {

enum class Opcode : uint8_t { Continuation = 0x0, Text = 0x1, Binary = 0x2, Close = 0x8, Ping = 0x9, Pong = 0xA };

// Close status codes, §7.4.1.
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseUnsupportedData = 1003;

// A violation by the peer: the close status to answer with, where, and why.
struct WsError {
    uint16_t close_code = kCloseProtocolError;
    std::size_t offset = 0;
    const char* message = "";
};

inline constexpr std::size_t kMaxHeaderSize = 14;
inline constexpr std::size_t kMaxControlPayload = 125;

struct FrameHeader {
    bool fin = true;
    Opcode opcode = Opcode::Binary;
    bool masked = false;
    std::array<std::byte, 4> mask{};
    uint64_t payload_len = 0;
    std::size_t header_size = 0;
};

// The header at the start of `in`; nullopt when more bytes are needed. Checks
// what a single header can show: reserved bits, opcode, control frame rules,
// minimal length encoding, and (`require_mask`) that a client masked it.
std::expected<std::optional<FrameHeader>, WsError> decode_header(Bytes in, bool require_mask = true);

// XORs `data` with the masking key, `offset` bytes into the payload (§5.3).
void apply_mask(std::span<std::byte> data, const std::array<std::byte, 4>& key, uint64_t offset);

// Appends a frame header; servers never mask (§5.1), clients (tests) pass a key.
void encode_header(std::vector<std::byte>& out, Opcode op, bool fin, uint64_t len,
                   const std::array<std::byte, 4>* mask = nullptr);
void encode_frame(std::vector<std::byte>& out, Opcode op, Bytes payload, bool fin = true);
// A close frame carrying `code` (§5.5.1).
void encode_close(std::vector<std::byte>& out, uint16_t code);

// Decodes a client's stream. feed() consumes all of `in` (unmasking it in
// place), calls on_data(Bytes) with each run of binary payload — message
// boundaries are not reported, MQTT packets may span frames — and
// on_control(Opcode, Bytes) with each complete Ping, Pong or Close. After a
// Close nothing more is decoded. Text frames are refused: MQTT goes in binary
// frames only ([MQTT-6.0.0-1]).
class Decoder {
public:
    template <typename OnData, typename OnControl>
    std::expected<void, WsError> feed(std::span<std::byte> in, OnData&& on_data, OnControl&& on_control);

    bool closed() const { return closed_; }
    // Whether a frame or a fragmented message is incomplete.
    bool mid_message() const { return in_frame_ || hdr_len_ > 0 || in_message_; }

private:
    std::expected<void, WsError> start_frame(const FrameHeader& h, std::size_t offset);

    std::array<std::byte, kMaxHeaderSize> hdr_{};
    std::size_t hdr_len_ = 0;  // bytes of a header split across reads
    bool in_frame_ = false;
    FrameHeader cur_{};
    uint64_t remaining_ = 0;
    uint64_t mask_offset_ = 0;
    bool in_message_ = false;  // a fragmented data message is open
    bool closed_ = false;
    std::array<std::byte, kMaxControlPayload> ctrl_{};
    std::size_t ctrl_len_ = 0;
};

template <typename OnData, typename OnControl>
std::expected<void, WsError> Decoder::feed(std::span<std::byte> in, OnData&& on_data, OnControl&& on_control) {
    std::size_t pos = 0;
    auto control = [](Opcode op) { return (static_cast<uint8_t>(op) & 0x8) != 0; };
    auto end_frame = [&] {
        in_frame_ = false;
        if (control(cur_.opcode)) {
            if (cur_.opcode == Opcode::Close) closed_ = true;
            on_control(cur_.opcode, Bytes(ctrl_.data(), ctrl_len_));
        }
    };
    while (!closed_ && (pos < in.size() || (in_frame_ && remaining_ == 0))) {
        if (!in_frame_) {
            std::optional<FrameHeader> h;
            std::size_t used = 0;
            if (hdr_len_ == 0) {
                auto r = decode_header(in.subspan(pos));
                if (!r) return std::unexpected(WsError{r.error().close_code, pos, r.error().message});
                if (!*r) {
                    const std::size_t rest = in.size() - pos;  // < kMaxHeaderSize, or it would decode
                    std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(pos), rest, hdr_.begin());
                    hdr_len_ = rest;
                    return {};
                }
                h = **r;
                used = h->header_size;
            } else {
                const std::size_t old = hdr_len_;
                const std::size_t take = std::min(kMaxHeaderSize - old, in.size() - pos);
                std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(pos), take, hdr_.begin() + old);
                auto r = decode_header(Bytes(hdr_.data(), old + take));
                if (!r) return std::unexpected(WsError{r.error().close_code, pos, r.error().message});
                if (!*r) {
                    hdr_len_ = old + take;
                    return {};
                }
                h = **r;
                used = h->header_size - old;
                hdr_len_ = 0;
            }
            auto ok = start_frame(*h, pos);
            if (!ok) return ok;
            pos += used;
            continue;  // a zero-length frame ends at the top of the loop
        }
        if (remaining_ == 0) {
            end_frame();
            continue;
        }
        const auto k = static_cast<std::size_t>(std::min<uint64_t>(remaining_, in.size() - pos));
        std::span<std::byte> chunk = in.subspan(pos, k);
        apply_mask(chunk, cur_.mask, mask_offset_);
        if (control(cur_.opcode)) {
            std::copy(chunk.begin(), chunk.end(), ctrl_.begin() + static_cast<std::ptrdiff_t>(ctrl_len_));
            ctrl_len_ += k;
        } else {
            on_data(Bytes(chunk.data(), chunk.size()));
        }
        pos += k;
        remaining_ -= k;
        mask_offset_ += k;
        if (remaining_ == 0) end_frame();
        // A data handler may have ended the connection; the caller checks.
    }
    return {};
}

}  // namespace ib::net::ws
