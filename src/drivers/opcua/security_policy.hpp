// The security policies Ironbridge speaks (OPC 10000-7 facets; the table in
// shared/opcua-notes.md §2): their URIs, the algorithms each one uses, our
// ranking of them, and the symmetric keys of a channel derived from the two
// nonces (OPC 10000-6 §6.7.5).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "drivers/opcua/crypto.hpp"

namespace ib::drivers::opcua {

// The security policies a client offers. `Best` is the default: the most secure
// endpoint the server offers (GetEndpoints) that we support; `None` is used only
// when asked for by name.
enum class SecurityPolicy : uint8_t { Best, None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss };

inline constexpr std::string_view kSecurityPolicyNone = "http://opcfoundation.org/UA/SecurityPolicy#None";

struct PolicyAlgorithms {
    SecurityPolicy policy;
    std::string_view name;  // as users write it
    std::string_view uri;
    RsaSignature asymmetric_signature;
    std::string_view asymmetric_signature_uri;  // SignatureData.algorithm
    RsaEncryption asymmetric_encryption;
    std::string_view asymmetric_encryption_uri;  // UserNameIdentityToken.encryptionAlgorithm
    std::size_t encrypting_key_size;             // AES-256 or AES-128
    uint8_t rank;                                // ours: higher is stronger
};

// Secured policies only (None has no algorithms): null when not one of ours.
const PolicyAlgorithms* policy_by_uri(std::string_view uri);
const PolicyAlgorithms* policy_algorithms(SecurityPolicy policy);
// "Basic256Sha256", "None", or the URI's last part for policies we do not speak.
std::string_view policy_name(SecurityPolicy policy);
std::string_view policy_name(std::string_view uri);

// All SHA-2 policies: nonces of 32 bytes, HMAC-SHA256 keys of 32, AES IVs of 16.
inline constexpr std::size_t kSecureNonceSize = 32;
inline constexpr std::size_t kSigningKeySize = kSha256Size;
inline constexpr std::size_t kSymmetricSignatureSize = kSha256Size;

// One direction's keys (§6.7.5): signing key | encrypting key | IV.
struct SymmetricKeys {
    std::array<std::byte, kSigningKeySize> signing{};
    std::array<std::byte, 32> encrypting{};
    std::size_t encrypting_size = 0;
    std::array<std::byte, kAesBlockSize> iv{};
    HmacSha256 mac;  // keyed with `signing`

    Bytes encrypting_key() const { return Bytes(encrypting.data(), encrypting_size); }
};

// P_SHA256(secret, seed) cut into the policy's key sizes. The client's keys come
// from (secret = ServerNonce, seed = ClientNonce), the server's from the reverse.
SymmetricKeys derive_keys(const PolicyAlgorithms& policy, Bytes secret, Bytes seed);

}  // namespace ib::drivers::opcua
