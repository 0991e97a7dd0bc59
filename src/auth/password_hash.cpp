#include "auth/password_hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>

namespace ib::auth {
namespace {

constexpr std::string_view kScheme = "$pbkdf2-sha512$";
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 64;  // one SHA-512 block of output
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

bool derive(std::string_view password, const unsigned char* salt, std::size_t salt_len, uint32_t iterations,
            unsigned char* out, std::size_t out_len) {
    return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt, static_cast<int>(salt_len),
                             static_cast<int>(iterations), EVP_sha512(), static_cast<int>(out_len), out) == 1;
}

}  // namespace

std::string base64_encode(const unsigned char* data, std::size_t size) {
    std::string out;
    out.reserve((size + 2) / 3 * 4);
    for (std::size_t i = 0; i < size; i += 3) {
        uint32_t n = uint32_t{data[i]} << 16;
        if (i + 1 < size) n |= uint32_t{data[i + 1]} << 8;
        if (i + 2 < size) n |= data[i + 2];
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += i + 1 < size ? kAlphabet[(n >> 6) & 63] : '=';
        out += i + 2 < size ? kAlphabet[n & 63] : '=';
    }
    return out;
}

std::expected<std::vector<unsigned char>, std::string> base64_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    if (text.size() % 4 == 1) return std::unexpected("base64 of a wrong length");
    std::vector<unsigned char> out;
    out.reserve(text.size() * 3 / 4);
    uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        int v = b64_value(c);
        if (v < 0) return std::unexpected("'" + std::string(1, c) + "' is not a base64 character");
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<unsigned char>((acc >> bits) & 0xFF));
        }
    }
    return out;
}

std::expected<std::string, std::string> hash_password(std::string_view password, uint32_t iterations) {
    if (iterations < kMinIterations || iterations > kMaxIterations) {
        return std::unexpected("iterations must be from " + std::to_string(kMinIterations) + " to " +
                               std::to_string(kMaxIterations));
    }
    unsigned char salt[kSaltBytes];
    if (RAND_bytes(salt, sizeof salt) != 1) return std::unexpected("no random bytes for the salt");
    unsigned char hash[kHashBytes];
    if (!derive(password, salt, sizeof salt, iterations, hash, sizeof hash)) {
        return std::unexpected("PBKDF2 failed");
    }
    return std::string(kScheme) + std::to_string(iterations) + "$" + base64_encode(salt, sizeof salt) + "$" +
           base64_encode(hash, sizeof hash);
}

std::expected<PasswordHash, std::string> parse_password_hash(std::string_view encoded) {
    if (!encoded.starts_with(kScheme)) {
        return std::unexpected("not a password hash: expected it to start with " + std::string(kScheme) +
                               " (make one with `ironbridge passwd`)");
    }
    std::string_view rest = encoded.substr(kScheme.size());
    auto d1 = rest.find('$');
    auto d2 = d1 == std::string_view::npos ? d1 : rest.find('$', d1 + 1);
    if (d2 == std::string_view::npos || rest.find('$', d2 + 1) != std::string_view::npos) {
        return std::unexpected("expected $pbkdf2-sha512$<iterations>$<salt>$<hash>");
    }
    PasswordHash out;
    std::string_view iter = rest.substr(0, d1);
    auto [end, ec] = std::from_chars(iter.data(), iter.data() + iter.size(), out.iterations);
    if (ec != std::errc{} || end != iter.data() + iter.size()) {
        return std::unexpected("the iteration count '" + std::string(iter) + "' is not a number");
    }
    if (out.iterations < kMinIterations || out.iterations > kMaxIterations) {
        return std::unexpected("the iteration count " + std::to_string(out.iterations) + " is not from " +
                               std::to_string(kMinIterations) + " to " + std::to_string(kMaxIterations));
    }
    auto salt = base64_decode(rest.substr(d1 + 1, d2 - d1 - 1));
    if (!salt) return std::unexpected("salt: " + salt.error());
    auto hash = base64_decode(rest.substr(d2 + 1));
    if (!hash) return std::unexpected("hash: " + hash.error());
    if (salt->size() < 8) return std::unexpected("the salt is shorter than 8 bytes");
    if (hash->size() < 16 || hash->size() > 512) return std::unexpected("the hash is not 16 to 512 bytes long");
    out.salt = std::move(*salt);
    out.hash = std::move(*hash);
    return out;
}

bool verify_password(std::string_view password, const PasswordHash& stored) {
    if (stored.hash.empty() || stored.hash.size() > 512) return false;
    unsigned char computed[512];
    if (!derive(password, stored.salt.data(), stored.salt.size(), stored.iterations, computed, stored.hash.size())) {
        return false;
    }
    // Constant time, so the time taken says nothing about how much matched.
    return CRYPTO_memcmp(computed, stored.hash.data(), stored.hash.size()) == 0;
}

}  // namespace ib::auth
