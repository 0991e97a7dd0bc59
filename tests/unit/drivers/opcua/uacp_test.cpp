// OPC UA Connection Protocol messages (OPC 10000-6 §7.1.2), bytes written out by
// hand from the tables of §7.1.2.2-§7.1.2.5.
#include <gtest/gtest.h>

#include "drivers/opcua/opcua_binary.hpp"
#include "drivers/opcua/uacp.hpp"
#include "test_bytes.hpp"

namespace ib::drivers::opcua {
namespace {

using test::Buf;
using test::bytes;
using test::cat;
using test::text;

// §7.1.2.2: "HEL", 'F', MessageSize; §7.1.2.3: five UInt32 then EndpointUrl.
const Buf kHello = cat({text("HELF"), bytes({0x30, 0, 0, 0}),
                        bytes({0, 0, 0, 0}),            // ProtocolVersion 0
                        bytes({0x00, 0x00, 0x01, 0}),   // ReceiveBufferSize 65536
                        bytes({0x00, 0x20, 0, 0}),      // SendBufferSize 8192
                        bytes({0x00, 0x00, 0x00, 0x01}),// MaxMessageSize 16 MiB
                        bytes({0x10, 0, 0, 0}),         // MaxChunkCount 16
                        bytes({0x10, 0, 0, 0}), text("opc.tcp://h:4840")});

TEST(OpcuaUacp, EncodesAHelloAsTheTableLaysItOut) {
    Hello h{0, 65536, 8192, 16 * 1024 * 1024, 16, "opc.tcp://h:4840"};
    Buf out;
    encode_hello(out, h);
    EXPECT_EQ(out, kHello);
    auto frame = next_frame(Bytes(out), 65536);
    ASSERT_TRUE(frame && *frame);
    EXPECT_EQ((*frame)->header.type, MessageType::Hello);
    EXPECT_EQ((*frame)->header.size, 48u);
    EXPECT_EQ(decode_hello(Bytes(out).subspan(8)).value(), h);
}

TEST(OpcuaUacp, DecodesAnAcknowledge) {
    Buf in = cat({text("ACKF"), bytes({0x1C, 0, 0, 0}), bytes({0, 0, 0, 0}), bytes({0x00, 0x20, 0, 0}),
                  bytes({0x00, 0x20, 0, 0}), bytes({0, 0, 0x40, 0}), bytes({0x04, 0, 0, 0})});
    auto frame = next_frame(Bytes(in), 65536);
    ASSERT_TRUE(frame && *frame);
    EXPECT_EQ((*frame)->header.type, MessageType::Acknowledge);
    auto ack = decode_acknowledge(Bytes(in).subspan(8));
    ASSERT_TRUE(ack);
    EXPECT_EQ(*ack, (Acknowledge{0, 8192, 8192, 4 * 1024 * 1024, 4}));
    Buf again;
    encode_acknowledge(again, *ack);
    EXPECT_EQ(again, in);
}

// §7.1.2.5: Error UInt32, Reason String.
TEST(OpcuaUacp, DecodesAnErrorMessage) {
    Buf in = cat({text("ERRF"), bytes({0x16, 0, 0, 0}), bytes({0x00, 0x00, 0x83, 0x80}), bytes({0x06, 0, 0, 0}),
                  text("no url")});
    auto frame = next_frame(Bytes(in), 65536);
    ASSERT_TRUE(frame && *frame);
    EXPECT_EQ((*frame)->header.type, MessageType::Error);
    BinaryReader r{Bytes(in).subspan(8), 8};
    auto e = decode_error_message(r);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->error.value, 0x80830000u);  // BadTcpEndpointUrlInvalid
    EXPECT_EQ(e->reason, "no url");
    Buf again;
    encode_error(again, *e);
    EXPECT_EQ(again, in);
}

TEST(OpcuaUacp, AsksForMoreUntilTheWholeMessageIsThere) {
    for (std::size_t n = 0; n < kHello.size(); ++n) {
        auto frame = next_frame(Bytes(kHello).first(n), 65536);
        ASSERT_TRUE(frame) << n;
        EXPECT_FALSE(*frame) << n;
    }
}

TEST(OpcuaUacp, FramesOneMessageAtATimeFromAStream) {
    Buf two = cat({kHello, kHello});
    auto frame = next_frame(Bytes(two), 65536);
    ASSERT_TRUE(frame && *frame);
    EXPECT_EQ((*frame)->message.size(), kHello.size());
}

TEST(OpcuaUacp, RejectsUnknownTypesBadChunkLettersAndImpossibleSizes) {
    struct Case {
        Buf in;
        DecodeErrc code;
        std::size_t offset;
    };
    for (const Case& c : std::vector<Case>{
             {cat({text("XYZF"), bytes({8, 0, 0, 0})}), DecodeErrc::BadValue, 0},
             {cat({text("HELC"), bytes({8, 0, 0, 0})}), DecodeErrc::BadValue, 3},     // HEL is never chunked
             {cat({text("MSGX"), bytes({8, 0, 0, 0})}), DecodeErrc::BadValue, 3},
             {cat({text("MSGF"), bytes({7, 0, 0, 0})}), DecodeErrc::BadLength, 4},    // smaller than the header
             {cat({text("MSGF"), bytes({0x01, 0, 1, 0})}), DecodeErrc::TooLarge, 4},  // above the buffer announced
         }) {
        auto frame = next_frame(Bytes(c.in), 65536);
        ASSERT_FALSE(frame);
        EXPECT_EQ(frame.error().code, static_cast<uint8_t>(c.code));
        EXPECT_EQ(frame.error().offset, c.offset);
    }
}

TEST(OpcuaUacp, FailsOnEveryTruncationOfAHelloBody) {
    const Buf body(kHello.begin() + 8, kHello.end());
    for (std::size_t n = 0; n < body.size(); ++n) {
        EXPECT_FALSE(decode_hello(Bytes(body).first(n))) << n;
    }
}

TEST(OpcuaUacp, RefusesAnEndpointUrlOf4096BytesOrMore) {
    Hello h;
    h.endpoint_url = std::string(4096, 'x');
    Buf out;
    encode_hello(out, h);
    auto v = decode_hello(Bytes(out).subspan(8));
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().offset, 28u);
}

TEST(OpcuaUacp, NegotiatesTheSmallerBuffersAndTheServersLimits) {
    Hello h{0, 65536, 65536, 0, 0, "opc.tcp://h"};
    auto l = negotiate(h, Acknowledge{0, 8192, 131072, 1 << 20, 4});
    ASSERT_TRUE(l);
    EXPECT_EQ(l->send_chunk_size, 8192u);
    EXPECT_EQ(l->receive_chunk_size, 65536u);
    EXPECT_EQ(l->send_max_message, 1u << 20);
    EXPECT_EQ(l->send_max_chunks, 4u);
    // A server that offers a buffer above what we may send gets our own size.
    EXPECT_EQ(negotiate(h, Acknowledge{0, 1 << 20, 8192, 0, 0})->send_chunk_size, 65536u);
    // §7.1.2.4: buffers below 8 192 bytes are not allowed.
    EXPECT_FALSE(negotiate(h, Acknowledge{0, 4096, 8192, 0, 0}));
    EXPECT_FALSE(negotiate(h, Acknowledge{0, 8192, 1024, 0, 0}));
}

}  // namespace
}  // namespace ib::drivers::opcua
