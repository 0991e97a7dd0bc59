// Files received over MQTT, on disk under data_dir/files: each one as
// `<client>/<file id>.data` with its manifest `<client>/<file id>.json` (client
// and file id percent-encoded so any id is a safe name), both written to a
// temporary name, fsynced and renamed, so a crash leaves a file whole or absent.
// Unfinished transfers write `.tmp/<client>~<id>.part`, with their init body
// (`.meta`) and the ranges that arrived (`.ranges`), so they survive a restart;
// each forwarding bridge
// has its queue of finished files in `.forward/<bridge>/`. Blocking I/O: run
// it on a writer thread, never on an event loop.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ib::files {

struct Manifest {
    std::string client_id;
    std::string file_id;
    std::string name;
    uint64_t size = 0;
    std::string checksum;  // SHA-256, hex
    int64_t stored_at_ms = 0;
    std::optional<int64_t> expire_at;  // Unix seconds, from the client's init
    std::string user_data_json;        // "" when the init had none
};

std::string manifest_to_json(const Manifest& m);
std::expected<Manifest, std::string> manifest_from_json(std::string_view json);

// A finished file waiting to be sent upstream by one bridge, and how far the
// upstream acknowledged it (bytes from the start).
struct ForwardEntry {
    std::string path;  // the entry's own file
    std::string client_id;
    std::string file_id;
    uint64_t acked = 0;
};

class FileStore {
public:
    explicit FileStore(std::string root);

    // Creates the directories.
    std::expected<void, std::string> open();
    const std::string& root() const { return root_; }
    // Nothing stored, unfinished or queued for a bridge: no entry but the
    // store's own empty directories.
    bool empty() const;

    std::string part_path(std::string_view client, std::string_view id) const;
    // The unfinished transfers of an earlier run: client, file id and the
    // path of the partial file, for those whose .meta and .ranges exist.
    struct Partial {
        std::string client_id;
        std::string file_id;
        std::string part;
    };
    std::vector<Partial> partials() const;
    std::string data_path(std::string_view client, std::string_view id) const;
    std::string manifest_path(std::string_view client, std::string_view id) const;

    // The partial file at `part`, complete and verified, becomes the stored
    // file with its manifest: fsync, rename, manifest, fsync of the directory.
    std::expected<void, std::string> commit(const std::string& part, const Manifest& m);
    std::optional<Manifest> manifest(std::string_view client, std::string_view id) const;
    // Every stored file, oldest first.
    std::vector<Manifest> list() const;
    // Deletes a stored file and its manifest; false when there was none.
    bool remove(std::string_view client, std::string_view id);
    // The bytes of every stored file.
    uint64_t total_bytes() const;

    // The forward queues (one per bridge): an entry per finished file, fsynced
    // before fin is acknowledged, so a kill -9 cannot lose it.
    std::expected<void, std::string> enqueue_forward(std::string_view bridge, std::string_view client,
                                                     std::string_view id);
    std::vector<ForwardEntry> forward_queue(std::string_view bridge) const;
    // Records how far the upstream acknowledged (not fsynced: after a crash the
    // forward at worst starts again from an earlier offset).
    void save_progress(const ForwardEntry& e) const;
    void dequeue(const ForwardEntry& e) const;
    // Whether a bridge other than `bridge` still has the file queued.
    bool queued_elsewhere(std::string_view bridge, std::string_view client, std::string_view id) const;
    // Sets the queues of bridges that no longer forward files (removed from the
    // configuration, disabled, or `forward_files` off) aside in .forward-parked/,
    // and puts back those of `forwarding` that were set aside. A parked entry
    // keeps nothing from expiring or being deleted, and comes back with its
    // bridge (an entry whose file went meanwhile leaves the queue then).
    struct Parking {
        std::vector<std::string> parked, resumed;  // bridge directory names
        std::string error;                          // the first failure, if any
    };
    Parking park_queues(const std::vector<std::string>& forwarding) const;

private:
    std::string root_;
};

// Percent-encodes every byte but [A-Za-z0-9_-] and a '.' that is not first, so
// any client or file id is one safe path component; decode_name reverses it.
std::string encode_name(std::string_view raw);
std::string decode_name(std::string_view encoded);

}  // namespace ib::files
