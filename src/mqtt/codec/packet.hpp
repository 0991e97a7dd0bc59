// MQTT 3.1, 3.1.1 and 5.0 packets as plain structs. Decoded packets are views
// into the receive buffer (string_view / Bytes): they are valid only while that
// buffer is, and whoever keeps a field longer copies it. No I/O here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "core/bytes.hpp"

namespace ib::mqtt::codec {

enum class PacketType : uint8_t {
    Connect = 1,
    Connack = 2,
    Publish = 3,
    Puback = 4,
    Pubrec = 5,
    Pubrel = 6,
    Pubcomp = 7,
    Subscribe = 8,
    Suback = 9,
    Unsubscribe = 10,
    Unsuback = 11,
    Pingreq = 12,
    Pingresp = 13,
    Disconnect = 14,
    Auth = 15,
};

// The protocol level byte of CONNECT.
enum class Version : uint8_t { V31 = 3, V311 = 4, V5 = 5 };

// MQTT 5.0 §2.4 reason codes, the subset the broker emits or checks by name.
namespace reason {
inline constexpr uint8_t kSuccess = 0x00;
inline constexpr uint8_t kGrantedQos0 = 0x00;
inline constexpr uint8_t kGrantedQos1 = 0x01;
inline constexpr uint8_t kGrantedQos2 = 0x02;
inline constexpr uint8_t kDisconnectWithWill = 0x04;
inline constexpr uint8_t kNoMatchingSubscribers = 0x10;
inline constexpr uint8_t kNoSubscriptionExisted = 0x11;
inline constexpr uint8_t kUnspecifiedError = 0x80;
inline constexpr uint8_t kMalformedPacket = 0x81;
inline constexpr uint8_t kProtocolError = 0x82;
inline constexpr uint8_t kImplementationSpecificError = 0x83;
inline constexpr uint8_t kUnsupportedProtocolVersion = 0x84;
inline constexpr uint8_t kClientIdentifierNotValid = 0x85;
inline constexpr uint8_t kBadUserNameOrPassword = 0x86;
inline constexpr uint8_t kNotAuthorized = 0x87;
inline constexpr uint8_t kServerUnavailable = 0x88;
inline constexpr uint8_t kServerBusy = 0x89;
inline constexpr uint8_t kBanned = 0x8A;
inline constexpr uint8_t kServerShuttingDown = 0x8B;
inline constexpr uint8_t kBadAuthenticationMethod = 0x8C;
inline constexpr uint8_t kKeepAliveTimeout = 0x8D;
inline constexpr uint8_t kSessionTakenOver = 0x8E;
inline constexpr uint8_t kTopicFilterInvalid = 0x8F;
inline constexpr uint8_t kTopicNameInvalid = 0x90;
inline constexpr uint8_t kPacketIdentifierInUse = 0x91;
inline constexpr uint8_t kPacketIdentifierNotFound = 0x92;
inline constexpr uint8_t kReceiveMaximumExceeded = 0x93;
inline constexpr uint8_t kTopicAliasInvalid = 0x94;
inline constexpr uint8_t kPacketTooLarge = 0x95;
inline constexpr uint8_t kMessageRateTooHigh = 0x96;
inline constexpr uint8_t kQuotaExceeded = 0x97;
inline constexpr uint8_t kAdministrativeAction = 0x98;
inline constexpr uint8_t kPayloadFormatInvalid = 0x99;
inline constexpr uint8_t kRetainNotSupported = 0x9A;
inline constexpr uint8_t kQosNotSupported = 0x9B;
inline constexpr uint8_t kUseAnotherServer = 0x9C;
inline constexpr uint8_t kServerMoved = 0x9D;
inline constexpr uint8_t kSharedSubscriptionsNotSupported = 0x9E;
inline constexpr uint8_t kConnectionRateExceeded = 0x9F;
inline constexpr uint8_t kMaximumConnectTime = 0xA0;
inline constexpr uint8_t kSubscriptionIdentifiersNotSupported = 0xA1;
inline constexpr uint8_t kWildcardSubscriptionsNotSupported = 0xA2;
}  // namespace reason

// MQTT 3.1.1 CONNACK return codes (§3.2.2.3).
namespace v3_connack {
inline constexpr uint8_t kAccepted = 0;
inline constexpr uint8_t kUnacceptableProtocolVersion = 1;
inline constexpr uint8_t kIdentifierRejected = 2;
inline constexpr uint8_t kServerUnavailable = 3;
inline constexpr uint8_t kBadUserNameOrPassword = 4;
inline constexpr uint8_t kNotAuthorized = 5;
}  // namespace v3_connack

// MQTT 5.0 §2.2.2.2 properties. Each is present or not; a property that may
// appear several times is kept as its raw encoded bytes (user properties), so a
// broker forwards them unchanged without decoding or allocating.
struct Properties {
    std::optional<uint8_t> payload_format_indicator;       // 0x01
    std::optional<uint32_t> message_expiry_interval;       // 0x02
    std::optional<std::string_view> content_type;          // 0x03
    std::optional<std::string_view> response_topic;        // 0x08
    std::optional<Bytes> correlation_data;                 // 0x09
    // 0x0B. A client's SUBSCRIBE carries at most one; a server's PUBLISH may
    // carry several, and the decoder keeps the first kMaxSubscriptionIds.
    static constexpr std::size_t kMaxSubscriptionIds = 8;
    std::array<uint32_t, kMaxSubscriptionIds> subscription_ids{};
    uint8_t subscription_id_count = 0;
    std::optional<uint32_t> session_expiry_interval;       // 0x11
    std::optional<std::string_view> assigned_client_identifier;  // 0x12
    std::optional<uint16_t> server_keep_alive;             // 0x13
    std::optional<std::string_view> authentication_method;  // 0x15
    std::optional<Bytes> authentication_data;              // 0x16
    std::optional<uint8_t> request_problem_information;    // 0x17
    std::optional<uint32_t> will_delay_interval;           // 0x18
    std::optional<uint8_t> request_response_information;   // 0x19
    std::optional<std::string_view> response_information;  // 0x1A
    std::optional<std::string_view> server_reference;      // 0x1C
    std::optional<std::string_view> reason_string;         // 0x1F
    std::optional<uint16_t> receive_maximum;               // 0x21
    std::optional<uint16_t> topic_alias_maximum;           // 0x22
    std::optional<uint16_t> topic_alias;                   // 0x23
    std::optional<uint8_t> maximum_qos;                    // 0x24
    std::optional<uint8_t> retain_available;               // 0x25
    // 0x26: every user property, as the bytes that encode them (each one the
    // identifier 0x26 followed by two UTF-8 strings), in order.
    // Zero-copy means this is one span of the input: from the first 0x26 entry
    // to the end of the last. A sender may interleave other properties between
    // user properties (§2.2.2.2 fixes no order); those then sit inside the run,
    // already decoded into their fields above, and user_properties() and
    // encode() skip them, so they are never emitted twice.
    Bytes user_properties_raw;
    std::optional<uint32_t> maximum_packet_size;           // 0x27
    std::optional<uint8_t> wildcard_subscription_available;     // 0x28
    std::optional<uint8_t> subscription_identifier_available;   // 0x29
    std::optional<uint8_t> shared_subscription_available;       // 0x2A

    bool empty() const;
};

struct UserProperty {
    std::string_view key;
    std::string_view value;
};
// Decodes Properties::user_properties_raw (already validated by the decoder).
std::vector<UserProperty> user_properties(Bytes raw);
// Appends one encoded user property to `raw`, to build user_properties_raw for
// packets the broker originates. `raw` must outlive the Properties viewing it.
void append_user_property(std::vector<std::byte>& raw, std::string_view key,
                          std::string_view value);

struct Will {
    std::string_view topic;
    Bytes payload;
    uint8_t qos = 0;
    bool retain = false;
    Properties properties;  // 5.0 only
};

struct Connect {
    Version version = Version::V311;
    std::string_view protocol_name;  // "MQTT" or "MQIsdp" (3.1)
    bool clean_start = true;
    uint16_t keep_alive = 0;  // seconds
    std::string_view client_id;
    std::optional<Will> will;
    std::optional<std::string_view> username;
    std::optional<Bytes> password;
    Properties properties;
};

struct Connack {
    bool session_present = false;
    uint8_t reason_code = 0;  // 3.1.1 return code or 5.0 reason code
    Properties properties;
};

struct Publish {
    uint8_t qos = 0;
    bool retain = false;
    bool dup = false;
    std::string_view topic;   // may be empty in 5.0 when a topic alias is used
    uint16_t packet_id = 0;   // 0 when qos == 0
    Bytes payload;
    Properties properties;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP share one shape.
struct Ack {
    PacketType type = PacketType::Puback;
    uint16_t packet_id = 0;
    uint8_t reason_code = 0;
    Properties properties;
};

struct SubscribeTopic {
    std::string_view filter;
    uint8_t qos = 0;
    bool no_local = false;
    bool retain_as_published = false;
    uint8_t retain_handling = 0;
};

struct Subscribe {
    uint16_t packet_id = 0;
    Properties properties;
    std::vector<SubscribeTopic> topics;
};

struct Suback {
    uint16_t packet_id = 0;
    Properties properties;
    std::vector<uint8_t> reason_codes;
};

struct Unsubscribe {
    uint16_t packet_id = 0;
    Properties properties;
    std::vector<std::string_view> filters;
};

struct Unsuback {
    uint16_t packet_id = 0;
    Properties properties;
    std::vector<uint8_t> reason_codes;  // empty for 3.1.1
};

struct Pingreq {};
struct Pingresp {};

struct Disconnect {
    uint8_t reason_code = 0;
    Properties properties;
};

struct Auth {
    uint8_t reason_code = 0;
    Properties properties;
};

using Packet = std::variant<Connect, Connack, Publish, Ack, Subscribe, Suback, Unsubscribe,
                            Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

}  // namespace ib::mqtt::codec
