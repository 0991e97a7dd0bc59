// libFuzzer target for the MQTT codec: split the input into frames, decode each
// as 3.1.1 and as 5.0, and check the round-trip invariant: whatever decodes must
// encode to bytes that decode again and re-encode to the very same bytes.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mqtt/codec/codec.hpp"

namespace {

using namespace ib::mqtt::codec;

[[noreturn]] void invariant_broken(const char* what, const ib::Error& e) {
    std::fprintf(stderr, "round-trip invariant broken: %s: code 0x%02x offset %zu: %s\n", what,
                 e.code, e.offset, e.message);
    std::abort();
}

void check_round_trip(const Packet& packet, Version version) {
    // CONNECT carries its own version; everything after it follows the session's.
    const Version v =
        std::holds_alternative<Connect>(packet) ? std::get<Connect>(packet).version : version;
    std::vector<std::byte> first;
    encode(first, packet, v);
    if (const auto* p = std::get_if<Publish>(&packet); p && encoded_size(*p, v) != first.size()) {
        std::fprintf(stderr, "encoded_size %zu != encode %zu\n", encoded_size(*p, v), first.size());
        std::abort();
    }
    std::size_t consumed = 0;
    auto again = decode_one(first, v, consumed);
    if (!again) invariant_broken("re-decode failed", again.error());
    if (!*again || consumed != first.size()) {
        std::fprintf(stderr, "round-trip invariant broken: re-encoded packet incomplete\n");
        std::abort();
    }
    std::vector<std::byte> second;
    encode(second, **again, v);
    if (second != first) {
        std::fprintf(stderr, "round-trip invariant broken: second encoding differs\n");
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    ib::Bytes input(reinterpret_cast<const std::byte*>(data), size);
    while (!input.empty()) {
        auto header = decode_frame_header(input);
        if (!header || !*header) break;
        const FrameHeader h = **header;
        if (h.total_size() > input.size()) break;
        const ib::Bytes body = input.subspan(h.header_size, h.remaining_length);
        for (Version version : {Version::V311, Version::V5}) {
            auto packet = decode_packet(h, body, version);
            if (packet) check_round_trip(*packet, version);
        }
        input = input.subspan(h.total_size());
    }
    return 0;
}
