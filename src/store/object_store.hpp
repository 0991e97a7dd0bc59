// Objects created through the REST API (devices now; rules later), kept as JSON
// in SQLite in the data directory so they survive a restart. Small and rarely
// written: each change is its own transaction, synchronous, on the caller's thread.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct sqlite3;

namespace ib::store {

class ObjectStore {
public:
    // Opens `path` when it exists; otherwise the file is created at the first
    // put(), so a node that never stores anything never pays for creating it at
    // start-up. A file that is not a readable database is moved aside to
    // "<path>.corrupt-<unix time>" (recovered_from() says so) and a new one is
    // started, rather than refusing to start.
    static std::expected<std::unique_ptr<ObjectStore>, std::string> open(const std::string& path);
    ~ObjectStore();
    ObjectStore(const ObjectStore&) = delete;
    ObjectStore& operator=(const ObjectStore&) = delete;

    std::expected<void, std::string> put(std::string_view kind, std::string_view name, std::string_view json);
    std::expected<void, std::string> remove(std::string_view kind, std::string_view name);
    // (name, json) of every object of `kind`, by name.
    std::expected<std::vector<std::pair<std::string, std::string>>, std::string> list(std::string_view kind);

    // Where a corrupt file was moved, or "" when the file opened cleanly.
    const std::string& recovered_from() const { return moved_aside_; }

private:
    explicit ObjectStore(std::string path) : path_(std::move(path)) {}
    // Opens or creates the file (moving an unreadable one aside).
    std::expected<void, std::string> connect();
    std::string error(std::string_view what) const;

    std::string path_;
    sqlite3* db_ = nullptr;
    std::string moved_aside_;
};

}  // namespace ib::store
