// Signed desired configurations (docs/fleet.md): an Ed25519 signature over
// "ib-fleet-v1\n{revision}\n{base}\n{config}", checked with the public key of
// fleet.public_key through OpenSSL's EVP interface. OpenSSL stays in the .cpp.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ib::fleet {

// The bytes a signature covers; `base` absent is written "null".
std::string signed_bytes(int64_t revision, std::optional<int64_t> base, std::string_view config);

enum class SignatureErrc : uint8_t { Unsigned, BadSignature };

class SignatureKey {
public:
    // Reads a PEM public key; it must be an Ed25519 key. The error names the file.
    static std::expected<SignatureKey, std::string> load(const std::string& pem_path);
    SignatureKey(SignatureKey&&) noexcept;
    SignatureKey& operator=(SignatureKey&&) noexcept;
    ~SignatureKey();

    // `signature_b64` is the message's "signature" (empty: none).
    std::expected<void, SignatureErrc> verify(std::string_view message, std::string_view signature_b64) const;

private:
    struct Key;
    explicit SignatureKey(std::unique_ptr<Key> key);
    std::unique_ptr<Key> key_;
};

// Standard base64 (RFC 4648 §4) with padding; nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

// Hex SHA-256 of `text`: the hash of a revision's TOML in the state message.
std::string sha256_hex(std::string_view text);

}  // namespace ib::fleet
