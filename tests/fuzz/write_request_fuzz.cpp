// libFuzzer target for the bus's write request and result codec (src/core/bus.*).
// The input is a request and then a result, as JSON from the bus or the REST API:
// 1. decoding gives a request or a clear error, never a crash or an overread;
// 2. a decoded request, encoded again, decodes to the same tags and values;
// 3. the same for a result.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "core/bus.hpp"
#include "core/json_writer.hpp"

namespace {

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "write_request_fuzz: %s\n", what);
        std::abort();
    }
}

// Integers and doubles compare by value: 1.0 is written "1" and read back as an integer.
bool same_value(const ib::WriteValue& a, const ib::WriteValue& b) {
    auto number = [](const ib::WriteValue& v, double& out) {
        if (auto* i = std::get_if<int64_t>(&v)) out = static_cast<double>(*i);
        else if (auto* u = std::get_if<uint64_t>(&v)) out = static_cast<double>(*u);
        else if (auto* d = std::get_if<double>(&v)) out = *d;
        else return false;
        return true;
    };
    double x = 0, y = 0;
    if (number(a, x) && number(b, y)) return x == y;
    return a == b;
}

void write_value(ib::JsonWriter& w, const ib::WriteValue& v) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::vector<uint8_t>>) {
                w.begin_array();
                for (uint8_t b : x) w.number(static_cast<uint64_t>(b));
                w.end_array();
            } else if constexpr (std::is_same_v<T, std::string>) {
                w.string(x);
            } else if constexpr (std::is_same_v<T, bool>) {
                w.boolean(x);
            } else {
                w.number(x);
            }
        },
        v);
}

void request_round_trip(std::string_view input) {
    auto decoded = ib::decode_write_request(input);
    if (!decoded) {
        check(!decoded.error().message.empty(), "an error without a message");
        return;
    }
    check(!decoded->items.empty(), "a request with no tag");
    std::string values;
    ib::JsonWriter w(values);
    w.begin_object();
    for (const auto& item : decoded->items) {
        w.key(item.tag);
        if (item.value) write_value(w, *item.value);
        else w.null();
    }
    w.end_object();
    std::string again;
    ib::encode_write_request_values(again, "fuzz", values);
    auto back = ib::decode_write_request(again);
    check(back.has_value(), "an encoded request does not decode");
    check(back->id == "\"fuzz\"", "the id changed");
    check(back->items.size() == decoded->items.size(), "the number of tags changed");
    for (size_t i = 0; i < back->items.size(); ++i) {
        const auto& a = decoded->items[i];
        const auto& b = back->items[i];
        check(a.tag == b.tag, "a tag name changed");
        check(a.value.has_value() == b.value.has_value(), "a value's validity changed");
        if (a.value) check(same_value(*a.value, *b.value), "a value changed");
    }
}

void result_round_trip(std::string_view input) {
    auto decoded = ib::decode_write_result(input);
    if (!decoded) return;
    std::string again;
    ib::encode_write_result(again, *decoded);
    auto back = ib::decode_write_result(again);
    check(back.has_value(), "an encoded result does not decode");
    check(back->id == decoded->id && back->ok == decoded->ok && back->error == decoded->error, "a result changed");
    check(back->results.size() == decoded->results.size(), "the number of tag results changed");
    for (size_t i = 0; i < back->results.size(); ++i) {
        const auto& a = decoded->results[i];
        const auto& b = back->results[i];
        check(a.tag == b.tag && a.ok == b.ok && a.code == b.code && a.error == b.error, "a tag result changed");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    request_round_trip(input);
    result_round_trip(input);
    return 0;
}
