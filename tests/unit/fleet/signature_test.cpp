// Signed desired configurations with a real Ed25519 key made by OpenSSL: the
// right signature passes, another key's, a changed revision's and none fail
// with their codes; a key of another type is refused at load.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "fleet/signature.hpp"

namespace ib::fleet {
namespace {

struct KeyPair {
    EVP_PKEY* key = nullptr;
    std::string pub_path;
    ~KeyPair() { EVP_PKEY_free(key); }
};

void make(KeyPair& k, const char* type, const std::string& path) {
    k.key = EVP_PKEY_Q_keygen(nullptr, nullptr, type);
    ASSERT_NE(k.key, nullptr);
    k.pub_path = path;
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    PEM_write_PUBKEY(f, k.key);
    std::fclose(f);
}

std::string sign(EVP_PKEY* key, const std::string& message) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key);
    unsigned char sig[64];
    size_t len = sizeof sig;
    EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(message.data()), message.size());
    EVP_MD_CTX_free(ctx);
    std::string out(((len + 2) / 3) * 4, '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), sig, static_cast<int>(len));
    return out;
}

class SignatureTest : public ::testing::Test {
protected:
    std::string path(const char* leaf) {
        return (std::filesystem::temp_directory_path() / ("ib-sig-" + std::to_string(::getpid()) + leaf)).string();
    }
    void TearDown() override {
        for (const char* leaf : {"-a.pem", "-b.pem", "-rsa.pem"}) std::filesystem::remove(path(leaf));
    }
};

TEST_F(SignatureTest, OnlyTheMatchingKeysSignatureOverTheRevisionPasses) {
    KeyPair a, b;
    make(a, "ED25519", path("-a.pem"));
    make(b, "ED25519", path("-b.pem"));
    auto key = SignatureKey::load(a.pub_path);
    ASSERT_TRUE(key) << key.error();
    const std::string message = signed_bytes(13, 12, "[[devices]]\n");
    EXPECT_EQ(message, "ib-fleet-v1\n13\n12\n[[devices]]\n");
    EXPECT_TRUE(key->verify(message, sign(a.key, message)));
    EXPECT_EQ(key->verify(message, sign(b.key, message)).error(), SignatureErrc::BadSignature);
    EXPECT_EQ(key->verify(signed_bytes(14, 12, "[[devices]]\n"), sign(a.key, message)).error(),
              SignatureErrc::BadSignature);
    EXPECT_EQ(key->verify(message, "").error(), SignatureErrc::Unsigned);
    EXPECT_EQ(key->verify(message, "not base64!").error(), SignatureErrc::BadSignature);
    EXPECT_EQ(signed_bytes(1, std::nullopt, "x"), "ib-fleet-v1\n1\nnull\nx");
}

TEST_F(SignatureTest, AKeyOfAnotherTypeIsRefused) {
    KeyPair rsa;
    make(rsa, "X25519", path("-rsa.pem"));
    auto key = SignatureKey::load(rsa.pub_path);
    ASSERT_FALSE(key);
    EXPECT_NE(key.error().find("is not an Ed25519 key"), std::string::npos) << key.error();
}

TEST(Base64, DecodesWithPaddingAndRefusesTheRest) {
    EXPECT_EQ(base64_decode("aGk="), "hi");
    EXPECT_EQ(base64_decode("aGVsbG8h"), "hello!");
    EXPECT_FALSE(base64_decode("aGk"));
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace ib::fleet
