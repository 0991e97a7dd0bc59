// Decode and encode MQTT packets: pure functions over bytes.
// Decoding has three outcomes, as in Redis's parser: a packet, an error
// (MQTT reason code 0x81 malformed or 0x82 protocol error, with the offset and a
// static message), or "need more bytes", which is not an error.
// Encoding appends to a caller-owned buffer that is reused across packets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/result.hpp"
#include "mqtt/codec/packet.hpp"

namespace ib::mqtt::codec {

// §1.5.5: the largest Remaining Length a Variable Byte Integer can hold.
inline constexpr uint32_t kMaxRemainingLength = 268'435'455;

struct FrameHeader {
    uint8_t first_byte = 0;        // packet type << 4 | flags
    uint8_t header_size = 0;       // 2..5 bytes: first byte + remaining length
    uint32_t remaining_length = 0;

    PacketType type() const { return static_cast<PacketType>(first_byte >> 4); }
    uint8_t flags() const { return first_byte & 0x0F; }
    std::size_t total_size() const { return header_size + std::size_t{remaining_length}; }
};

// Reads the fixed header at the start of `buf`. nullopt: not enough bytes yet.
// Errors: a Variable Byte Integer longer than four bytes, packet type 0, or
// reserved flag bits that differ from §2.1.3's table (0x81 malformed).
// The caller compares remaining_length with its maximum packet size before
// buffering the body, so an oversized packet is refused early.
Result<std::optional<FrameHeader>> decode_frame_header(Bytes buf);

// Decodes one whole packet: `body` holds exactly remaining_length bytes after
// the fixed header. `version` is the connection's negotiated version (ignored
// for CONNECT, which carries its own). The result views into `body`.
Result<Packet> decode_packet(const FrameHeader& header, Bytes body, Version version);
// The same for a PUBLISH (header.type() is Publish), without building the
// Packet variant: the broker's path for every message.
Result<Publish> decode_publish(const FrameHeader& header, Bytes body, Version version);
// The same into `out`, every field of which is written except the properties
// of a 3.1.1 packet, left as they are: a Publish kept for 3.1.1 packets alone
// keeps them empty, and saves zeroing a few hundred bytes of Properties per
// message. On an error `out` is partly written.
Result<void> decode_publish_into(const FrameHeader& header, Bytes body, Version version, Publish& out);

// Convenience for tests and clients: decodes the first packet in `buf`.
// nullopt: need more bytes. On success `consumed` is the packet's total size.
Result<std::optional<Packet>> decode_one(Bytes buf, Version version, std::size_t& consumed);

// Validation helpers shared with the broker.
// §1.5.4: well-formed UTF-8, no U+0000, no surrogates (0x81 when violated).
bool valid_utf8(std::string_view s);
// Whether `s` holds '+' or '#' (eight bytes at a time: it runs on every PUBLISH).
bool has_wildcard(std::string_view s);
// §4.7: a topic name has no wildcards and is at least one character.
bool valid_topic_name(std::string_view topic);
// §4.7.1: '#' only last and alone in its level, '+' alone in its level.
bool valid_topic_filter(std::string_view filter);

// ---------------------------------------------------------------- encoding
// Each function appends one complete packet to `out`. `version` selects the
// 3.1.1 or 5.0 layout; 5.0-only fields are ignored for 3.1/3.1.1.
void encode(std::vector<std::byte>& out, const Connect& p);
void encode(std::vector<std::byte>& out, const Connack& p, Version version);
void encode(std::vector<std::byte>& out, const Publish& p, Version version);
void encode(std::vector<std::byte>& out, const Ack& p, Version version);
void encode(std::vector<std::byte>& out, const Subscribe& p, Version version);
void encode(std::vector<std::byte>& out, const Suback& p, Version version);
void encode(std::vector<std::byte>& out, const Unsubscribe& p, Version version);
void encode(std::vector<std::byte>& out, const Unsuback& p, Version version);
void encode(std::vector<std::byte>& out, const Pingreq& p);
void encode(std::vector<std::byte>& out, const Pingresp& p);
void encode(std::vector<std::byte>& out, const Disconnect& p, Version version);
void encode(std::vector<std::byte>& out, const Auth& p);
// Encodes whichever packet `p` holds (CONNECT uses its own version).
void encode(std::vector<std::byte>& out, const Packet& p, Version version);

// The size encode() would append, so a sender can check the peer's Maximum
// Packet Size (§3.1.2.11.4) before writing.
std::size_t encoded_size(const Publish& p, Version version);

// Variable Byte Integer (§1.5.5), exposed for the property and bench code.
void encode_varint(std::vector<std::byte>& out, uint32_t value);
std::size_t varint_size(uint32_t value);

// Internal to the codec's .cpp files (shared between decode and encode); the
// broker has no reason to call these.
namespace detail {
// Where a property list appears: the packet type's value, or kWillScope for the
// Will Properties of CONNECT, which allow a different set (§3.1.3.2).
inline constexpr uint8_t kWillScope = 16;
// Reads a Variable Byte Integer (§1.5.5); errors are 0x81 with the reader's offset.
Result<uint32_t> read_varint(ByteReader& r);
// Reads a Property Length and the properties it covers, checking each against
// the table of §2.2.2.2 for `scope`.
Result<Properties> decode_properties(ByteReader& r, uint8_t scope);
// Bytes of the properties themselves, without the Property Length prefix.
std::size_t properties_size(const Properties& p);
// Writes the Property Length then the properties.
void encode_properties(std::vector<std::byte>& out, const Properties& p);
}  // namespace detail

}  // namespace ib::mqtt::codec
