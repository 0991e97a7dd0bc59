// The security policies' pieces: key derivation against vectors worked out from
// RFC 5246 §5 (P_SHA256, as OPC 10000-6 §6.7.5 uses it) by a separate
// implementation, the padding of §6.7.2.5, and signed/encrypted chunks in a round
// trip between two sides for every policy and mode, with tampering detected.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "drivers/opcua/message_assembler.hpp"
#include "drivers/opcua/pki.hpp"
#include "drivers/opcua/secure_channel.hpp"
#include "drivers/opcua/status_code.hpp"
#include "test_bytes.hpp"
#include "test_pki.hpp"

namespace ib::drivers::opcua {
namespace {

using test::Buf;
namespace fs = std::filesystem;

CertificateRequest for_uri(std::string uri) {
    CertificateRequest r;
    r.application_uri = std::move(uri);
    return r;
}

Buf counting(int from, int n) {
    Buf b;
    for (int i = 0; i < n; ++i) b.push_back(static_cast<std::byte>(from + i));
    return b;
}

TEST(OpcuaSecurity, PSha256MatchesTheRfc5246Construction) {
    const Buf secret = test::text("secret");
    const Buf seed = test::text("seed");
    Buf out(100);
    p_sha256(Bytes(secret), Bytes(seed), out);
    EXPECT_EQ(to_hex(Bytes(out)),
              "8e4d932530d765a0aae974c304735ecc1202a819f80adbd5ad09c1a34fc06918e3d07795214d94c6a1976caea5a0b644c5b04d1a"
              "d3e09c6111c37afc00df0b6d134279f973813359ad8be59625d3ba60e38ad6d93a8315525a6c6e5db1415372732e0b54");
}

TEST(OpcuaSecurity, DerivesTheClientAndServerKeysFromTheNonces) {
    const Buf client_nonce = counting(0x01, 32);
    const Buf server_nonce = counting(0x80, 32);
    // §6.7.5: the client's keys from (ServerNonce, ClientNonce), split
    // signing | encrypting | IV in the policy's sizes.
    const SymmetricKeys client =
        derive_keys(*policy_algorithms(SecurityPolicy::Basic256Sha256), Bytes(server_nonce), Bytes(client_nonce));
    EXPECT_EQ(to_hex(Bytes(client.signing)), "3106c9a35b15a0d8dfb9d40e581a366d2985872192d06d79761ebffe5a8c5bbe");
    EXPECT_EQ(to_hex(client.encrypting_key()), "37fc9bab3801471fdc01e035989399c404cedf6229f14aecda4b1032359318ab");
    EXPECT_EQ(to_hex(Bytes(client.iv)), "8acb7255951e9dc4dae243a0d7eb6b60");
    const SymmetricKeys server =
        derive_keys(*policy_algorithms(SecurityPolicy::Aes128_Sha256_RsaOaep), Bytes(client_nonce), Bytes(server_nonce));
    EXPECT_EQ(to_hex(Bytes(server.signing)), "7bce480084518348340ac12d2225821a407aad7d685c06798c2943755a999492");
    EXPECT_EQ(to_hex(server.encrypting_key()), "03a5b95cd4a33d29839d3393f7fc0f6d");
    EXPECT_EQ(to_hex(Bytes(server.iv)), "d4010ad1a547fb3b8e4bc451d290a97e");
}

TEST(OpcuaSecurity, KnowsThePoliciesByUriAndRanksThem) {
    const auto* pss = policy_by_uri("http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss");
    ASSERT_NE(pss, nullptr);
    EXPECT_EQ(pss->asymmetric_signature, RsaSignature::PssSha256);
    EXPECT_EQ(pss->asymmetric_encryption, RsaEncryption::OaepSha256);
    EXPECT_EQ(policy_by_uri(kSecurityPolicyNone), nullptr);
    EXPECT_EQ(policy_by_uri("http://opcfoundation.org/UA/SecurityPolicy#Basic128Rsa15"), nullptr);
    EXPECT_GT(pss->rank, policy_algorithms(SecurityPolicy::Basic256Sha256)->rank);
    EXPECT_GT(policy_algorithms(SecurityPolicy::Basic256Sha256)->rank,
              policy_algorithms(SecurityPolicy::Aes128_Sha256_RsaOaep)->rank);
    EXPECT_EQ(policy_name("http://opcfoundation.org/UA/SecurityPolicy#Basic128Rsa15"), "Basic128Rsa15");
}

// Two ends of one channel: the client's view and the server's mirror of it.
struct Ends {
    ChannelSecurity client;
    ChannelSecurity server;
};

KeyedCertificate identity(const std::string& name) {
    const CertificateRequest request{"urn:test:" + name, name, "t", {"localhost"}, {"127.0.0.1"}};
    return *test::cached_own_certificate(fs::path(IB_BINARY_DIR) / "tests" / ("opcua-unit-" + name), request);
}
const KeyedCertificate& client_identity() {
    static const KeyedCertificate c = identity("client");
    return c;
}
const KeyedCertificate& server_identity() {
    static const KeyedCertificate c = identity("server");
    return c;
}

Ends channel(SecurityPolicy policy, MessageSecurityMode mode) {
    Ends e;
    const auto* algorithms = policy_algorithms(policy);
    for (ChannelSecurity* s : {&e.client, &e.server}) {
        s->policy = algorithms;
        s->mode = mode;
    }
    e.client.own_key = client_identity().key;
    e.client.own_certificate = client_identity().certificate;
    e.client.peer_key = *public_key_of(Bytes(server_identity().certificate));
    e.client.peer_certificate = server_identity().certificate;
    e.server.own_key = server_identity().key;
    e.server.own_certificate = server_identity().certificate;
    e.server.peer_key = *public_key_of(Bytes(client_identity().certificate));
    e.server.peer_certificate = client_identity().certificate;
    const Buf client_nonce = random_bytes(32);
    const Buf server_nonce = random_bytes(32);
    e.client.derive(Bytes(client_nonce), Bytes(server_nonce));
    e.server.sending = e.client.receiving;
    e.server.receiving = e.client.sending;
    return e;
}

// Every chunk of `wire` decoded by `reader` and reassembled.
Result<Buf> receive(Bytes wire, const ChannelSecurity& reader) {
    MessageAssembler assembler({0, 0});
    Buf plain;
    Buf message;
    while (!wire.empty()) {
        auto frame = next_frame(wire, 1 << 20);
        if (!frame) return std::unexpected(frame.error());
        if (!*frame) return fail(DecodeErrc::Truncated, 0, "incomplete frame");
        auto chunk = decode_chunk(**frame, &reader, plain);
        if (!chunk) return std::unexpected(chunk.error());
        auto event = assembler.add(*chunk);
        if (!event) return std::unexpected(event.error());
        if (auto* m = std::get_if<AssembledMessage>(&*event)) message.assign(m->body.begin(), m->body.end());
        wire = wire.subspan((*frame)->message.size());
    }
    return message;
}

struct PolicyMode {
    SecurityPolicy policy;
    MessageSecurityMode mode;
};

std::string name_of(const PolicyMode& p) {
    return std::string(policy_name(p.policy)) + (p.mode == MessageSecurityMode::Sign ? "_Sign" : "_SignAndEncrypt");
}

// For the test names ctest lists (the default prints the struct's bytes).
void PrintTo(const PolicyMode& p, std::ostream* os) { *os << name_of(p); }

class OpcuaSecuredChunks : public ::testing::TestWithParam<PolicyMode> {};

TEST_P(OpcuaSecuredChunks, RoundTripOpenAndMessagesAndDetectTampering) {
    const Ends e = channel(GetParam().policy, GetParam().mode);
    // OPN: asymmetric, signed with our key and encrypted with the server's in both modes.
    const Buf open_body = counting(0, 300);
    Buf wire;
    uint32_t seq = 0;
    auto n = encode_message(wire, MessageType::Open, 0, e.client.asymmetric_header(), 1, Bytes(open_body),
                            SendLimits{8192, 0, 0}, seq, &e.client);
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_EQ(std::search(wire.begin(), wire.end(), open_body.begin() + 10, open_body.begin() + 40), wire.end())
        << "the OPN body travels encrypted";
    auto opened = receive(Bytes(wire), e.server);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(*opened, open_body);

    // MSG: a body of 30 000 bytes in 8 KiB chunks.
    const Buf body = counting(3, 30000);
    wire.clear();
    n = encode_message(wire, MessageType::Message, 9, SymmetricSecurityHeader{1}, 2, Bytes(body), SendLimits{8192, 0, 0},
                       seq, &e.client);
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_EQ(*n, 4u);
    const bool encrypted =
        std::search(wire.begin(), wire.end(), body.begin() + 100, body.begin() + 140) == wire.end();
    EXPECT_EQ(encrypted, GetParam().mode == MessageSecurityMode::SignAndEncrypt);
    auto got = receive(Bytes(wire), e.server);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, body);

    // One flipped bit anywhere after the header fails the signature check.
    Buf tampered = wire;
    tampered[100] ^= std::byte{0x01};
    auto bad = receive(Bytes(tampered), e.server);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, static_cast<uint8_t>(DecodeErrc::Security)) << bad.error().message;
    // The server's replies go the other way with its keys.
    wire.clear();
    ASSERT_TRUE(encode_message(wire, MessageType::Message, 9, SymmetricSecurityHeader{1}, 2, Bytes(body),
                               SendLimits{65536, 0, 0}, seq, &e.server));
    auto back = receive(Bytes(wire), e.client);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, body);
}

INSTANTIATE_TEST_SUITE_P(
    EveryPolicyAndMode, OpcuaSecuredChunks,
    ::testing::Values(PolicyMode{SecurityPolicy::Basic256Sha256, MessageSecurityMode::Sign},
                      PolicyMode{SecurityPolicy::Basic256Sha256, MessageSecurityMode::SignAndEncrypt},
                      PolicyMode{SecurityPolicy::Aes128_Sha256_RsaOaep, MessageSecurityMode::Sign},
                      PolicyMode{SecurityPolicy::Aes128_Sha256_RsaOaep, MessageSecurityMode::SignAndEncrypt},
                      PolicyMode{SecurityPolicy::Aes256_Sha256_RsaPss, MessageSecurityMode::Sign},
                      PolicyMode{SecurityPolicy::Aes256_Sha256_RsaPss, MessageSecurityMode::SignAndEncrypt}),
    [](const auto& info) { return name_of(info.param); });

TEST(OpcuaSecurity, PadsSymmetricChunksToWholeBlocksAsTheSpecificationSays) {
    const Ends e = channel(SecurityPolicy::Basic256Sha256, MessageSecurityMode::SignAndEncrypt);
    // §6.7.2.5 MaxBodySize = 16 · ⌊(8192 − 16) / 16⌋ − 8 − 32 − 1 = 8135.
    EXPECT_EQ(chunk_body_capacity(SymmetricSecurityHeader{1}, 8192, &e.client), 8135u);
    // Sign only: no padding, the signature's 32 bytes.
    const Ends signed_only = channel(SecurityPolicy::Basic256Sha256, MessageSecurityMode::Sign);
    EXPECT_EQ(chunk_body_capacity(SymmetricSecurityHeader{1}, 8192, &signed_only.client), 8192u - 16 - 8 - 32);
    // 100 body bytes: 8 + 100 + 1 + PaddingSize + 32 fills whole blocks of 16 with PaddingSize = 3.
    const Buf body = counting(0, 100);
    Buf wire;
    uint32_t seq = 0;
    ASSERT_TRUE(encode_message(wire, MessageType::Message, 9, SymmetricSecurityHeader{1}, 2, Bytes(body),
                               SendLimits{8192, 0, 0}, seq, &e.client));
    ASSERT_EQ(wire.size(), 16u + 144);
    Buf plain(wire.begin() + 16, wire.end());
    ASSERT_TRUE(aes_cbc(false, e.client.sending.encrypting_key(), Bytes(e.client.sending.iv), plain));
    EXPECT_EQ(Buf(plain.begin() + 108, plain.begin() + 112), test::bytes({3, 3, 3, 3}));

    // A padding byte that disagrees, re-signed and re-encrypted so that only the
    // padding is wrong: refused with its own reason.
    plain[110] = std::byte{7};
    Buf forged(wire.begin(), wire.begin() + 16);
    forged.insert(forged.end(), plain.begin(), plain.end() - 32);
    std::array<std::byte, 32> mac{};
    const Bytes parts[] = {Bytes(forged)};
    hmac_sha256(Bytes(e.client.sending.signing), parts, mac);
    forged.insert(forged.end(), mac.begin(), mac.end());
    ASSERT_TRUE(aes_cbc(true, e.client.sending.encrypting_key(), Bytes(e.client.sending.iv),
                        std::span(forged.data() + 16, forged.size() - 16)));
    auto bad = receive(Bytes(forged), e.server);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, static_cast<uint8_t>(DecodeErrc::Security));
    EXPECT_STREQ(bad.error().message, "padding bytes do not match its size");
}

TEST(OpcuaSecurity, RefusesAnOpenResponseForAnotherCertificate) {
    const Ends e = channel(SecurityPolicy::Basic256Sha256, MessageSecurityMode::Sign);
    Ends other = channel(SecurityPolicy::Basic256Sha256, MessageSecurityMode::Sign);
    other.server.own_certificate = random_bytes(100);  // not the one the client encrypted for
    Buf wire;
    uint32_t seq = 0;
    ASSERT_TRUE(encode_message(wire, MessageType::Open, 0, e.client.asymmetric_header(), 1, Bytes(counting(0, 50)),
                               SendLimits{8192, 0, 0}, seq, &e.client));
    auto bad = receive(Bytes(wire), other.server);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, static_cast<uint8_t>(DecodeErrc::Security));
}

TEST(OpcuaSecurity, TakesTheEndCertificateOfAChain) {
    const ByteString& leaf = server_identity().certificate;
    const ByteString& issuer = client_identity().certificate;  // any DER certificate will do here
    ByteString chain = leaf;
    chain.insert(chain.end(), issuer.begin(), issuer.end());
    EXPECT_TRUE(std::ranges::equal(leaf_certificate(Bytes(chain)), Bytes(leaf)));
    EXPECT_TRUE(std::ranges::equal(leaf_certificate(Bytes(leaf)), Bytes(leaf)));
    const auto issuers = chain_issuers(Bytes(chain));
    ASSERT_EQ(issuers.size(), 1u);
    EXPECT_TRUE(std::ranges::equal(issuers[0], Bytes(issuer)));
    EXPECT_TRUE(chain_issuers(Bytes(leaf)).empty());
    // Not DER, or a length beyond the bytes: the field is taken whole.
    const ByteString junk = {std::byte{0x30}, std::byte{0x84}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}};
    EXPECT_EQ(leaf_certificate(Bytes(junk)).size(), junk.size());
    EXPECT_TRUE(chain_issuers(Bytes(junk)).empty());
    EXPECT_TRUE(leaf_certificate(Bytes()).empty());
}

TEST(OpcuaSecurity, AnEndpointCertificateChainIsAddressedByItsEndCertificate) {
    Ends e = channel(SecurityPolicy::Basic256Sha256, MessageSecurityMode::Sign);
    const ByteString& issuer = client_identity().certificate;
    // The server announced, and signs with, its certificate followed by its CA (P6 §6.2.6).
    ByteString chain = server_identity().certificate;
    chain.insert(chain.end(), issuer.begin(), issuer.end());
    e.client.peer_certificate = chain;
    Buf wire;
    uint32_t seq = 0;
    ASSERT_TRUE(encode_message(wire, MessageType::Open, 0, e.client.asymmetric_header(), 1, Bytes(counting(0, 50)),
                               SendLimits{8192, 0, 0}, seq, &e.client));
    // The receiver thumbprint is the end certificate's, which the server knows as its own.
    auto opened = receive(Bytes(wire), e.server);
    ASSERT_TRUE(opened) << opened.error().message;
    e.server.own_certificate = chain;
    e.server.peer_certificate = client_identity().certificate;
    Buf answer;
    seq = 0;
    ASSERT_TRUE(encode_message(answer, MessageType::Open, 0, e.server.asymmetric_header(), 1, Bytes(counting(0, 50)),
                               SendLimits{8192, 0, 0}, seq, &e.server));
    auto taken = receive(Bytes(answer), e.client);
    EXPECT_TRUE(taken) << taken.error().message;
}

class OpcuaPki : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() /
                ("ib-pki-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
    }
    void TearDown() override { fs::remove_all(root_); }
    fs::path root_;
};

TEST_F(OpcuaPki, MakesOurCertificateOnceWithTheApplicationUri) {
    Pki pki(root_);
    auto own = pki.own_certificate(for_uri("urn:ironbridge:test"));
    ASSERT_TRUE(own) << own.error().message;
    auto info = inspect_certificate(Bytes(own->certificate));
    ASSERT_TRUE(info);
    EXPECT_EQ(info->application_uri, "urn:ironbridge:test");
    EXPECT_EQ(info->subject, "Ironbridge");
    EXPECT_GT(info->not_after - info->not_before, int64_t{5} * 365 * 86400);
    EXPECT_EQ(rsa_size(own->key), 256u);
    struct stat st {};
    ASSERT_EQ(::stat((root_ / "own" / "private" / "key.pem").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto again = pki.own_certificate(for_uri("urn:ironbridge:test"));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->certificate, own->certificate);
    // A certificate made for another URI would be refused by servers: said at once.
    auto other = pki.own_certificate(for_uri("urn:ironbridge:other"));
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().status, status::BadCertificateUriInvalid);
}

TEST_F(OpcuaPki, RefusesAnUnknownServerCertificateUntilTheUserTrustsIt) {
    Pki pki(root_);
    const ByteString& server = server_identity().certificate;
    const std::string thumbprint = to_hex(sha1(Bytes(server)));
    auto refused = pki.check_server_certificate(Bytes(server), "urn:test:server", false);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().status, status::BadCertificateUntrusted);
    EXPECT_NE(refused.error().message.find(thumbprint), std::string::npos) << refused.error().message;
    EXPECT_NE(refused.error().message.find("rejected"), std::string::npos) << refused.error().message;
    auto listed = pki.list();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_FALSE(listed[0].trusted);
    EXPECT_EQ(listed[0].thumbprint, thumbprint);
    EXPECT_TRUE(fs::exists(root_ / "rejected" / listed[0].file));

    auto trusted = pki.trust(thumbprint);
    ASSERT_TRUE(trusted) << trusted.error().message;
    EXPECT_TRUE(pki.check_server_certificate(Bytes(server), "urn:test:server", false));
    // The endpoint's applicationUri must be the certificate's.
    auto wrong_uri = pki.check_server_certificate(Bytes(server), "urn:test:impostor", false);
    ASSERT_FALSE(wrong_uri);
    EXPECT_EQ(wrong_uri.error().status, status::BadCertificateUriInvalid);
    EXPECT_NE(wrong_uri.error().message.find("urn:test:impostor"), std::string::npos);

    ASSERT_TRUE(pki.reject(thumbprint));
    EXPECT_FALSE(pki.check_server_certificate(Bytes(server), "urn:test:server", false));
    EXPECT_FALSE(pki.trust("0000"));
}

TEST_F(OpcuaPki, TrustsOnFirstUseWhenAskedTo) {
    Pki pki(root_);
    const ByteString& server = server_identity().certificate;
    ASSERT_TRUE(pki.check_server_certificate(Bytes(server), "urn:test:server", true));
    auto listed = pki.list();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_TRUE(listed[0].trusted);
    EXPECT_TRUE(pki.check_server_certificate(Bytes(server), "urn:test:server", false));
}

TEST_F(OpcuaPki, RefusesAnExpiredServerCertificate) {
    Pki pki(root_);
    CertificateRequest r{"urn:test:old", "old", "t", {"localhost"}, {"127.0.0.1"}};
    r.valid_days = -2;  // ended yesterday
    auto old = make_certificate(r);
    ASSERT_TRUE(old);
    auto checked = pki.check_server_certificate(Bytes(old->certificate), "urn:test:old", true);
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error().status, status::BadCertificateTimeInvalid);
}

// A plant CA made with the openssl command line, as an administrator would:
// the CA, a server certificate it signed, and its CRLs before and after it
// revoked that certificate.
class OpcuaPkiWithACa : public OpcuaPki {
protected:
    void SetUp() override {
        OpcuaPki::SetUp();
        ca_ = root_ / "made-by-openssl";
        fs::create_directories(ca_);
        run("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj /CN=PlantCA "
            "-addext keyUsage=critical,keyCertSign,cRLSign");
        run("openssl req -newkey rsa:2048 -nodes -keyout plc.key -out plc.csr -subj /CN=PLC7");
        run("printf 'subjectAltName=URI:urn:plant:plc7,DNS:localhost\\nkeyUsage=digitalSignature,keyEncipherment\\n' "
            "> plc.ext");
        run("openssl x509 -req -in plc.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile plc.ext "
            "-out plc.pem");
        run("openssl x509 -in plc.pem -outform DER -out plc.der");
        run("openssl x509 -in ca.pem -outform DER -out ca.der");
        run("printf '[ca]\\ndefault_ca = plant\\n[plant]\\ndatabase = index.txt\\ncrlnumber = crlnumber\\n"
            "default_md = sha256\\ndefault_crl_days = 30\\n' > ca.cnf && touch index.txt && echo 01 > crlnumber");
        run("openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -gencrl -out empty.crl");
        run("openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -revoke plc.pem");
        run("openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -gencrl -out revoked.crl");
        std::ifstream in(ca_ / "plc.der", std::ios::binary);
        plc_.assign(std::istreambuf_iterator<char>(in), {});
        std::ifstream ca(ca_ / "ca.der", std::ios::binary);
        ca_der_.assign(std::istreambuf_iterator<char>(ca), {});
    }
    void run(const std::string& command) {
        const std::string line = "cd '" + ca_.string() + "' && (" + command + ") >openssl.log 2>&1";
        if (std::system(line.c_str()) == 0) return;
        std::ifstream log(ca_ / "openssl.log");
        ADD_FAILURE() << command << ":\n" << std::string(std::istreambuf_iterator<char>(log), {});
    }
    void place(const std::string& file, const std::string& folder, const std::string& as) {
        fs::create_directories(root_ / folder);
        fs::copy_file(ca_ / file, root_ / folder / as, fs::copy_options::overwrite_existing);
    }
    fs::path ca_;
    std::string plc_;     // DER
    std::string ca_der_;  // DER
};

TEST_F(OpcuaPkiWithACa, AcceptsWhatATrustedCaSignedAndRefusesItOnceRevoked) {
    ASSERT_FALSE(plc_.empty());
    Pki pki(root_);
    const Bytes plc = as_bytes(plc_);
    // The CA only among the issuers: it completes chains but vouches for nothing.
    place("ca.pem", "issuers", "PlantCA.pem");
    auto unknown = pki.check_server_certificate(plc, "urn:plant:plc7", false);
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().status, status::BadCertificateUntrusted) << unknown.error().message;

    // Trusted: what it signed is accepted without a copy of it in trusted/.
    fs::remove_all(root_ / "rejected");
    place("ca.pem", "trusted", "PlantCA.pem");
    place("empty.crl", "issuers", "PlantCA.crl");
    auto accepted = pki.check_server_certificate(plc, "urn:plant:plc7", false);
    EXPECT_TRUE(accepted) << accepted.error().message;
    EXPECT_FALSE(fs::exists(root_ / "rejected"));

    // The CA's new CRL lists it: refused, and not offered in rejected/ either.
    place("revoked.crl", "issuers", "PlantCA.crl");
    auto revoked = pki.check_server_certificate(plc, "urn:plant:plc7", false);
    ASSERT_FALSE(revoked);
    EXPECT_EQ(revoked.error().status, status::BadCertificateRevoked);
    EXPECT_NE(revoked.error().message.find("revoked"), std::string::npos) << revoked.error().message;
    EXPECT_FALSE(fs::exists(root_ / "rejected"));
    // Trusting the certificate itself does not lift the revocation.
    place("plc.der", "trusted", "PLC7.der");
    auto still = pki.check_server_certificate(plc, "urn:plant:plc7", false);
    ASSERT_FALSE(still);
    EXPECT_EQ(still.error().status, status::BadCertificateRevoked);
}

TEST_F(OpcuaPkiWithACa, AChainIsJudgedByItsEndCertificateAndItsCaVouchesForNothing) {
    ASSERT_FALSE(plc_.empty());
    ASSERT_FALSE(ca_der_.empty());
    Pki pki(root_);
    const std::string chain = plc_ + ca_der_;  // as a server sends it (P6 §6.2.6)
    const std::string thumbprint = to_hex(sha1(as_bytes(plc_)));
    // The CA the server sent along is not trusted for being sent.
    auto refused = pki.check_server_certificate(as_bytes(chain), "urn:plant:plc7", false);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().status, status::BadCertificateUntrusted);
    EXPECT_NE(refused.error().message.find(thumbprint), std::string::npos) << refused.error().message;
    // What is offered in rejected/ is the server's own certificate, named by its thumbprint.
    auto listed = pki.list();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].thumbprint, thumbprint);
    std::ifstream saved(root_ / "rejected" / listed[0].file, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(saved), {}), plc_);
    // Trusting the CA trusts the chain.
    fs::remove_all(root_ / "rejected");
    place("ca.pem", "trusted", "PlantCA.pem");
    auto accepted = pki.check_server_certificate(as_bytes(chain), "urn:plant:plc7", false);
    EXPECT_TRUE(accepted) << accepted.error().message;
}

}  // namespace
}  // namespace ib::drivers::opcua
