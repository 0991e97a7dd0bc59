#include "core/json_writer.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/quote.hpp"

namespace ib {

JsonWriter& JsonWriter::key(std::string_view name) {
    separate();
    append_quoted(out_, name);
    out_ += ':';
    need_comma_ = false;
    return *this;
}

JsonWriter& JsonWriter::string(std::string_view s) {
    separate();
    append_quoted(out_, s);
    return *this;
}

JsonWriter& JsonWriter::number(int64_t v) {
    separate();
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
    return *this;
}

JsonWriter& JsonWriter::number(uint64_t v) {
    separate();
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
    return *this;
}

JsonWriter& JsonWriter::number(double v) {
    if (!std::isfinite(v)) return null();
    separate();
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    // The shortest form of 1.8446744084467737e21 is "1844674408446773700000":
    // valid JSON, but an integer beyond 64 bits, which parsers (simdjson
    // included) refuse. Beyond 1e18 an integral-looking text is written with
    // an exponent, so it reads back as the double it is.
    if (std::fabs(v) >= 1e18 && std::string_view(buf, r.ptr).find_first_of(".e") == std::string_view::npos) {
        r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    }
    out_.append(buf, r.ptr);
    return *this;
}

JsonWriter& JsonWriter::fixed(double v, int decimals) {
    if (!std::isfinite(v)) return null();
    separate();
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
    if (r.ec != std::errc{}) {
        // Only a magnitude beyond 10^40 overflows the buffer; the shortest form still fits.
        r = std::to_chars(buf, buf + sizeof buf, v);
    }
    out_.append(buf, r.ptr);
    return *this;
}

JsonWriter& JsonWriter::boolean(bool v) {
    separate();
    out_ += v ? "true" : "false";
    return *this;
}

JsonWriter& JsonWriter::null() {
    separate();
    out_ += "null";
    return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
    separate();
    out_ += json;
    return *this;
}

}  // namespace ib
