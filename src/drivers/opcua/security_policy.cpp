// The policy table (OPC 10000-7: Basic256Sha256, Aes128_Sha256_RsaOaep,
// Aes256_Sha256_RsaPss) and the key derivation of OPC 10000-6 §6.7.5.
#include "drivers/opcua/security_policy.hpp"

#include <cstring>

namespace ib::drivers::opcua {

namespace {

constexpr std::string_view kRsaSha256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
constexpr std::string_view kRsaPssSha256 = "http://opcfoundation.org/UA/security/rsa-pss-sha2-256";
constexpr std::string_view kRsaOaep = "http://www.w3.org/2001/04/xmlenc#rsa-oaep";
constexpr std::string_view kRsaOaepSha256 = "http://opcfoundation.org/UA/security/rsa-oaep-sha2-256";

constexpr PolicyAlgorithms kPolicies[] = {
    {SecurityPolicy::Basic256Sha256, "Basic256Sha256", "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256",
     RsaSignature::Pkcs1Sha256, kRsaSha256, RsaEncryption::OaepSha1, kRsaOaep, 32, 2},
    // AES-128 makes it the weakest of the three; the PSS one the strongest.
    {SecurityPolicy::Aes128_Sha256_RsaOaep, "Aes128_Sha256_RsaOaep",
     "http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep", RsaSignature::Pkcs1Sha256, kRsaSha256,
     RsaEncryption::OaepSha1, kRsaOaep, 16, 1},
    {SecurityPolicy::Aes256_Sha256_RsaPss, "Aes256_Sha256_RsaPss",
     "http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss", RsaSignature::PssSha256, kRsaPssSha256,
     RsaEncryption::OaepSha256, kRsaOaepSha256, 32, 3},
};

}  // namespace

const PolicyAlgorithms* policy_by_uri(std::string_view uri) {
    for (const PolicyAlgorithms& p : kPolicies) {
        if (p.uri == uri) return &p;
    }
    return nullptr;
}

const PolicyAlgorithms* policy_algorithms(SecurityPolicy policy) {
    for (const PolicyAlgorithms& p : kPolicies) {
        if (p.policy == policy) return &p;
    }
    return nullptr;
}

std::string_view policy_name(SecurityPolicy policy) {
    if (policy == SecurityPolicy::Best) return "Best";
    if (policy == SecurityPolicy::None) return "None";
    return policy_algorithms(policy)->name;
}

std::string_view policy_name(std::string_view uri) {
    const auto hash = uri.rfind('#');
    return hash == std::string_view::npos ? uri : uri.substr(hash + 1);
}

SymmetricKeys derive_keys(const PolicyAlgorithms& policy, Bytes secret, Bytes seed) {
    SymmetricKeys keys;
    keys.encrypting_size = policy.encrypting_key_size;
    std::array<std::byte, kSigningKeySize + 32 + kAesBlockSize> material{};
    const std::size_t size = kSigningKeySize + keys.encrypting_size + kAesBlockSize;
    p_sha256(secret, seed, std::span(material.data(), size));
    std::memcpy(keys.signing.data(), material.data(), kSigningKeySize);
    std::memcpy(keys.encrypting.data(), material.data() + kSigningKeySize, keys.encrypting_size);
    std::memcpy(keys.iv.data(), material.data() + kSigningKeySize + keys.encrypting_size, kAesBlockSize);
    keys.mac = HmacSha256(Bytes(keys.signing));
    return keys;
}

}  // namespace ib::drivers::opcua
