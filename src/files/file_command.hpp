// The file-transfer protocol's commands, as EMQX defines them (docs/files.md):
// the topic of a `$file/` or `$file-async/` PUBLISH parsed into a command, and
// the JSON body of `init`. Pure functions over untrusted bytes: a bad topic or
// body is an error value with a message for the client, never a crash.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

namespace ib::files {

using Sha256 = std::array<uint8_t, 32>;

enum class CommandKind : uint8_t { Init, Segment, Fin, Abort };

struct FileCommand {
    CommandKind kind = CommandKind::Init;
    bool async = false;         // `$file-async/`: acknowledged at once, answered on the response topic
    std::string_view file_id;   // a view into the topic
    uint64_t offset = 0;        // Segment
    uint64_t size = 0;          // Fin
    std::optional<Sha256> checksum;  // Segment: of its bytes; Fin: of the whole file
};

// `$file/{id}/init`, `$file/{id}/{offset}[/{sha256}]`, `$file/{id}/fin/{size}[/{sha256}]`,
// `$file/{id}/abort` (and the same under `$file-async/`).
std::expected<FileCommand, std::string> parse_file_topic(std::string_view topic);

// The metadata `init` carries.
struct FileMeta {
    std::string name;
    std::optional<uint64_t> size;
    std::optional<Sha256> checksum;
    std::optional<int64_t> expire_at;    // Unix seconds: the file may be deleted after it
    std::optional<uint64_t> segments_ttl_s;  // how long unfinished segments are kept
    std::string user_data_json;         // the user_data value as JSON text; "" when absent
};

// {"name":..., "size":..., "checksum":"<hex sha256>", "expire_at":..,
//  "segments_ttl":.., "user_data":{...}}; name is required (1 to 240 bytes, no
// '/' and not "." or ".."), the rest optional.
std::expected<FileMeta, std::string> parse_init(Bytes body);

// 64 hexadecimal digits (either case) to bytes; nullopt otherwise.
std::optional<Sha256> parse_sha256_hex(std::string_view text);
std::string sha256_hex(const Sha256& digest);

}  // namespace ib::files
