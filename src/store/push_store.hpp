// The fleet controller's orders (docs/fleet-controller.md): each push, dry run
// and rollback the REST API accepted, with every targeted edge's result, kept in
// data_dir/fleet-pushes.db so GET /api/v1/fleet/pushes/{id} still answers after
// a restart. Small and rare writes (an order when it is sent and when it ends),
// each its own transaction on the caller's thread, like RevisionStore; not
// thread-safe (the caller holds its own lock).
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace ib::store {

struct PushEdgeRecord {
    std::string edge;
    std::string site;
    std::string phase;
    std::string code;
    std::string message;
    std::string diff_json;  // a dry run's answer; "" otherwise
};

struct PushRecord {
    std::string id;
    std::string op;  // push, dry-run, rollback
    int64_t revision = 0;
    bool finished = false;
    int64_t created_ms = 0;
    std::vector<PushEdgeRecord> edges;  // in the order they were targeted
};

class PushStore {
public:
    // Opens or creates `path`; an unreadable file is moved aside (recovered_from()).
    static std::expected<PushStore, std::string> open(const std::string& path);
    PushStore(PushStore&& o) noexcept;
    PushStore& operator=(PushStore&&) = delete;
    ~PushStore();

    // The order and its edges as they are now, replacing what was kept of it;
    // keeps the newest `keep` orders.
    std::expected<void, std::string> put(const PushRecord& p, std::size_t keep);
    std::optional<PushRecord> get(const std::string& id) const;
    // Orders an earlier process left unfinished (it stopped while waiting for
    // answers) are finished now: each edge without a final phase gets `code`
    // and `message`. Returns how many.
    std::size_t finish_interrupted(std::string_view code, std::string_view message);

    const std::string& recovered_from() const { return moved_aside_; }

private:
    explicit PushStore(sqlite3* db) : db_(db) {}
    std::string error(std::string_view what) const;

    sqlite3* db_ = nullptr;
    std::string moved_aside_;
};

}  // namespace ib::store
