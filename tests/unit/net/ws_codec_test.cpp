#include "net/ws_codec.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ib::net::ws {
namespace {

const std::array<std::byte, 4> kKey{std::byte{0x37}, std::byte{0xfa}, std::byte{0x21}, std::byte{0x3d}};

std::vector<std::byte> bytes_of(std::string_view s) {
    auto b = as_bytes(s);
    return {b.begin(), b.end()};
}

// A frame as a client sends it: masked.
std::vector<std::byte> client_frame(Opcode op, std::string_view payload, bool fin = true) {
    std::vector<std::byte> out;
    encode_header(out, op, fin, payload.size(), &kKey);
    std::vector<std::byte> body = bytes_of(payload);
    apply_mask(body, kKey, 0);
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

struct Collected {
    std::string data;
    std::vector<std::pair<Opcode, std::string>> controls;
};

// Feeds `wire` in pieces of `step` bytes (0: all at once).
std::expected<Collected, WsError> decode(std::vector<std::byte> wire, std::size_t step = 0) {
    Decoder d;
    Collected c;
    auto on_data = [&](Bytes b) { c.data.append(as_string_view(b)); };
    auto on_control = [&](Opcode op, Bytes b) { c.controls.emplace_back(op, std::string(as_string_view(b))); };
    if (step == 0) step = wire.size() == 0 ? 1 : wire.size();
    for (std::size_t pos = 0; pos < wire.size(); pos += step) {
        const std::size_t n = std::min(step, wire.size() - pos);
        auto r = d.feed(std::span<std::byte>(wire.data() + pos, n), on_data, on_control);
        if (!r) return std::unexpected(r.error());
    }
    return c;
}

TEST(WsMask, MatchesTheRfcExample) {
    // RFC 6455 §5.7: a masked "Hello".
    std::vector<std::byte> wire{std::byte{0x81}, std::byte{0x85}, std::byte{0x37}, std::byte{0xfa},
                                std::byte{0x21}, std::byte{0x3d}, std::byte{0x7f}, std::byte{0x9f},
                                std::byte{0x4d}, std::byte{0x51}, std::byte{0x58}};
    auto h = decode_header(wire);
    ASSERT_TRUE(h && *h);
    EXPECT_EQ((*h)->opcode, Opcode::Text);
    EXPECT_EQ((*h)->payload_len, 5u);
    EXPECT_EQ((*h)->header_size, 6u);
    std::span<std::byte> payload(wire.data() + 6, 5);
    apply_mask(payload, (*h)->mask, 0);
    EXPECT_EQ(as_string_view(payload), "Hello");
}

TEST(WsMask, ContinuesAtAnOffset) {
    std::vector<std::byte> a = bytes_of("abcdefg"), b = a;
    apply_mask(a, kKey, 0);
    apply_mask(std::span<std::byte>(b.data(), 3), kKey, 0);
    apply_mask(std::span<std::byte>(b.data() + 3, 4), kKey, 3);
    EXPECT_EQ(a, b);
}

class WsLengths : public ::testing::TestWithParam<std::size_t> {};

TEST_P(WsLengths, DecodeWholeAndByteByByte) {
    const std::size_t len = GetParam();
    std::string payload(len, '\0');
    for (std::size_t i = 0; i < len; ++i) payload[i] = static_cast<char>('a' + i % 23);
    auto wire = client_frame(Opcode::Binary, payload);
    const std::size_t expected_header = len < 126 ? 6 : len <= 65535 ? 8 : 14;
    auto h = decode_header(wire);
    ASSERT_TRUE(h && *h);
    EXPECT_EQ((*h)->header_size, expected_header);
    EXPECT_EQ((*h)->payload_len, len);
    for (std::size_t step : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
        if (step == 1 && len > 70000) continue;
        auto r = decode(wire, step);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->data, payload) << "step " << step;
    }
}

INSTANTIATE_TEST_SUITE_P(BoundaryLengths, WsLengths, ::testing::Values(0, 1, 125, 126, 65535, 65536, 200000));

TEST(WsEncode, ServerFramesAreUnmaskedWithMinimalLengths) {
    for (auto [len, header] : {std::pair<std::size_t, std::size_t>{125, 2}, {126, 4}, {65535, 4}, {65536, 10}}) {
        std::vector<std::byte> out;
        encode_header(out, Opcode::Binary, true, len);
        ASSERT_EQ(out.size(), header);
        EXPECT_EQ(static_cast<uint8_t>(out[0]), 0x82);
        EXPECT_EQ(static_cast<uint8_t>(out[1]) & 0x80, 0) << "a server must not mask";
        out.resize(out.size() + len);
        auto h = decode_header(out, false);
        ASSERT_TRUE(h && *h);
        EXPECT_EQ((*h)->payload_len, len);
    }
}

TEST(WsDecoder, JoinsFragmentsAndPassesControlFramesBetweenThem) {
    std::vector<std::byte> wire = client_frame(Opcode::Binary, "ab", false);
    auto ping = client_frame(Opcode::Ping, "p1");
    auto mid = client_frame(Opcode::Continuation, "cd", false);
    auto last = client_frame(Opcode::Continuation, "ef", true);
    wire.insert(wire.end(), ping.begin(), ping.end());
    wire.insert(wire.end(), mid.begin(), mid.end());
    wire.insert(wire.end(), last.begin(), last.end());
    for (std::size_t step : {0, 1, 3}) {
        auto r = decode(wire, step);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->data, "abcdef");
        ASSERT_EQ(r->controls.size(), 1u);
        EXPECT_EQ(r->controls[0].first, Opcode::Ping);
        EXPECT_EQ(r->controls[0].second, "p1");
    }
}

TEST(WsDecoder, SeveralMessagesInOneRead) {
    auto wire = client_frame(Opcode::Binary, "one");
    auto two = client_frame(Opcode::Binary, "two");
    auto empty = client_frame(Opcode::Binary, "");
    wire.insert(wire.end(), empty.begin(), empty.end());
    wire.insert(wire.end(), two.begin(), two.end());
    auto r = decode(wire);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->data, "onetwo");
}

TEST(WsDecoder, CloseIsReportedAndEndsDecoding) {
    auto wire = client_frame(Opcode::Close, std::string("\x03\xe8", 2));
    auto after = client_frame(Opcode::Binary, "ignored");
    wire.insert(wire.end(), after.begin(), after.end());
    auto r = decode(wire);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->controls.size(), 1u);
    EXPECT_EQ(r->controls[0].first, Opcode::Close);
    EXPECT_EQ(r->controls[0].second, std::string("\x03\xe8", 2));
    EXPECT_EQ(r->data, "");
}

TEST(WsDecoder, ControlFrameOf125BytesIsAccepted) {
    auto r = decode(client_frame(Opcode::Pong, std::string(125, 'x')), 5);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->controls.size(), 1u);
    EXPECT_EQ(r->controls[0].second.size(), 125u);
}

struct BadCase {
    const char* name;
    std::vector<std::byte> wire;
    uint16_t close_code;
    std::string_view message;
};

std::vector<std::byte> raw(std::initializer_list<int> v) {
    std::vector<std::byte> out;
    for (int b : v) out.push_back(std::byte{static_cast<uint8_t>(b)});
    return out;
}

std::vector<std::byte> concat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

TEST(WsDecoder, BadInputGivesAClearError) {
    const BadCase cases[] = {
        {"unmasked", raw({0x82, 0x01, 0x41}), kCloseProtocolError, "unmasked client frame"},
        {"rsv1", raw({0xC2, 0x80, 0, 0, 0, 0}), kCloseProtocolError, "reserved bits set"},
        {"opcode 3", raw({0x83, 0x80, 0, 0, 0, 0}), kCloseProtocolError, "unknown opcode"},
        {"text", client_frame(Opcode::Text, "hi"), kCloseUnsupportedData, "text frame (MQTT uses binary frames)"},
        {"ping of 126", client_frame(Opcode::Ping, std::string(126, 'x')), kCloseProtocolError,
         "control frame longer than 125 bytes"},
        {"fragmented ping", client_frame(Opcode::Ping, "x", false), kCloseProtocolError, "fragmented control frame"},
        {"close of 1 byte", client_frame(Opcode::Close, "x"), kCloseProtocolError, "close frame of 1 byte"},
        {"lone continuation", client_frame(Opcode::Continuation, "x"), kCloseProtocolError,
         "continuation frame without a message"},
        {"binary inside fragments",
         concat(client_frame(Opcode::Binary, "a", false), client_frame(Opcode::Binary, "b")), kCloseProtocolError,
         "new message inside a fragmented one"},
        {"16-bit length below 126", raw({0x82, 0xFE, 0x00, 0x7D, 0, 0, 0, 0}), kCloseProtocolError,
         "length not minimally encoded"},
        {"64-bit length below 65536", raw({0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0}),
         kCloseProtocolError, "length not minimally encoded"},
        {"64-bit length top bit", raw({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), kCloseProtocolError,
         "64-bit length with the top bit set"},
    };
    for (const auto& c : cases) {
        for (std::size_t step : {0, 1}) {
            auto r = decode(c.wire, step);
            ASSERT_FALSE(r) << c.name;
            EXPECT_EQ(r.error().close_code, c.close_code) << c.name;
            EXPECT_EQ(std::string_view(r.error().message), c.message) << c.name;
        }
    }
}

TEST(WsDecoder, IncompleteInputIsNotAnError) {
    auto wire = client_frame(Opcode::Binary, std::string(300, 'q'));
    Decoder d;
    std::string got;
    auto on_data = [&](Bytes b) { got.append(as_string_view(b)); };
    auto on_control = [](Opcode, Bytes) {};
    ASSERT_TRUE(d.feed(std::span<std::byte>(wire.data(), 3), on_data, on_control));
    EXPECT_TRUE(d.mid_message());
    ASSERT_TRUE(d.feed(std::span<std::byte>(wire.data() + 3, 100), on_data, on_control));
    EXPECT_EQ(got.size(), 100u - 5u);
    ASSERT_TRUE(d.feed(std::span<std::byte>(wire.data() + 103, wire.size() - 103), on_data, on_control));
    EXPECT_EQ(got, std::string(300, 'q'));
    EXPECT_FALSE(d.mid_message());
}

}  // namespace
}  // namespace ib::net::ws
