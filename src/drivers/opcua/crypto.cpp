// OpenSSL 3 EVP behind the primitives of the OPC UA security policies.
#include "drivers/opcua/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstring>

#include "core/assert.hpp"

namespace ib::drivers::opcua {

namespace {

// Codes of crypto failures carried in ib::Error (the message says what failed).
constexpr uint8_t kCryptoFailed = 1;

std::unexpected<Error> crypto_fail(const char* what) { return ib::fail(kCryptoFailed, 0, what); }

struct CtxFree {
    void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
    void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
template <typename T>
using Owned = std::unique_ptr<T, CtxFree>;

const unsigned char* u8(Bytes b) { return reinterpret_cast<const unsigned char*>(b.data()); }
unsigned char* u8(std::span<std::byte> b) { return reinterpret_cast<unsigned char*>(b.data()); }

bool set_signature_padding(EVP_PKEY_CTX* ctx, RsaSignature scheme) {
    if (scheme == RsaSignature::Pkcs1Sha256) return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
    // P7 Aes256_Sha256_RsaPss: RSA-PSS, SHA-256, MGF1 with SHA-256, salt as long as the digest.
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0;
}

bool set_encryption_padding(EVP_PKEY_CTX* ctx, RsaEncryption padding) {
    const EVP_MD* md = padding == RsaEncryption::OaepSha1 ? EVP_sha1() : EVP_sha256();
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 && EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
}

}  // namespace

KeyPtr adopt_key(EVP_PKEY* key) {
    if (key == nullptr) return {};
    return KeyPtr(key, [](EVP_PKEY* k) { EVP_PKEY_free(k); });
}

std::size_t rsa_size(const KeyPtr& key) { return key ? static_cast<std::size_t>(EVP_PKEY_get_size(key.get())) : 0; }

std::size_t rsa_plain_block(const KeyPtr& key, RsaEncryption padding) {
    const std::size_t k = rsa_size(key);
    const std::size_t overhead = 2 * (padding == RsaEncryption::OaepSha1 ? kSha1Size : kSha256Size) + 2;
    return k > overhead ? k - overhead : 0;
}

Result<ByteString> rsa_sign(const KeyPtr& key, RsaSignature scheme, std::span<const Bytes> parts) {
    Owned<EVP_MD_CTX> md(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;  // owned by md
    if (!md || EVP_DigestSignInit(md.get(), &pctx, EVP_sha256(), nullptr, key.get()) <= 0 ||
        !set_signature_padding(pctx, scheme)) {
        return crypto_fail("cannot set up an RSA signature with our key");
    }
    for (Bytes p : parts) {
        if (EVP_DigestSignUpdate(md.get(), p.data(), p.size()) <= 0) return crypto_fail("RSA signing failed");
    }
    std::size_t size = 0;
    if (EVP_DigestSignFinal(md.get(), nullptr, &size) <= 0) return crypto_fail("RSA signing failed");
    ByteString out(size);
    if (EVP_DigestSignFinal(md.get(), reinterpret_cast<unsigned char*>(out.data()), &size) <= 0) {
        return crypto_fail("RSA signing failed");
    }
    out.resize(size);
    return out;
}

bool rsa_verify(const KeyPtr& key, RsaSignature scheme, std::span<const Bytes> parts, Bytes signature) {
    Owned<EVP_MD_CTX> md(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    if (!md || !key || EVP_DigestVerifyInit(md.get(), &pctx, EVP_sha256(), nullptr, key.get()) <= 0 ||
        !set_signature_padding(pctx, scheme)) {
        return false;
    }
    for (Bytes p : parts) {
        if (EVP_DigestVerifyUpdate(md.get(), p.data(), p.size()) <= 0) return false;
    }
    return EVP_DigestVerifyFinal(md.get(), u8(signature), signature.size()) == 1;
}

CryptoResult rsa_encrypt(const KeyPtr& public_key, RsaEncryption padding, Bytes plain, std::vector<std::byte>& out) {
    Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(public_key.get(), nullptr));
    if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) <= 0 || !set_encryption_padding(ctx.get(), padding)) {
        return crypto_fail("cannot set up RSA encryption with the server's key");
    }
    const std::size_t block = rsa_plain_block(public_key, padding);
    const std::size_t k = rsa_size(public_key);
    if (block == 0) return crypto_fail("the server's key is too short for the policy");
    for (std::size_t at = 0; at < plain.size(); at += block) {
        const Bytes piece = plain.subspan(at, std::min(block, plain.size() - at));
        const std::size_t start = out.size();
        out.resize(start + k);
        std::size_t written = k;
        if (EVP_PKEY_encrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data() + start), &written, u8(piece),
                             piece.size()) <= 0 ||
            written != k) {
            out.resize(start);
            return crypto_fail("RSA encryption failed");
        }
    }
    return {};
}

CryptoResult rsa_decrypt(const KeyPtr& private_key, RsaEncryption padding, Bytes cipher, std::vector<std::byte>& out) {
    const std::size_t k = rsa_size(private_key);
    if (k == 0 || cipher.size() % k != 0) return crypto_fail("encrypted part is not a whole number of RSA blocks");
    Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(private_key.get(), nullptr));
    if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) <= 0 || !set_encryption_padding(ctx.get(), padding)) {
        return crypto_fail("cannot set up RSA decryption with our key");
    }
    for (std::size_t at = 0; at < cipher.size(); at += k) {
        const std::size_t start = out.size();
        out.resize(start + k);
        std::size_t written = k;
        if (EVP_PKEY_decrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data() + start), &written,
                             u8(cipher.subspan(at, k)), k) <= 0) {
            out.resize(start);
            return crypto_fail("RSA decryption failed (not encrypted for our key)");
        }
        out.resize(start + written);
    }
    return {};
}

namespace {

// A context keyed for HMAC-SHA256; fetching the algorithms is the costly part,
// done once per process.
EVP_MAC_CTX* new_hmac(Bytes key) {
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    IB_ASSERT(mac != nullptr, "OpenSSL 3's default provider has HMAC");
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    const bool ok = ctx != nullptr && EVP_MAC_init(ctx, u8(key), key.size(), params) > 0;
    IB_ASSERT(ok, "HMAC-SHA256 accepts any key");
    return ctx;
}

// Restarts `ctx` under the key it holds and macs the parts.
void run_hmac(EVP_MAC_CTX* ctx, std::span<const Bytes> parts, std::span<std::byte, kSha256Size> out) {
    std::size_t size = 0;
    const bool ok = EVP_MAC_init(ctx, nullptr, 0, nullptr) > 0 &&
                    std::all_of(parts.begin(), parts.end(),
                                [&](Bytes p) { return EVP_MAC_update(ctx, u8(p), p.size()) > 0; }) &&
                    EVP_MAC_final(ctx, u8(std::span<std::byte>(out)), &size, out.size()) > 0;
    IB_ASSERT(ok && size == kSha256Size, "HMAC-SHA256 over memory cannot fail");
}

}  // namespace

void hmac_sha256(Bytes key, std::span<const Bytes> parts, std::span<std::byte, kSha256Size> out) {
    const Owned<EVP_MAC_CTX> ctx(new_hmac(key));
    run_hmac(ctx.get(), parts, out);
}

HmacSha256::HmacSha256(Bytes key) : ctx_(new_hmac(key), [](EVP_MAC_CTX* c) { EVP_MAC_CTX_free(c); }) {}

void HmacSha256::sign(std::span<const Bytes> parts, std::span<std::byte, kSha256Size> out) const {
    IB_ASSERT(ctx_ != nullptr, "a channel's HMAC is keyed when its keys are derived");
    run_hmac(ctx_.get(), parts, out);
}

CryptoResult aes_cbc(bool encrypt, Bytes key, Bytes iv, std::span<std::byte> data) {
    if (data.size() % kAesBlockSize != 0) return crypto_fail("encrypted part is not a whole number of AES blocks");
    if (iv.size() != kAesBlockSize) return crypto_fail("AES-CBC needs a 16-byte IV");
    // Fetched once: an implicit fetch per chunk costs more than the AES itself.
    static EVP_CIPHER* const aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
    static EVP_CIPHER* const aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-CBC", nullptr);
    const EVP_CIPHER* cipher = key.size() == 32 ? aes256 : key.size() == 16 ? aes128 : nullptr;
    if (cipher == nullptr) return crypto_fail("AES key of a size no policy uses");
    thread_local const Owned<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
    int n = 0;
    int tail = 0;
    if (!ctx || EVP_CipherInit_ex(ctx.get(), cipher, nullptr, u8(key), u8(iv), encrypt ? 1 : 0) <= 0 ||
        EVP_CIPHER_CTX_set_padding(ctx.get(), 0) <= 0 ||
        EVP_CipherUpdate(ctx.get(), u8(data), &n, u8(data), static_cast<int>(data.size())) <= 0 ||
        EVP_CipherFinal_ex(ctx.get(), u8(data) + n, &tail) <= 0) {
        return crypto_fail("AES-CBC failed");
    }
    return {};
}

void p_sha256(Bytes secret, Bytes seed, std::span<std::byte> out) {
    // RFC 5246 §5: A(0) = seed, A(i) = HMAC(secret, A(i-1)),
    // P_hash = HMAC(secret, A(1) + seed) | HMAC(secret, A(2) + seed) | ...
    std::array<std::byte, kSha256Size> a{};
    std::array<std::byte, kSha256Size> block{};
    const Bytes first[] = {seed};
    hmac_sha256(secret, first, a);
    for (std::size_t at = 0; at < out.size(); at += kSha256Size) {
        const Bytes parts[] = {Bytes(a), seed};
        hmac_sha256(secret, parts, block);
        std::memcpy(out.data() + at, block.data(), std::min(kSha256Size, out.size() - at));
        const Bytes next[] = {Bytes(a)};
        hmac_sha256(secret, next, a);
    }
}

namespace {

// The length of the DER SEQUENCE at the start of `der` (its header included),
// or 0 when there is none that fits.
std::size_t der_sequence_size(Bytes der) {
    if (der.size() < 2 || std::to_integer<uint8_t>(der[0]) != 0x30) return 0;
    const auto first = std::to_integer<uint8_t>(der[1]);
    std::size_t header = 2, length = first;
    if (first >= 0x80) {
        const std::size_t n = first & 0x7f;
        if (n == 0 || n > 4 || der.size() < 2 + n) return 0;  // indefinite or absurd: not a certificate
        length = 0;
        for (std::size_t i = 0; i < n; ++i) length = (length << 8) | std::to_integer<uint8_t>(der[2 + i]);
        header += n;
    }
    return length <= der.size() - header ? header + length : 0;
}

}  // namespace

Bytes leaf_certificate(Bytes chain) {
    const std::size_t size = der_sequence_size(chain);
    return size == 0 ? chain : chain.first(size);
}

std::vector<Bytes> chain_issuers(Bytes chain) {
    std::vector<Bytes> out;
    std::size_t at = der_sequence_size(chain);
    while (at != 0 && at < chain.size()) {
        const std::size_t size = der_sequence_size(chain.subspan(at));
        if (size == 0) break;
        out.push_back(chain.subspan(at, size));
        at += size;
    }
    return out;
}

ByteString sha1(Bytes data) {
    ByteString out(kSha1Size);
    unsigned int size = 0;
    const bool ok = EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &size,
                               EVP_sha1(), nullptr) > 0;
    IB_ASSERT(ok && size == kSha1Size, "SHA-1 over memory cannot fail");
    return out;
}

ByteString random_bytes(std::size_t n) {
    ByteString out(n);
    const bool ok = RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) == 1;
    IB_ASSERT(ok, "OpenSSL's random generator is seeded by the OS");
    return out;
}

bool same_bytes(Bytes a, Bytes b) { return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0; }

std::string to_hex(Bytes data) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(data.size() * 2);
    for (std::byte b : data) {
        out.push_back(kDigits[static_cast<uint8_t>(b) >> 4]);
        out.push_back(kDigits[static_cast<uint8_t>(b) & 0x0F]);
    }
    return out;
}

}  // namespace ib::drivers::opcua
