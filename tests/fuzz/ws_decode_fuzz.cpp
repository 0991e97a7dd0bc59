// libFuzzer target for the WebSocket frame decoder (src/net/ws_codec.*).
// 1. The input as a client stream, fed in chunks whose sizes the input picks:
//    whatever it holds must give data or a clean error, never a crash or an
//    overread, and chunking must not change the outcome.
// 2. The input as a recipe for a valid client stream (frames, fragments, pings,
//    random masks): it must decode without error to exactly the payload bytes.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "net/ws_codec.hpp"

namespace {

using namespace ib::net::ws;

struct Outcome {
    std::string data;
    std::string controls;
    bool ok = true;
    uint16_t close_code = 0;
};

Outcome decode(std::vector<std::byte> wire, std::size_t chunk) {
    Decoder d;
    Outcome o;
    auto on_data = [&](ib::Bytes b) { o.data.append(ib::as_string_view(b)); };
    auto on_control = [&](Opcode op, ib::Bytes b) {
        o.controls.push_back(static_cast<char>(op));
        o.controls.append(ib::as_string_view(b));
    };
    for (std::size_t pos = 0; pos < wire.size() && o.ok; pos += chunk) {
        const std::size_t n = std::min(chunk, wire.size() - pos);
        auto r = d.feed(std::span<std::byte>(wire.data() + pos, n), on_data, on_control);
        if (!r) {
            o.ok = false;
            o.close_code = r.error().close_code;
        }
    }
    return o;
}

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
}

void as_stream(const uint8_t* data, std::size_t size) {
    if (size < 1) return;
    const std::size_t chunk = 1 + data[0] % 32;
    std::vector<std::byte> wire(reinterpret_cast<const std::byte*>(data + 1),
                                reinterpret_cast<const std::byte*>(data + size));
    Outcome whole = decode(wire, wire.empty() ? 1 : wire.size());
    Outcome pieces = decode(wire, chunk);
    if (whole.ok != pieces.ok || whole.close_code != pieces.close_code) broken("chunking changed the outcome");
    if (whole.ok && (whole.data != pieces.data || whole.controls != pieces.controls))
        broken("chunking changed the decoded bytes");
    if (whole.data.size() > wire.size()) broken("more payload than input");
}

void as_recipe(const uint8_t* data, std::size_t size) {
    std::vector<std::byte> wire;
    std::string expected;
    std::size_t pos = 0;
    bool fragmenting = false;
    auto next = [&]() -> uint8_t { return pos < size ? data[pos++] : 0; };
    // Bounded so that one input stays fast; two large frames already reach the
    // 64-bit length encoding.
    constexpr std::size_t kMaxWire = 256 * 1024;
    while (pos < size && wire.size() < kMaxWire) {
        const uint8_t kind = next();
        std::array<std::byte, 4> mask{std::byte{next()}, std::byte{next()}, std::byte{next()}, std::byte{next()}};
        if (kind % 5 == 0) {
            // A ping with up to 125 bytes between frames of a message.
            std::vector<std::byte> p(next() % 126);
            for (auto& b : p) b = std::byte{next()};
            encode_header(wire, Opcode::Ping, true, p.size(), &mask);
            apply_mask(p, mask, 0);
            wire.insert(wire.end(), p.begin(), p.end());
            continue;
        }
        // Lengths up to 70000 so every length encoding appears.
        std::size_t len = static_cast<std::size_t>(next()) * ((kind & 0xA0) == 0xA0 ? 300 : 1);
        std::vector<std::byte> p(len);
        for (std::size_t i = 0; i < len; ++i) p[i] = std::byte{static_cast<uint8_t>(i * 31 + kind)};
        const bool fin = (kind & 0x40) == 0;
        const Opcode op = fragmenting ? Opcode::Continuation : Opcode::Binary;
        encode_header(wire, op, fin, len, &mask);
        expected.append(reinterpret_cast<const char*>(p.data()), p.size());
        apply_mask(p, mask, 0);
        wire.insert(wire.end(), p.begin(), p.end());
        fragmenting = !fin;
    }
    const std::size_t chunk = size > 0 ? 1 + data[0] % 4096 : 1;
    Outcome o = decode(std::move(wire), chunk);
    if (!o.ok) broken("a valid stream was refused");
    if (o.data != expected) broken("payload bytes differ from what was framed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    as_stream(data, size);
    as_recipe(data, size);
    return 0;
}
