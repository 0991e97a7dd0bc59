#include "fleet/signature.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>

namespace ib::fleet {

struct SignatureKey::Key {
    EVP_PKEY* pkey = nullptr;
    ~Key() { EVP_PKEY_free(pkey); }
};

SignatureKey::SignatureKey(std::unique_ptr<Key> key) : key_(std::move(key)) {}
SignatureKey::SignatureKey(SignatureKey&&) noexcept = default;
SignatureKey& SignatureKey::operator=(SignatureKey&&) noexcept = default;
SignatureKey::~SignatureKey() = default;

std::string signed_bytes(int64_t revision, std::optional<int64_t> base, std::string_view config) {
    std::string out = "ib-fleet-v1\n" + std::to_string(revision) + "\n" + (base ? std::to_string(*base) : "null") + "\n";
    out.append(config);
    return out;
}

std::expected<SignatureKey, std::string> SignatureKey::load(const std::string& pem_path) {
    std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new_file(pem_path.c_str(), "r"), &BIO_free);
    if (!bio) return std::unexpected("fleet.public_key: cannot read '" + pem_path + "'");
    auto key = std::make_unique<Key>();
    key->pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    if (key->pkey == nullptr) return std::unexpected("fleet.public_key: '" + pem_path + "' holds no PEM public key");
    if (EVP_PKEY_get_id(key->pkey) != EVP_PKEY_ED25519) {
        return std::unexpected("fleet.public_key: '" + pem_path + "' is not an Ed25519 key");
    }
    return SignatureKey(std::move(key));
}

std::expected<void, SignatureErrc> SignatureKey::verify(std::string_view message, std::string_view signature_b64) const {
    if (signature_b64.empty()) return std::unexpected(SignatureErrc::Unsigned);
    auto sig = base64_decode(signature_b64);
    // RFC 8032 §5.1.6: an Ed25519 signature is 64 bytes.
    if (!sig || sig->size() != 64) return std::unexpected(SignatureErrc::BadSignature);
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    // Ed25519 hashes the message itself: no digest is named, and the one-shot call is required.
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_->pkey) != 1) {
        return std::unexpected(SignatureErrc::BadSignature);
    }
    const int ok = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                                    reinterpret_cast<const unsigned char*>(message.data()), message.size());
    if (ok != 1) return std::unexpected(SignatureErrc::BadSignature);
    return {};
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    std::string out(text.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    // EVP_DecodeBlock counts the padding as zero bytes.
    std::size_t pad = 0;
    if (text.ends_with("==")) pad = 2;
    else if (text.ends_with('=')) pad = 1;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

std::string sha256_hex(std::string_view text) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(text.data(), text.size(), d, &len, EVP_sha256(), nullptr);
    std::string out;
    out.reserve(len * 2);
    char buf[3];
    for (unsigned int i = 0; i < len; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", d[i]);
        out += buf;
    }
    return out;
}

}  // namespace ib::fleet
