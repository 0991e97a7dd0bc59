// The cryptographic primitives the OPC UA security policies are made of (OPC
// 10000-7 policy facets, OPC 10000-6 §6.7.5), over OpenSSL 3's EVP interface:
// RSA signatures and encryption with our key or the server's certificate, HMAC,
// AES-CBC without padding (the chunk carries its own), the P_SHA256 key
// derivation, SHA-1 thumbprints and random nonces. OpenSSL stays out of this
// header: keys are opaque handles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <vector>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "drivers/opcua/builtin_types.hpp"

using EVP_PKEY = struct evp_pkey_st;
using EVP_MAC_CTX = struct evp_mac_ctx_st;

namespace ib::drivers::opcua {

// An RSA key: private (ours, a user's) or public (from a certificate).
using KeyPtr = std::shared_ptr<EVP_PKEY>;

// Takes ownership of an OpenSSL key (null stays null).
KeyPtr adopt_key(EVP_PKEY* key);

// RSA signature schemes and encryption paddings of the policies (P7).
enum class RsaSignature : uint8_t { Pkcs1Sha256, PssSha256 };
enum class RsaEncryption : uint8_t { OaepSha1, OaepSha256 };

inline constexpr std::size_t kSha256Size = 32;
inline constexpr std::size_t kSha1Size = 20;
inline constexpr std::size_t kAesBlockSize = 16;

// The modulus size in bytes: a signature's size, an encrypted block's size.
std::size_t rsa_size(const KeyPtr& key);
// Plaintext bytes one encrypted block carries (k − 2·hLen − 2, RFC 8017 §7.1.1).
std::size_t rsa_plain_block(const KeyPtr& key, RsaEncryption padding);

// Errors of the primitives: what failed, for the log (static text).
using CryptoResult = Result<void>;

Result<ByteString> rsa_sign(const KeyPtr& key, RsaSignature scheme, std::span<const Bytes> parts);
bool rsa_verify(const KeyPtr& key, RsaSignature scheme, std::span<const Bytes> parts, Bytes signature);
// Block by block (P6 §6.7.2.5): `plain` is cut into rsa_plain_block pieces, each
// encrypted into rsa_size bytes, appended to `out`.
CryptoResult rsa_encrypt(const KeyPtr& public_key, RsaEncryption padding, Bytes plain, std::vector<std::byte>& out);
CryptoResult rsa_decrypt(const KeyPtr& private_key, RsaEncryption padding, Bytes cipher, std::vector<std::byte>& out);

void hmac_sha256(Bytes key, std::span<const Bytes> parts, std::span<std::byte, kSha256Size> out);

// HMAC-SHA256 under one key, set up once: what signs and checks every chunk of
// a channel without a lookup or an allocation per chunk. Copies share the state
// (one loop uses a channel).
class HmacSha256 {
public:
    HmacSha256() = default;
    explicit HmacSha256(Bytes key);
    void sign(std::span<const Bytes> parts, std::span<std::byte, kSha256Size> out) const;

private:
    std::shared_ptr<EVP_MAC_CTX> ctx_;
};
// In place; `data` is a whole number of AES blocks. The key is 16 or 32 bytes.
CryptoResult aes_cbc(bool encrypt, Bytes key, Bytes iv, std::span<std::byte> data);

// P_SHA256 of TLS 1.2 (RFC 5246 §5), as P6 §6.7.5 uses it: fills `out`.
void p_sha256(Bytes secret, Bytes seed, std::span<std::byte> out);

ByteString sha1(Bytes data);

// P6 §6.2.6: a field that holds a certificate may hold a chain, the DER
// certificates one after the other, the end certificate first. Its first
// certificate (what thumbprints, signatures and names are about); the whole
// field when it does not start with a DER SEQUENCE whose length fits in it.
Bytes leaf_certificate(Bytes chain);
// The certificates after the first (the issuers a server sent along), each a
// DER SEQUENCE; trailing bytes that are not one are left out.
std::vector<Bytes> chain_issuers(Bytes chain);
ByteString random_bytes(std::size_t n);
// Constant time, so a signature check tells an attacker nothing by its timing.
bool same_bytes(Bytes a, Bytes b);
std::string to_hex(Bytes data);

}  // namespace ib::drivers::opcua
