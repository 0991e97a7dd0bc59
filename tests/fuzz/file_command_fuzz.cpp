// libFuzzer target for MQTT file transfer's parsers (src/files/file_command.*,
// range_set.*). The input is a topic, a newline, then an init body:
// 1. a topic parses to a command or a message, never a crash or an overread;
//    a checksum parsed from it prints back as the same hex (lower case);
// 2. an init body parses to metadata whose name keeps the protocol's rules, or
//    to a message;
// 3. the body's bytes, read as (offset, length) pairs, fill a RangeSet whose
//    first gap and coverage agree with each other.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "files/file_command.hpp"
#include "files/range_set.hpp"

namespace {

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "file_command_fuzz: %s\n", what);
        std::abort();
    }
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'F' ? c + 32 : c);
    return out;
}

void topic(std::string_view t) {
    auto c = ib::files::parse_file_topic(t);
    if (!c) {
        check(!c.error().empty(), "an error without a message");
        return;
    }
    check(!c->file_id.empty(), "an empty file id");
    if (c->checksum) {
        const std::string hex = ib::files::sha256_hex(*c->checksum);
        check(lower(t).ends_with(hex), "a checksum that does not print back");
    }
}

void init(std::string_view body) {
    auto m = ib::files::parse_init(ib::as_bytes(body));
    if (!m) {
        check(!m.error().empty(), "an error without a message");
        return;
    }
    check(!m->name.empty() && m->name.size() <= 240, "a name out of bounds");
    check(m->name.find('/') == std::string::npos && m->name != "." && m->name != "..", "a forbidden name");
}

void ranges(std::string_view body) {
    ib::files::RangeSet set;
    constexpr uint64_t kSize = 4096;
    for (std::size_t i = 0; i + 1 < body.size(); i += 2) {
        const uint64_t off = static_cast<uint8_t>(body[i]) * 16u;
        const uint64_t len = static_cast<uint8_t>(body[i + 1]);
        set.add(off, off + len);
    }
    const auto gap = set.first_gap(kSize);
    const uint64_t covered = set.covered();
    if (!gap) check(covered >= kSize, "no gap but not covered");
    if (gap) check(gap->first < gap->second && gap->second <= kSize, "a gap out of bounds");
    check(set.contiguous() == (gap ? gap->first : set.contiguous()), "contiguous disagrees with the first gap");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto nl = input.find('\n');
    topic(input.substr(0, nl));
    const std::string_view body = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
    init(body);
    ranges(body);
    return 0;
}
