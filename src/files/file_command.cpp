#include "files/file_command.hpp"

#include <simdjson.h>

#include <charconv>

namespace ib::files {
namespace {

std::optional<uint64_t> parse_u64(std::string_view s) {
    uint64_t v = 0;
    if (s.empty() || s.size() > 20) return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Splits off the next topic level; `rest` becomes what follows its '/'.
std::string_view next_level(std::string_view& rest, bool& more) {
    const auto slash = rest.find('/');
    more = slash != std::string_view::npos;
    std::string_view level = rest.substr(0, slash);
    rest = more ? rest.substr(slash + 1) : std::string_view{};
    return level;
}

std::unexpected<std::string> bad(std::string why) { return std::unexpected(std::move(why)); }

}  // namespace

std::optional<Sha256> parse_sha256_hex(std::string_view text) {
    if (text.size() != 64) return std::nullopt;
    Sha256 out{};
    for (std::size_t i = 0; i < 32; ++i) {
        const int hi = hex_digit(text[2 * i]);
        const int lo = hex_digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    return out;
}

std::string sha256_hex(const Sha256& digest) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(64, '0');
    for (std::size_t i = 0; i < 32; ++i) {
        out[2 * i] = kDigits[digest[i] >> 4];
        out[2 * i + 1] = kDigits[digest[i] & 0xF];
    }
    return out;
}

std::expected<FileCommand, std::string> parse_file_topic(std::string_view topic) {
    FileCommand c;
    std::string_view rest;
    if (topic.starts_with("$file/")) {
        rest = topic.substr(6);
    } else if (topic.starts_with("$file-async/")) {
        rest = topic.substr(12);
        c.async = true;
    } else {
        return bad("not a file transfer topic");
    }
    bool more = false;
    c.file_id = next_level(rest, more);
    if (c.file_id.empty()) return bad("empty file id");
    if (!more) return bad("no command after the file id");
    const std::string_view verb = next_level(rest, more);
    // The optional trailing checksum of a segment or fin.
    auto checksum_level = [&](std::string_view what) -> std::expected<void, std::string> {
        if (!more) return {};
        const std::string_view hex = next_level(rest, more);
        if (more) return bad("too many levels after " + std::string(what));
        c.checksum = parse_sha256_hex(hex);
        if (!c.checksum) return bad("checksum of " + std::string(what) + " is not a SHA-256 in hex: '" + std::string(hex) + "'");
        return {};
    };
    if (verb == "init" || verb == "abort") {
        if (more) return bad("nothing may follow " + std::string(verb));
        c.kind = verb == "init" ? CommandKind::Init : CommandKind::Abort;
        return c;
    }
    if (verb == "fin") {
        if (!more) return bad("fin needs the file size: fin/{size}[/{checksum}]");
        const std::string_view size = next_level(rest, more);
        const auto n = parse_u64(size);
        if (!n) return bad("fin size is not a number: '" + std::string(size) + "'");
        c.kind = CommandKind::Fin;
        c.size = *n;
        if (auto r = checksum_level("fin"); !r) return std::unexpected(r.error());
        return c;
    }
    const auto offset = parse_u64(verb);
    if (!offset) return bad("unknown command '" + std::string(verb) + "' (init, {offset}, fin, abort)");
    c.kind = CommandKind::Segment;
    c.offset = *offset;
    if (auto r = checksum_level("the segment"); !r) return std::unexpected(r.error());
    return c;
}

std::expected<FileMeta, std::string> parse_init(Bytes body) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(reinterpret_cast<const char*>(body.data()), body.size());
    simdjson::dom::element doc;
    if (parser.parse(padded).get(doc) != simdjson::SUCCESS) return bad("init: the body is not JSON");
    simdjson::dom::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) return bad("init: the body is not a JSON object");
    FileMeta m;
    std::string_view name;
    if (obj["name"].get_string().get(name) != simdjson::SUCCESS) return bad("init: name (a string) is required");
    if (name.empty() || name.size() > 240) return bad("init: name must be 1 to 240 bytes");
    if (name == "." || name == ".." || name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
        return bad("init: name may not be '.', '..' or hold '/'");
    }
    m.name = name;
    for (auto field : obj) {
        const std::string_view key = field.key;
        if (key == "size") {
            uint64_t v = 0;
            if (field.value.get_uint64().get(v) != simdjson::SUCCESS) return bad("init: size must be a whole number of bytes");
            m.size = v;
        } else if (key == "checksum") {
            std::string_view hex;
            if (field.value.get_string().get(hex) != simdjson::SUCCESS || !(m.checksum = parse_sha256_hex(hex))) {
                return bad("init: checksum must be a SHA-256 in hex");
            }
        } else if (key == "expire_at") {
            int64_t v = 0;
            if (field.value.get_int64().get(v) != simdjson::SUCCESS) return bad("init: expire_at must be Unix seconds");
            m.expire_at = v;
        } else if (key == "segments_ttl") {
            uint64_t v = 0;
            if (field.value.get_uint64().get(v) != simdjson::SUCCESS) return bad("init: segments_ttl must be seconds");
            m.segments_ttl_s = v;
        } else if (key == "user_data") {
            m.user_data_json = simdjson::minify(field.value);
        }
    }
    return m;
}

}  // namespace ib::files
