// Salted PBKDF2-SHA512 password hashes in one self-describing string,
//   $pbkdf2-sha512$<iterations>$<salt, base64>$<hash, base64>
// so the iteration count can be raised later without breaking stored hashes.
// OpenSSL stays in the .cpp. Verification compares in constant time.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace ib::auth {

// OWASP's 2023 figure for PBKDF2-HMAC-SHA512.
inline constexpr uint32_t kDefaultIterations = 210'000;
// Hashes below this are refused as too weak; above the maximum, a crafted file
// could make one login cost minutes of CPU.
inline constexpr uint32_t kMinIterations = 1'000;
inline constexpr uint32_t kMaxIterations = 10'000'000;

struct PasswordHash {
    uint32_t iterations = 0;
    std::vector<unsigned char> salt;
    std::vector<unsigned char> hash;
};

// A new random salt (16 bytes) and the hash of `password`.
std::expected<std::string, std::string> hash_password(std::string_view password,
                                                      uint32_t iterations = kDefaultIterations);

// Takes the encoded form apart; the error says what is wrong with it.
std::expected<PasswordHash, std::string> parse_password_hash(std::string_view encoded);

// Whether `password` matches; a malformed `encoded` never matches.
bool verify_password(std::string_view password, const PasswordHash& stored);

std::string base64_encode(const unsigned char* data, std::size_t size);
std::expected<std::vector<unsigned char>, std::string> base64_decode(std::string_view text);

}  // namespace ib::auth
