// OPC UA Secure Conversation chunks (OPC 10000-6 §6.7.2): the MSG/OPN/CLO header
// with its SecureChannelId, the asymmetric (OPN) and symmetric (MSG, CLO)
// security headers, the sequence header, and splitting a message body into chunks
// that fit the negotiated limits, signed and encrypted as the channel's security
// policy and mode say (§6.7.2.5), or plain under policy None.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "drivers/opcua/security_policy.hpp"
#include "drivers/opcua/session_services.hpp"
#include "drivers/opcua/uacp.hpp"

namespace ib::drivers::opcua {

// Message header (8) plus SecureChannelId (4), §6.7.2.2 Table 41.
inline constexpr std::size_t kSecureMessageHeaderSize = 12;
inline constexpr std::size_t kSequenceHeaderSize = 8;

// §6.7.2.3 Table 42: in OPN chunks.
struct AsymmetricSecurityHeader {
    std::string security_policy_uri{kSecurityPolicyNone};
    ByteString sender_certificate;               // DER; null under None
    ByteString receiver_certificate_thumbprint;  // SHA-1 of the server's DER; null under None
    bool operator==(const AsymmetricSecurityHeader&) const = default;
};

// §6.7.2.3 Table 44: in MSG and CLO chunks.
struct SymmetricSecurityHeader {
    uint32_t token_id = 0;
    bool operator==(const SymmetricSecurityHeader&) const = default;
};

using SecurityHeader = std::variant<AsymmetricSecurityHeader, SymmetricSecurityHeader>;

// What protects the chunks of one secure channel under a policy other than None
// (§6.7.2.5). OPN chunks are signed with our key and encrypted with the server's
// in both modes; MSG and CLO chunks are signed (Sign) or signed then encrypted
// (SignAndEncrypt) with the symmetric keys derived from the two nonces.
struct ChannelSecurity {
    const PolicyAlgorithms* policy = nullptr;
    MessageSecurityMode mode = MessageSecurityMode::None;
    KeyPtr own_key;               // our private key
    ByteString own_certificate;   // DER
    KeyPtr peer_key;              // the server's public key
    ByteString peer_certificate;  // DER
    SymmetricKeys sending;        // the client's keys, once the channel is open
    SymmetricKeys receiving;      // the server's

    bool encrypts() const { return mode == MessageSecurityMode::SignAndEncrypt; }
    // Our OPN header: the policy, our certificate, the server's thumbprint.
    AsymmetricSecurityHeader asymmetric_header() const;
    // After OpenSecureChannel: the keys of both directions from the two nonces.
    void derive(Bytes client_nonce, Bytes server_nonce);
};

// §6.7.2.4 Table 45.
struct SequenceHeader {
    uint32_t sequence_number = 0;
    uint32_t request_id = 0;
    bool operator==(const SequenceHeader&) const = default;
};

struct Chunk {
    MessageType type = MessageType::Message;  // Message, Open or Close
    char chunk = 'F';                         // 'F' final, 'C' intermediate, 'A' abort
    uint32_t secure_channel_id = 0;
    // Symmetric by default: the asymmetric header's policy URI would allocate.
    SecurityHeader security{SymmetricSecurityHeader{}};
    SequenceHeader sequence;
    Bytes body;  // a view into the frame
};

// A frame from next_frame whose type is MSG, OPN or CLO. Under policy None the
// body is everything after the sequence header (no padding, no signature).
Result<Chunk> decode_chunk(const Frame& frame);
// The same on a secured channel: the chunk is decrypted into `plain` (reused,
// so steady state allocates nothing), its signature and padding are checked
// (DecodeErrc::Security otherwise), and the body is a view into `plain` or the
// frame. `protection` null: policy None.
Result<Chunk> decode_chunk(const Frame& frame, const ChannelSecurity* protection, std::vector<std::byte>& plain);

// The next sequence number to send (§6.7.2.4): +1 per chunk; the legacy rule
// (every policy of 1.04, None included) wraps after 4 294 966 271 to below 1 024.
uint32_t next_sequence_number(uint32_t current);

// How a message is split when sent.
struct SendLimits {
    uint32_t chunk_size = kMinBufferSize;  // the server's ReceiveBufferSize
    uint32_t max_message_size = 0;         // the server's MaxMessageSize; 0: no limit
    uint32_t max_chunk_count = 0;          // the server's MaxChunkCount; 0: no limit
};

// Appends the chunks of one message to `out`: `type` Message splits into as many
// 'C' chunks and one 'F' as the body needs; Open and Close must fit one chunk
// (§6.7.2.2). Each chunk takes the next sequence number from `sequence_number`
// (the last one sent). A body over the limits is refused (TooLarge) with nothing
// appended; the caller fails that request with BadRequestTooLarge. With
// `protection`, each chunk is padded, signed and encrypted as §6.7.2.5 says.
Result<std::size_t> encode_message(std::vector<std::byte>& out, MessageType type, uint32_t secure_channel_id,
                                   const SecurityHeader& security, uint32_t request_id, Bytes body,
                                   const SendLimits& limits, uint32_t& sequence_number,
                                   const ChannelSecurity* protection = nullptr);

// The body bytes one chunk can carry with this security header (§6.7.2.5
// MaxBodySize): under policy None when `protection` is null.
std::size_t chunk_body_capacity(const SecurityHeader& security, uint32_t chunk_size,
                                const ChannelSecurity* protection = nullptr);

}  // namespace ib::drivers::opcua
