// MQTT codec hot paths: decoding PUBLISH, acks and CONNECT from a receive
// buffer, encoding into a reused output vector, and UTF-8 validation. Prints
// allocations per operation next to the time: every path here but SUBSCRIBE
// decoding (which fills a vector) must show 0.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include "mqtt/codec/codec.hpp"

namespace ib::mqtt::codec {
namespace {

using Buf = std::vector<std::byte>;

// A reading as the drivers publish it (DESIGN.md's topic and payload layout).
constexpr std::string_view kTopic = "ib/data/plc1/fast";
constexpr std::string_view kPayload =
    R"({"device":"plc1","group":"fast","ts":1732200000123,"values":{"temp":21.5,"run":true}})";

struct AllocScope {
    explicit AllocScope(benchmark::State& s) : state(s), start(ib::bench::allocations()) {}
    ~AllocScope() {
        const double n = static_cast<double>(ib::bench::allocations() - start);
        state.counters["allocs/op"] =
            benchmark::Counter(n / static_cast<double>(state.iterations()));
    }
    benchmark::State& state;
    uint64_t start;
};

Publish sample_publish(const Buf& user_props, bool with_props) {
    Publish p;
    p.topic = kTopic;
    p.qos = 1;
    p.packet_id = 4242;
    p.payload = as_bytes(kPayload);
    if (with_props) {
        p.properties.message_expiry_interval = 60;
        p.properties.content_type = "application/json";
        p.properties.user_properties_raw = user_props;
    }
    return p;
}

Buf user_props() {
    Buf raw;
    append_user_property(raw, "site", "plant-7");
    return raw;
}

void decode_loop(benchmark::State& state, const Buf& wire, Version version) {
    AllocScope allocs(state);
    for (auto _ : state) {
        std::size_t consumed = 0;
        auto r = decode_one(wire, version, consumed);
        benchmark::DoNotOptimize(r);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}

void BM_DecodePublishV311(benchmark::State& state) {
    const Buf props = user_props();
    Buf wire;
    encode(wire, sample_publish(props, false), Version::V311);
    decode_loop(state, wire, Version::V311);
}
BENCHMARK(BM_DecodePublishV311);

void BM_DecodePublishV5WithProperties(benchmark::State& state) {
    const Buf props = user_props();
    Buf wire;
    encode(wire, sample_publish(props, true), Version::V5);
    decode_loop(state, wire, Version::V5);
}
BENCHMARK(BM_DecodePublishV5WithProperties);

void BM_DecodePubackV5(benchmark::State& state) {
    Buf wire;
    encode(wire, Ack{PacketType::Puback, 4242, 0, {}}, Version::V5);
    decode_loop(state, wire, Version::V5);
}
BENCHMARK(BM_DecodePubackV5);

void BM_DecodeConnectV5(benchmark::State& state) {
    Connect c;
    c.version = Version::V5;
    c.client_id = "plc-gateway-0001";
    c.keep_alive = 60;
    c.username = "gateway";
    c.properties.session_expiry_interval = 3600;
    c.properties.receive_maximum = 100;
    Buf wire;
    encode(wire, c);
    decode_loop(state, wire, Version::V5);
}
BENCHMARK(BM_DecodeConnectV5);

void BM_DecodeSubscribeV5(benchmark::State& state) {
    Subscribe s;
    s.packet_id = 1;
    s.topics = {{"ib/data/+/fast", 1}, {"ib/status/#", 0}, {"ib/write/plc1/result", 1}};
    Buf wire;
    encode(wire, s, Version::V5);
    decode_loop(state, wire, Version::V5);
}
BENCHMARK(BM_DecodeSubscribeV5);

// One read holding many packets, split with decode_frame_header as the
// connection loop does.
void BM_DecodeStreamOf100Publishes(benchmark::State& state) {
    const Buf props = user_props();
    Buf wire;
    for (int i = 0; i < 100; ++i) encode(wire, sample_publish(props, false), Version::V311);
    AllocScope allocs(state);
    for (auto _ : state) {
        Bytes rest = wire;
        while (!rest.empty()) {
            auto h = decode_frame_header(rest);
            if (!h || !*h) break;
            auto p = decode_packet(**h, rest.subspan((*h)->header_size, (*h)->remaining_length),
                                   Version::V311);
            benchmark::DoNotOptimize(p);
            rest = rest.subspan((*h)->total_size());
        }
    }
    state.SetItemsProcessed(state.iterations() * 100);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_DecodeStreamOf100Publishes);

void encode_publish_loop(benchmark::State& state, Version version, bool with_props) {
    const Buf props = user_props();
    const Publish p = sample_publish(props, with_props);
    Buf out;
    out.reserve(1024);  // a connection's output buffer, already grown
    AllocScope allocs(state);
    for (auto _ : state) {
        out.clear();
        encode(out, p, version);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * encoded_size(p, version)));
}

void BM_EncodePublishV311(benchmark::State& state) { encode_publish_loop(state, Version::V311, false); }
BENCHMARK(BM_EncodePublishV311);

void BM_EncodePublishV5WithProperties(benchmark::State& state) {
    encode_publish_loop(state, Version::V5, true);
}
BENCHMARK(BM_EncodePublishV5WithProperties);

void BM_EncodePubackV5(benchmark::State& state) {
    Buf out;
    out.reserve(64);
    AllocScope allocs(state);
    for (auto _ : state) {
        out.clear();
        encode(out, Ack{PacketType::Puback, 7, 0, {}}, Version::V5);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(BM_EncodePubackV5);

void BM_ValidUtf8(benchmark::State& state) {
    const std::string ascii(static_cast<std::size_t>(state.range(0)), 'a');
    AllocScope allocs(state);
    for (auto _ : state) {
        bool ok = valid_utf8(ascii);
        benchmark::DoNotOptimize(ok);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * ascii.size()));
}
BENCHMARK(BM_ValidUtf8)->Arg(16)->Arg(64)->Arg(1024);

}  // namespace
}  // namespace ib::mqtt::codec
