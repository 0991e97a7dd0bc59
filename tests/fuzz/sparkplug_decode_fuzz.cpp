// libFuzzer target for the Sparkplug B payload decoder (src/sparkplug/payload.*),
// which reads NCMD and DCMD bytes from any client of the broker:
// 1. decoding gives a payload or a clear error, never a crash or an overread;
// 2. a decoded payload encodes and decodes again to the same metrics (names,
//    aliases, timestamps, datatypes), and once normalised by one round trip
//    its encoding is stable: encode(decode(encode(p))) == encode(p).
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "sparkplug/payload.hpp"

namespace {

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "sparkplug_decode_fuzz: %s\n", what);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ib::sparkplug;
    auto decoded = decode_payload(std::as_bytes(std::span(data, size)));
    if (!decoded) {
        check(!decoded.error().message.empty(), "an error without a message");
        return 0;
    }
    static PayloadEncoder encoder;
    std::vector<std::byte> once, twice;
    encoder.encode(*decoded, once);
    auto again = decode_payload(once);
    check(again.has_value(), "our own encoding does not decode");
    check(again->metrics.size() == decoded->metrics.size(), "metric count changed");
    check(again->seq == decoded->seq && again->timestamp == decoded->timestamp, "seq or timestamp changed");
    for (std::size_t i = 0; i < decoded->metrics.size(); ++i) {
        const Metric& a = decoded->metrics[i];
        const Metric& b = again->metrics[i];
        check(a.name == b.name && a.alias == b.alias && a.timestamp == b.timestamp, "a metric's identity changed");
        check(a.datatype == b.datatype, "a metric's datatype changed");
        check(a.eng_unit == b.eng_unit, "engUnit changed");
    }
    encoder.encode(*again, twice);
    check(once == twice, "the encoding is not stable after one round trip");
    return 0;
}
