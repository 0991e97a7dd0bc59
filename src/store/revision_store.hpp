// The fleet's configuration revisions (docs/fleet.md), kept in data_dir/fleet.db:
// each revision's TOML text as the controller sent it, the managed configuration
// in force once it was applied (`effective`: its parts over the earlier ones),
// its SHA-256, and where it got to. Small and rarely written (one row per push):
// each change is its own transaction, on the caller's thread, like ObjectStore.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace ib::store {

enum class RevisionStatus : uint8_t { Applying, Probing, Applied, RolledBack, Failed };
std::string_view revision_status_name(RevisionStatus s);

struct Revision {
    int64_t revision = 0;
    std::optional<int64_t> base;
    std::string config;     // the desired configuration's TOML text
    std::string effective;  // the managed parts in force with it applied (TOML)
    std::string sha256;     // hex, of `config`
    RevisionStatus status = RevisionStatus::Applying;
    std::string reason;     // why it failed or was rolled back; "" otherwise
    int64_t received_ms = 0;
    int64_t updated_ms = 0;
};

class RevisionStore {
public:
    // Opens or creates `path`; an unreadable file is moved aside (recovered_from()).
    static std::expected<RevisionStore, std::string> open(const std::string& path);
    RevisionStore(RevisionStore&& o) noexcept;
    RevisionStore& operator=(RevisionStore&&) = delete;
    ~RevisionStore();

    // A new revision (or one received again), with its status; keeps the last
    // `keep` revisions, never the one in force.
    std::expected<void, std::string> record(const Revision& r, std::size_t keep);
    // Changes a revision's status (and reason) in one statement.
    std::expected<void, std::string> set_status(int64_t revision, RevisionStatus status, std::string_view reason = {});
    // The revision in force (0: the configuration file alone), changed with its
    // status in one transaction so a crash never leaves them apart.
    std::expected<void, std::string> make_current(int64_t revision);
    int64_t current() const { return current_; }
    // The highest revision ever received (for stale checks).
    int64_t highest_seen() const { return highest_; }

    std::optional<Revision> get(int64_t revision) const;
    // Newest first.
    std::vector<Revision> list() const;
    // Revisions left `applying` or `probing` by a process that was killed:
    // each is marked rolled_back with `reason`; returns them.
    std::vector<int64_t> recover_interrupted(std::string_view reason);

    const std::string& recovered_from() const { return moved_aside_; }

private:
    explicit RevisionStore(sqlite3* db) : db_(db) {}
    std::expected<void, std::string> exec(const char* sql);
    std::string error(std::string_view what) const;
    void load_meta();

    sqlite3* db_ = nullptr;
    int64_t current_ = 0;
    int64_t highest_ = 0;
    std::string moved_aside_;
};

}  // namespace ib::store
