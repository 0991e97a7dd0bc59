// OPC 10000-6 §6.7.2: Secure Conversation message chunks, policy None.
#include "drivers/opcua/secure_channel.hpp"

#include "drivers/opcua/opcua_binary.hpp"

namespace ib::drivers::opcua {

namespace {

std::size_t security_header_size(const SecurityHeader& security) {
    if (const auto* sym = std::get_if<SymmetricSecurityHeader>(&security)) {
        (void)sym;
        return 4;
    }
    const auto& a = std::get<AsymmetricSecurityHeader>(security);
    return 12 + a.security_policy_uri.size() + a.sender_certificate.size() + a.receiver_certificate_thumbprint.size();
}

void encode_security_header(BinaryWriter& w, const SecurityHeader& security) {
    if (const auto* sym = std::get_if<SymmetricSecurityHeader>(&security)) {
        w.u32(sym->token_id);
        return;
    }
    const auto& a = std::get<AsymmetricSecurityHeader>(security);
    encode_string(w, a.security_policy_uri);
    encode_byte_string(w, a.sender_certificate);
    encode_byte_string(w, a.receiver_certificate_thumbprint);
}

}  // namespace

Result<Chunk> decode_chunk(const Frame& frame) {
    Chunk c;
    c.type = frame.header.type;
    c.chunk = frame.header.chunk;
    if (c.type != MessageType::Message && c.type != MessageType::Open && c.type != MessageType::Close) {
        return fail(DecodeErrc::Unexpected, 0, "not a secure conversation chunk (MSG, OPN or CLO)");
    }
    BinaryReader r{frame.message.subspan(kMessageHeaderSize), kMessageHeaderSize};
    IB_OPCUA_TRY(channel, r.u32());
    c.secure_channel_id = *channel;
    if (c.type == MessageType::Open) {
        AsymmetricSecurityHeader a;
        IB_OPCUA_TRY(uri, decode_string(r));
        IB_OPCUA_TRY(cert, decode_byte_string(r));
        IB_OPCUA_TRY(thumb, decode_byte_string(r));
        a.security_policy_uri = std::move(*uri);
        a.sender_certificate = std::move(*cert);
        a.receiver_certificate_thumbprint = std::move(*thumb);
        c.security = std::move(a);
    } else {
        IB_OPCUA_TRY(token, r.u32());
        c.security = SymmetricSecurityHeader{*token};
    }
    // §6.7.2.5: under a policy other than None, what follows is decrypted and its
    // signature checked (and padding removed) here, before the sequence header is
    // read. Under None it is plain: sequence header, then the body.
    IB_OPCUA_TRY(seq, r.u32());
    IB_OPCUA_TRY(request, r.u32());
    c.sequence = SequenceHeader{*seq, *request};
    c.body = r.rest();
    return c;
}

uint32_t next_sequence_number(uint32_t current) {
    // §6.7.2.4 (legacy policies): "the SequenceNumber shall not exceed 4 294 966 271
    // ... the next number shall be less than 1 024".
    constexpr uint32_t kLegacyWrap = 4294966271u;
    return current >= kLegacyWrap ? 1 : current + 1;
}

std::size_t chunk_body_capacity(const SecurityHeader& security, uint32_t chunk_size) {
    const std::size_t overhead = kSecureMessageHeaderSize + security_header_size(security) + kSequenceHeaderSize;
    return chunk_size > overhead ? chunk_size - overhead : 0;
}

Result<std::size_t> encode_message(std::vector<std::byte>& out, MessageType type, uint32_t secure_channel_id,
                                   const SecurityHeader& security, uint32_t request_id, Bytes body,
                                   const SendLimits& limits, uint32_t& sequence_number) {
    IB_ASSERT(type == MessageType::Message || type == MessageType::Open || type == MessageType::Close,
              "only MSG, OPN and CLO travel in secure conversation chunks");
    const std::size_t capacity = chunk_body_capacity(security, limits.chunk_size);
    if (capacity == 0) return fail(DecodeErrc::TooLarge, 0, "security header leaves no room in a chunk");
    // §7.1.2.4: MaxMessageSize counts the message body.
    if (limits.max_message_size != 0 && body.size() > limits.max_message_size) {
        return fail(DecodeErrc::TooLarge, 0, "request larger than the server's MaxMessageSize");
    }
    const std::size_t chunks = body.empty() ? 1 : (body.size() + capacity - 1) / capacity;
    if (type != MessageType::Message && chunks > 1) {
        return fail(DecodeErrc::TooLarge, 0, "OPN and CLO messages must fit one chunk");
    }
    if (limits.max_chunk_count != 0 && chunks > limits.max_chunk_count) {
        return fail(DecodeErrc::TooLarge, 0, "request needs more chunks than the server's MaxChunkCount");
    }
    BinaryWriter w(out);
    for (std::size_t i = 0; i < chunks; ++i) {
        const Bytes part = body.subspan(i * capacity, std::min(capacity, body.size() - i * capacity));
        const std::size_t start = begin_message(w, type, i + 1 == chunks ? 'F' : 'C');
        w.u32(secure_channel_id);
        encode_security_header(w, security);
        // §6.7.2.5: under a policy other than None, padding and the signature
        // follow the body and everything after the security header is encrypted.
        sequence_number = next_sequence_number(sequence_number);
        w.u32(sequence_number);
        w.u32(request_id);
        w.raw(part);
        end_message(w, start);
    }
    return chunks;
}

}  // namespace ib::drivers::opcua
