#include "store/object_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>

#include "store/sqlite_file.hpp"

namespace ib::store {
namespace {

constexpr const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS objects ("
    "  kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, name));";

}  // namespace

std::expected<std::unique_ptr<ObjectStore>, std::string> ObjectStore::open(const std::string& path) {
    auto store = std::unique_ptr<ObjectStore>(new ObjectStore(path));
    if (!std::filesystem::exists(path)) return store;
    if (auto r = store->connect(); !r) return std::unexpected(r.error());
    return store;
}

std::expected<void, std::string> ObjectStore::connect() {
    auto file = open_or_move_aside(path_, kSchema);
    if (!file) return std::unexpected(file.error());
    db_ = file->db;
    moved_aside_ = std::move(file->moved_aside);
    return {};
}

ObjectStore::~ObjectStore() { sqlite3_close(db_); }

std::string ObjectStore::error(std::string_view what) const {
    return std::string(what) + ": " + sqlite3_errmsg(db_);
}

std::expected<void, std::string> ObjectStore::put(std::string_view kind, std::string_view name,
                                                  std::string_view json) {
    if (db_ == nullptr) {
        if (auto r = connect(); !r) return r;
    }
    auto st = Statement::prepare(
        db_, "INSERT OR REPLACE INTO objects (kind, name, body, updated_ms) VALUES (?, ?, ?, ?)");
    if (!st) return std::unexpected(error("cannot store"));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    sqlite3_bind_text(st->get(), 1, kind.data(), static_cast<int>(kind.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st->get(), 2, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st->get(), 3, json.data(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st->get(), 4, ms.count());
    if (sqlite3_step(st->get()) != SQLITE_DONE) return std::unexpected(error("cannot store"));
    return {};
}

std::expected<void, std::string> ObjectStore::remove(std::string_view kind, std::string_view name) {
    if (db_ == nullptr) return {};  // no file: nothing was ever stored
    auto st = Statement::prepare(db_, "DELETE FROM objects WHERE kind = ? AND name = ?");
    if (!st) return std::unexpected(error("cannot delete"));
    sqlite3_bind_text(st->get(), 1, kind.data(), static_cast<int>(kind.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st->get(), 2, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(st->get()) != SQLITE_DONE) return std::unexpected(error("cannot delete"));
    return {};
}

std::expected<std::vector<std::pair<std::string, std::string>>, std::string> ObjectStore::list(
    std::string_view kind) {
    if (db_ == nullptr) return std::vector<std::pair<std::string, std::string>>{};
    auto st = Statement::prepare(db_, "SELECT name, body FROM objects WHERE kind = ? ORDER BY name");
    if (!st) return std::unexpected(error("cannot read"));
    sqlite3_bind_text(st->get(), 1, kind.data(), static_cast<int>(kind.size()), SQLITE_TRANSIENT);
    std::vector<std::pair<std::string, std::string>> out;
    int rc;
    while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
        out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st->get(), 0)),
                         reinterpret_cast<const char*>(sqlite3_column_text(st->get(), 1)));
    }
    if (rc != SQLITE_DONE) return std::unexpected(error("cannot read"));
    return out;
}

}  // namespace ib::store
