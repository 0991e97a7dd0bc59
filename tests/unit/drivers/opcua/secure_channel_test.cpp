// Secure Conversation chunks (OPC 10000-6 §6.7.2) under policy None, and their
// reassembly with the limits and abort handling of §6.7.3.
#include <gtest/gtest.h>

#include "drivers/opcua/message_assembler.hpp"
#include "drivers/opcua/secure_channel.hpp"
#include "test_bytes.hpp"

namespace ib::drivers::opcua {
namespace {

using test::Buf;
using test::bytes;
using test::cat;
using test::text;

// §6.7.2.2 header + SecureChannelId, §6.7.2.3 Table 42 asymmetric header (policy
// URI, null certificate, null thumbprint), §6.7.2.4 sequence header, then the body.
const Buf kOpn = cat({text("OPNF"), bytes({0x51, 0, 0, 0}), bytes({0, 0, 0, 0}),
                      bytes({0x2F, 0, 0, 0}), text("http://opcfoundation.org/UA/SecurityPolicy#None"),
                      bytes({0xFF, 0xFF, 0xFF, 0xFF}), bytes({0xFF, 0xFF, 0xFF, 0xFF}),
                      bytes({0x01, 0, 0, 0}), bytes({0x07, 0, 0, 0}),  // sequence 1, request 7
                      bytes({0xAA, 0xBB})});

Chunk chunk_of(const Buf& message) {
    auto frame = next_frame(Bytes(message), 1 << 20);
    EXPECT_TRUE(frame && *frame);
    auto c = decode_chunk(**frame);
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    return c ? *c : Chunk{};
}

TEST(OpcuaSecureChannel, EncodesAnOpenChunkWithTheAsymmetricHeader) {
    Buf out;
    uint32_t seq = 0;
    auto n = encode_message(out, MessageType::Open, 0, AsymmetricSecurityHeader{}, 7, Bytes(bytes({0xAA, 0xBB})),
                            SendLimits{}, seq);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 1u);
    EXPECT_EQ(out, kOpn);
    EXPECT_EQ(seq, 1u);
}

TEST(OpcuaSecureChannel, DecodesAnOpenChunk) {
    Chunk c = chunk_of(kOpn);
    EXPECT_EQ(c.type, MessageType::Open);
    EXPECT_EQ(std::get<AsymmetricSecurityHeader>(c.security).security_policy_uri, kSecurityPolicyNone);
    EXPECT_EQ(c.sequence, (SequenceHeader{1, 7}));
    EXPECT_EQ(Buf(c.body.begin(), c.body.end()), bytes({0xAA, 0xBB}));
}

TEST(OpcuaSecureChannel, DecodesAMessageChunkWithTheSymmetricHeader) {
    Buf in = cat({text("MSGF"), bytes({0x1A, 0, 0, 0}), bytes({0x05, 0, 0, 0}), bytes({0x09, 0, 0, 0}),
                  bytes({0x02, 0, 0, 0}), bytes({0x03, 0, 0, 0}), bytes({0x01, 0x02})});
    Chunk c = chunk_of(in);
    EXPECT_EQ(c.type, MessageType::Message);
    EXPECT_EQ(c.secure_channel_id, 5u);
    EXPECT_EQ(std::get<SymmetricSecurityHeader>(c.security).token_id, 9u);
    EXPECT_EQ(c.sequence, (SequenceHeader{2, 3}));
    EXPECT_EQ(c.body.size(), 2u);
}

TEST(OpcuaSecureChannel, FailsOnEveryTruncationOfTheHeaders) {
    // A frame cut short (as a lying MessageSize would leave it) never reads past it.
    const std::size_t headers = kOpn.size() - 2;
    for (std::size_t n = kMessageHeaderSize; n < headers; ++n) {
        Frame f{MessageHeader{MessageType::Open, 'F', static_cast<uint32_t>(n)}, Bytes(kOpn).first(n)};
        auto c = decode_chunk(f);
        ASSERT_FALSE(c) << n;
        EXPECT_LE(c.error().offset, n);
    }
}

TEST(OpcuaSecureChannel, RefusesAFrameThatIsNotSecureConversation) {
    Buf hel = cat({text("HELF"), bytes({0x08, 0, 0, 0})});
    Frame f{MessageHeader{MessageType::Hello, 'F', 8}, Bytes(hel)};
    EXPECT_FALSE(decode_chunk(f));
}

Buf body_of(std::size_t n) {
    Buf b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(i * 7);
    return b;
}

TEST(OpcuaSecureChannel, SplitsALargeMessageIntoChunksOfTheNegotiatedSize) {
    const Buf body = body_of(20000);
    Buf out;
    uint32_t seq = 41;
    SendLimits limits{8192, 0, 0};
    // 8192 - 12 (header) - 4 (token) - 8 (sequence) = 8168 body bytes per chunk.
    EXPECT_EQ(chunk_body_capacity(SymmetricSecurityHeader{1}, 8192), 8168u);
    auto n = encode_message(out, MessageType::Message, 3, SymmetricSecurityHeader{1}, 99, Bytes(body), limits, seq);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 3u);
    EXPECT_EQ(seq, 44u);

    MessageAssembler assembler({0, 0});
    Bytes rest(out);
    std::vector<char> letters;
    Buf reassembled;
    while (!rest.empty()) {
        auto frame = next_frame(rest, 8192);
        ASSERT_TRUE(frame && *frame);
        auto c = decode_chunk(**frame);
        ASSERT_TRUE(c);
        letters.push_back(c->chunk);
        auto ev = assembler.add(*c);
        ASSERT_TRUE(ev);
        if (auto* m = std::get_if<AssembledMessage>(&*ev)) {
            EXPECT_EQ(m->request_id, 99u);
            reassembled.assign(m->body.begin(), m->body.end());
        }
        rest = rest.subspan((*frame)->message.size());
    }
    EXPECT_EQ(letters, (std::vector<char>{'C', 'C', 'F'}));
    EXPECT_EQ(reassembled, body);
    EXPECT_EQ(assembler.partial_messages(), 0u);
}

TEST(OpcuaSecureChannel, RefusesToSendBeyondTheServersLimits) {
    const Buf body = body_of(20000);
    Buf out;
    uint32_t seq = 0;
    EXPECT_FALSE(encode_message(out, MessageType::Message, 3, SymmetricSecurityHeader{1}, 1, Bytes(body),
                                SendLimits{8192, 0, 2}, seq));
    EXPECT_FALSE(encode_message(out, MessageType::Message, 3, SymmetricSecurityHeader{1}, 1, Bytes(body),
                                SendLimits{8192, 10000, 0}, seq));
    EXPECT_FALSE(encode_message(out, MessageType::Open, 3, AsymmetricSecurityHeader{}, 1, Bytes(body),
                                SendLimits{8192, 0, 0}, seq));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(seq, 0u);
}

// §6.7.2.4: legacy wrap after 4 294 966 271 to a value below 1 024.
TEST(OpcuaSecureChannel, WrapsSequenceNumbersByTheLegacyRule) {
    EXPECT_EQ(next_sequence_number(1), 2u);
    EXPECT_EQ(next_sequence_number(4294966270u), 4294966271u);
    EXPECT_EQ(next_sequence_number(4294966271u), 1u);
}

Chunk make_chunk(char letter, uint32_t seq, uint32_t request, const Buf& body) {
    Chunk c;
    c.type = MessageType::Message;
    c.chunk = letter;
    c.security = SymmetricSecurityHeader{1};
    c.sequence = SequenceHeader{seq, request};
    c.body = Bytes(body);
    return c;
}

TEST(OpcuaMessageAssembler, HandsASingleChunkMessageOutWithoutCopying) {
    MessageAssembler a({0, 0});
    const Buf body = bytes({1, 2, 3});
    auto ev = a.add(make_chunk('F', 1, 5, body));
    ASSERT_TRUE(ev);
    auto& m = std::get<AssembledMessage>(*ev);
    EXPECT_EQ(m.body.data(), body.data());
}

TEST(OpcuaMessageAssembler, KeepsInterleavedResponsesApartByRequestId) {
    MessageAssembler a({0, 0});
    const Buf x1 = bytes({1}), y1 = bytes({9}), x2 = bytes({2}), y2 = bytes({8});
    ASSERT_TRUE(a.add(make_chunk('C', 1, 10, x1)));
    ASSERT_TRUE(a.add(make_chunk('C', 2, 11, y1)));
    auto x = a.add(make_chunk('F', 3, 10, x2));
    ASSERT_TRUE(x);
    auto& mx = std::get<AssembledMessage>(*x);
    EXPECT_EQ(Buf(mx.body.begin(), mx.body.end()), bytes({1, 2}));
    auto y = a.add(make_chunk('F', 4, 11, y2));
    ASSERT_TRUE(y);
    auto& my = std::get<AssembledMessage>(*y);
    EXPECT_EQ(Buf(my.body.begin(), my.body.end()), bytes({9, 8}));
}

// §6.7.3: an abort chunk carries an Error and a Reason; the partial message goes.
TEST(OpcuaMessageAssembler, DropsThePartialMessageOnAnAbortChunk) {
    MessageAssembler a({0, 0});
    const Buf part = bytes({1, 2});
    const Buf abort = cat({bytes({0x00, 0x00, 0xB9, 0x80}), bytes({0x03, 0, 0, 0}), text("big")});
    ASSERT_TRUE(a.add(make_chunk('C', 1, 4, part)));
    EXPECT_EQ(a.partial_messages(), 1u);
    auto ev = a.add(make_chunk('A', 2, 4, abort));
    ASSERT_TRUE(ev);
    auto& aborted = std::get<AbortedMessage>(*ev);
    EXPECT_EQ(aborted.request_id, 4u);
    EXPECT_EQ(aborted.error.error.value, 0x80B90000u);  // BadResponseTooLarge
    EXPECT_EQ(aborted.error.reason, "big");
    EXPECT_EQ(a.partial_messages(), 0u);
}

TEST(OpcuaMessageAssembler, RefusesAGapInTheSequenceNumbers) {
    MessageAssembler a({0, 0});
    const Buf body = bytes({1});
    ASSERT_TRUE(a.add(make_chunk('F', 7, 1, body)));
    auto ev = a.add(make_chunk('F', 9, 2, body));
    ASSERT_FALSE(ev);
    EXPECT_EQ(ev.error().code, static_cast<uint8_t>(DecodeErrc::Unexpected));
    MessageAssembler wrap({0, 0});
    ASSERT_TRUE(wrap.add(make_chunk('F', 4294966271u, 1, body)));
    EXPECT_TRUE(wrap.add(make_chunk('F', 3, 2, body)));
}

TEST(OpcuaMessageAssembler, EnforcesMaxChunkCountAndMaxMessageSize) {
    const Buf body = bytes({1, 2, 3, 4});
    MessageAssembler count({0, 2});
    ASSERT_TRUE(count.add(make_chunk('C', 1, 1, body)));
    ASSERT_TRUE(count.add(make_chunk('C', 2, 1, body)));
    auto third = count.add(make_chunk('F', 3, 1, body));
    ASSERT_FALSE(third);
    EXPECT_EQ(third.error().code, static_cast<uint8_t>(DecodeErrc::TooLarge));
    EXPECT_EQ(count.partial_messages(), 0u);

    MessageAssembler size({6, 0});
    ASSERT_TRUE(size.add(make_chunk('C', 1, 1, body)));
    EXPECT_FALSE(size.add(make_chunk('F', 2, 1, body)));
}

TEST(OpcuaMessageAssembler, BoundsTheResponsesReassembledAtOnce) {
    MessageAssembler a({0, 0});
    const Buf body = bytes({1});
    uint32_t seq = 1;
    for (uint32_t id = 0; id < MessageAssembler::kMaxPartialMessages; ++id) {
        ASSERT_TRUE(a.add(make_chunk('C', seq++, id, body)));
    }
    EXPECT_FALSE(a.add(make_chunk('C', seq++, 1000, body)));
}

}  // namespace
}  // namespace ib::drivers::opcua
