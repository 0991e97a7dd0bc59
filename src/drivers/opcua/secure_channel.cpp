// OPC 10000-6 §6.7.2: Secure Conversation message chunks, plain (policy None),
// signed, or signed and encrypted (§6.7.2.5).
#include "drivers/opcua/secure_channel.hpp"

#include <algorithm>

#include "drivers/opcua/opcua_binary.hpp"

namespace ib::drivers::opcua {

namespace {

std::size_t security_header_size(const SecurityHeader& security) {
    if (std::holds_alternative<SymmetricSecurityHeader>(security)) return 4;
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

// What shapes a chunk in one direction (§6.7.2.5): the signature's size and the
// encryption's block sizes. Plain under None.
struct ChunkShape {
    bool sign = false;
    bool encrypt = false;
    bool asymmetric = false;
    std::size_t signature = 0;
    std::size_t plain_block = 1;
    std::size_t cipher_block = 1;
    // The ExtraPaddingSize byte is there when the encrypting key is over 2048 bits.
    std::size_t extra_padding = 0;
};

constexpr std::size_t kRsa2048Bytes = 256;

ChunkShape asymmetric_shape(const ChannelSecurity& p, const KeyPtr& signer, const KeyPtr& encrypter) {
    // §6.7.4: OPN is signed and encrypted in Sign mode too.
    ChunkShape s{true, true, true, rsa_size(signer), rsa_plain_block(encrypter, p.policy->asymmetric_encryption),
                 rsa_size(encrypter), 0};
    s.extra_padding = rsa_size(encrypter) > kRsa2048Bytes ? 1 : 0;
    return s;
}

ChunkShape symmetric_shape(const ChannelSecurity& p) {
    if (p.encrypts()) return ChunkShape{true, true, false, kSymmetricSignatureSize, kAesBlockSize, kAesBlockSize, 0};
    return ChunkShape{true, false, false, kSymmetricSignatureSize, 1, 1, 0};
}

ChunkShape sending_shape(MessageType type, const ChannelSecurity* p) {
    if (p == nullptr || p->policy == nullptr) return {};
    return type == MessageType::Open ? asymmetric_shape(*p, p->own_key, p->peer_key) : symmetric_shape(*p);
}

ChunkShape receiving_shape(MessageType type, const ChannelSecurity& p) {
    return type == MessageType::Open ? asymmetric_shape(p, p.peer_key, p.own_key) : symmetric_shape(p);
}

// §6.7.2.5 MaxBodySize: what is left for the body once the headers, the
// signature and at least the padding's size byte(s) have their room.
std::size_t body_capacity(const ChunkShape& s, std::size_t header_size, uint32_t chunk_size) {
    if (chunk_size <= header_size) return 0;
    const std::size_t room = chunk_size - header_size;
    std::size_t overhead = kSequenceHeaderSize + s.signature;
    std::size_t usable = room;
    if (s.encrypt) {
        if (s.plain_block == 0) return 0;
        usable = room / s.cipher_block * s.plain_block;
        overhead += 1 + s.extra_padding;
    }
    return usable > overhead ? usable - overhead : 0;
}

std::unexpected<Error> security_fail(std::size_t offset, const char* why) {
    return fail(DecodeErrc::Security, offset, why);
}

// Pads, signs and encrypts the chunk that starts at `start` in `out`, whose
// security header ends at `header_end` and whose body was just written.
Result<void> protect(std::vector<std::byte>& out, std::size_t start, std::size_t header_end, const ChunkShape& s,
                     MessageType type, const ChannelSecurity& p) {
    if (s.encrypt) {
        // PaddingSize, then that many bytes of the same value, then the
        // ExtraPaddingSize byte: the plaintext up to the signature fills whole blocks.
        const std::size_t used = out.size() - header_end + 1 + s.extra_padding + s.signature;
        const std::size_t padding = (s.plain_block - used % s.plain_block) % s.plain_block;
        out.insert(out.end(), padding + 1, static_cast<std::byte>(padding & 0xFF));
        if (s.extra_padding != 0) out.push_back(static_cast<std::byte>(padding >> 8));
    }
    // MessageSize is the size on the wire, known before signing (§6.7.2.5).
    const std::size_t plain_size = out.size() - header_end + s.signature;
    const std::size_t wire = header_end - start + (s.encrypt ? plain_size / s.plain_block * s.cipher_block : plain_size);
    BinaryWriter(out).patch_u32(start + 4, static_cast<uint32_t>(wire));
    const Bytes signed_part[] = {Bytes(out.data() + start, out.size() - start)};
    if (type == MessageType::Open) {
        auto signature = rsa_sign(p.own_key, p.policy->asymmetric_signature, signed_part);
        if (!signature) return std::unexpected(signature.error());
        out.insert(out.end(), signature->begin(), signature->end());
    } else {
        std::array<std::byte, kSha256Size> mac{};
        p.sending.mac.sign(signed_part, mac);
        out.insert(out.end(), mac.begin(), mac.end());
    }
    if (!s.encrypt) return {};
    if (type == MessageType::Open) {
        // OPN only (once per channel): the plaintext is copied out, then the
        // blocks replace it.
        const std::vector<std::byte> plain(out.begin() + static_cast<std::ptrdiff_t>(header_end), out.end());
        out.resize(header_end);
        return rsa_encrypt(p.peer_key, p.policy->asymmetric_encryption, Bytes(plain), out);
    }
    return aes_cbc(true, p.sending.encrypting_key(), Bytes(p.sending.iv),
                   std::span(out.data() + header_end, out.size() - header_end));
}

// Decrypts and checks what follows the security header; returns the plaintext
// from the sequence header to the end of the body.
Result<Bytes> unprotect(const Frame& frame, std::size_t header_end, MessageType type, const ChannelSecurity& p,
                        std::vector<std::byte>& plain) {
    const ChunkShape s = receiving_shape(type, p);
    const Bytes header = frame.message.first(header_end);
    const Bytes rest = frame.message.subspan(header_end);
    Bytes text = rest;
    if (s.encrypt) {
        plain.clear();
        if (s.asymmetric) {
            if (!rsa_decrypt(p.own_key, p.policy->asymmetric_encryption, rest, plain)) {
                return security_fail(header_end, "cannot decrypt the OpenSecureChannel response with our key");
            }
        } else {
            if (rest.size() % kAesBlockSize != 0) return security_fail(header_end, "encrypted part is not whole AES blocks");
            plain.assign(rest.begin(), rest.end());
            if (!aes_cbc(false, p.receiving.encrypting_key(), Bytes(p.receiving.iv), std::span(plain))) {
                return security_fail(header_end, "cannot decrypt the chunk");
            }
        }
        text = Bytes(plain);
    }
    if (text.size() < kSequenceHeaderSize + s.signature) return security_fail(header_end, "chunk shorter than its signature");
    const Bytes content = text.first(text.size() - s.signature);
    const Bytes signature = text.last(s.signature);
    const Bytes signed_parts[] = {header, content};
    if (s.asymmetric) {
        if (!rsa_verify(p.peer_key, p.policy->asymmetric_signature, signed_parts, signature)) {
            return security_fail(header_end, "the server's signature on OpenSecureChannel does not verify");
        }
    } else {
        std::array<std::byte, kSha256Size> mac{};
        p.receiving.mac.sign(signed_parts, mac);
        if (!same_bytes(Bytes(mac), signature)) return security_fail(header_end, "chunk signature does not verify");
    }
    if (!s.encrypt) return content;
    // The padding, read from its end: [PaddingSize][Padding × n][ExtraPaddingSize].
    const std::size_t footer_min = kSequenceHeaderSize + 1 + s.extra_padding;
    if (content.size() < footer_min) return security_fail(header_end, "chunk too short for its padding");
    const auto byte_at = [&](std::size_t from_end) { return static_cast<uint8_t>(content[content.size() - 1 - from_end]); };
    const uint8_t low = byte_at(s.extra_padding);
    const std::size_t padding = s.extra_padding != 0 ? (std::size_t{byte_at(0)} << 8 | low) : low;
    if (padding + footer_min > content.size()) return security_fail(header_end, "padding longer than the chunk");
    for (std::size_t i = 0; i <= padding; ++i) {
        if (byte_at(s.extra_padding + i) != low) return security_fail(header_end, "padding bytes do not match its size");
    }
    return content.first(content.size() - padding - 1 - s.extra_padding);
}

}  // namespace

AsymmetricSecurityHeader ChannelSecurity::asymmetric_header() const {
    AsymmetricSecurityHeader h;
    if (policy == nullptr) return h;
    h.security_policy_uri = std::string(policy->uri);
    h.sender_certificate = own_certificate;
    h.receiver_certificate_thumbprint = sha1(leaf_certificate(Bytes(peer_certificate)));
    return h;
}

void ChannelSecurity::derive(Bytes client_nonce, Bytes server_nonce) {
    sending = derive_keys(*policy, server_nonce, client_nonce);
    receiving = derive_keys(*policy, client_nonce, server_nonce);
}

Result<Chunk> decode_chunk(const Frame& frame) {
    std::vector<std::byte> unused;
    return decode_chunk(frame, nullptr, unused);
}

Result<Chunk> decode_chunk(const Frame& frame, const ChannelSecurity* protection, std::vector<std::byte>& plain) {
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
    Bytes text = r.rest();
    const std::size_t header_end = r.offset();
    if (protection != nullptr && protection->policy != nullptr) {
        if (const auto* a = std::get_if<AsymmetricSecurityHeader>(&c.security)) {
            // §6.7.2.3: the answer names our policy, is for our certificate, and
            // comes from the certificate the endpoint announced (either may be a
            // chain, P6 §6.2.6: their end certificates are compared).
            if (a->security_policy_uri != protection->policy->uri) {
                return security_fail(kSecureMessageHeaderSize, "OpenSecureChannel answered under another security policy");
            }
            if (a->receiver_certificate_thumbprint != sha1(Bytes(protection->own_certificate))) {
                return security_fail(kSecureMessageHeaderSize, "OpenSecureChannel answered for another certificate than ours");
            }
            const Bytes announced = leaf_certificate(Bytes(protection->peer_certificate));
            const Bytes sender = leaf_certificate(Bytes(a->sender_certificate));
            if (!std::ranges::equal(announced, sender)) {
                return security_fail(kSecureMessageHeaderSize, "OpenSecureChannel signed with another certificate than the endpoint's");
            }
        }
        IB_OPCUA_TRY(opened, unprotect(frame, header_end, c.type, *protection, plain));
        text = *opened;
    }
    BinaryReader s{text, header_end};
    IB_OPCUA_TRY(seq, s.u32());
    IB_OPCUA_TRY(request, s.u32());
    c.sequence = SequenceHeader{*seq, *request};
    c.body = s.rest();
    return c;
}

uint32_t next_sequence_number(uint32_t current) {
    // §6.7.2.4 (legacy policies): "the SequenceNumber shall not exceed 4 294 966 271
    // ... the next number shall be less than 1 024".
    constexpr uint32_t kLegacyWrap = 4294966271u;
    return current >= kLegacyWrap ? 1 : current + 1;
}

std::size_t chunk_body_capacity(const SecurityHeader& security, uint32_t chunk_size, const ChannelSecurity* protection) {
    const MessageType type =
        std::holds_alternative<AsymmetricSecurityHeader>(security) ? MessageType::Open : MessageType::Message;
    return body_capacity(sending_shape(type, protection), kSecureMessageHeaderSize + security_header_size(security),
                         chunk_size);
}

Result<std::size_t> encode_message(std::vector<std::byte>& out, MessageType type, uint32_t secure_channel_id,
                                   const SecurityHeader& security, uint32_t request_id, Bytes body,
                                   const SendLimits& limits, uint32_t& sequence_number,
                                   const ChannelSecurity* protection) {
    IB_ASSERT(type == MessageType::Message || type == MessageType::Open || type == MessageType::Close,
              "only MSG, OPN and CLO travel in secure conversation chunks");
    const std::size_t capacity = chunk_body_capacity(security, limits.chunk_size, protection);
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
    const ChunkShape shape = sending_shape(type, protection);
    const std::size_t before = out.size();
    BinaryWriter w(out);
    for (std::size_t i = 0; i < chunks; ++i) {
        const Bytes part = body.subspan(i * capacity, std::min(capacity, body.size() - i * capacity));
        const std::size_t start = begin_message(w, type, i + 1 == chunks ? 'F' : 'C');
        w.u32(secure_channel_id);
        encode_security_header(w, security);
        const std::size_t header_end = out.size();
        sequence_number = next_sequence_number(sequence_number);
        w.u32(sequence_number);
        w.u32(request_id);
        w.raw(part);
        if (shape.sign) {
            if (auto sealed = protect(out, start, header_end, shape, type, *protection); !sealed) {
                out.resize(before);
                return fail(DecodeErrc::Security, 0, sealed.error().message);
            }
        } else {
            end_message(w, start);
        }
    }
    return chunks;
}

}  // namespace ib::drivers::opcua
