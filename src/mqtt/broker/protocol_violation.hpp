// Why the broker ends a connection for a protocol violation: the fixed set of
// `reason` labels of ib_mqtt_protocol_violations_total, each with the reason
// code that goes on the wire. Connection::protocol_violation is the one place
// that counts, logs and answers them; nothing here does I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mqtt/codec/packet.hpp"

namespace ib::mqtt::broker {

// The labels are the MQTT 5.0 reason codes' names (§2.4) where one applies, so
// a reason keeps its meaning across versions (a 3.1.1 client gets no reason on
// the wire, but is counted the same way). The set is documented in
// ARCHITECTURE.md (Error model): a new one is added there too.
enum class Violation : uint8_t {
    MalformedPacket,             // 0x81: the codec could not decode a packet
    ProtocolError,               // 0x82: a packet out of place or against a MUST of the spec
    UnsupportedProtocolVersion,  // 0x84: a CONNECT of a protocol level we do not speak
    ReceiveMaximumExceeded,      // 0x93: more unacknowledged QoS 1/2 PUBLISH than our Receive Maximum
    TopicAliasInvalid,           // 0x94: a topic alias of 0 or above our Topic Alias Maximum
    PacketTooLarge,              // 0x95: a packet above max_packet_size
    PayloadFormatInvalid,        // 0x99: a QoS 0 payload announced as UTF-8 that is not
    RetainNotSupported,          // 0x9A: a retained PUBLISH where retain is not available
    QosNotSupported,             // 0x9B: a PUBLISH above our Maximum QoS
    WebSocketFrame,              // a WebSocket frame that breaks RFC 6455 (Close 1002/1003)
    WebSocketUpgrade,            // an HTTP upgrade request refused (400/404/426)
};
inline constexpr std::size_t kViolationCount = static_cast<std::size_t>(Violation::WebSocketUpgrade) + 1;

struct ViolationInfo {
    std::string_view label;  // the metric's `reason` label
    // Sent in the 5.0 DISCONNECT (or CONNACK before CONNECT is done); 0: none
    // in MQTT, the transport says it (a WebSocket Close code, an HTTP status).
    uint8_t reason_code;
};

inline constexpr std::array<ViolationInfo, kViolationCount> kViolations{{
    {"malformed_packet", codec::reason::kMalformedPacket},
    {"protocol_error", codec::reason::kProtocolError},
    {"unsupported_protocol_version", codec::reason::kUnsupportedProtocolVersion},
    {"receive_maximum_exceeded", codec::reason::kReceiveMaximumExceeded},
    {"topic_alias_invalid", codec::reason::kTopicAliasInvalid},
    {"packet_too_large", codec::reason::kPacketTooLarge},
    {"payload_format_invalid", codec::reason::kPayloadFormatInvalid},
    {"retain_not_supported", codec::reason::kRetainNotSupported},
    {"qos_not_supported", codec::reason::kQosNotSupported},
    {"websocket_frame", 0},
    {"websocket_upgrade", 0},
}};

constexpr const ViolationInfo& info(Violation v) { return kViolations[static_cast<std::size_t>(v)]; }

// The violation of a decode error's reason code. The codec reports 0x81, 0x82
// and 0x84 only; anything else counts as malformed.
constexpr Violation violation_of_decode_error(uint8_t reason_code) {
    switch (reason_code) {
        case codec::reason::kProtocolError:
            return Violation::ProtocolError;
        case codec::reason::kUnsupportedProtocolVersion:
            return Violation::UnsupportedProtocolVersion;
        default:
            return Violation::MalformedPacket;
    }
}

}  // namespace ib::mqtt::broker
