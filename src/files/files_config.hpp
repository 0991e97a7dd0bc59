// What MQTT file transfer (src/files) is configured with: the `files.*` keys of
// the settings table (config/settings.cpp), plus the bridges that forward the
// files, which the app fills in from [[bridges]].
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ib::files {

struct FilesConfig {
    bool enabled = true;
    // Stored files (data_dir/files) together may not exceed this; a transfer
    // that would is refused at init or fin.
    uint64_t max_total_bytes = 10ull << 30;
    // Largest single file accepted.
    uint64_t max_file_bytes = 4ull << 30;
    // Stored files older than this are deleted; 0: kept until deleted.
    std::chrono::hours retention{0};
    // An unfinished transfer with no command for this long is dropped with its
    // segments (a client's init may ask for its own `segments_ttl`).
    std::chrono::seconds segments_ttl{3600};
    // Bridges with forward_files (set by the app, not a key): each finished file
    // is queued for every one of them before its fin is acknowledged.
    std::vector<std::string> forward_bridges;
};

}  // namespace ib::files
