#include "store/object_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

namespace ib::store {
namespace {

constexpr const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS objects ("
    "  kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, name));";

struct Statement {
    sqlite3_stmt* s = nullptr;
    ~Statement() { sqlite3_finalize(s); }
};

std::expected<sqlite3*, std::string> try_open(const std::string& path) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        char* msg = nullptr;
        // The schema statement is the first read of the file: a foreign or
        // truncated file fails here (SQLITE_NOTADB, SQLITE_CORRUPT). No integrity
        // check of every page: its cost would grow with the file at every start.
        rc = sqlite3_exec(db, kSchema, nullptr, nullptr, &msg);
        if (rc == SQLITE_OK) return db;
        std::string why = msg ? msg : sqlite3_errstr(rc);
        sqlite3_free(msg);
        sqlite3_close(db);
        return std::unexpected(why);
    }
    std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return std::unexpected(why);
}

}  // namespace

std::expected<std::unique_ptr<ObjectStore>, std::string> ObjectStore::open(const std::string& path) {
    auto store = std::unique_ptr<ObjectStore>(new ObjectStore(path));
    if (!std::filesystem::exists(path)) return store;
    if (auto r = store->connect(); !r) return std::unexpected(r.error());
    return store;
}

std::expected<void, std::string> ObjectStore::connect() {
    auto db = try_open(path_);
    if (db) {
        db_ = *db;
        return {};
    }
    if (!std::filesystem::exists(path_)) return std::unexpected(path_ + ": " + db.error());
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    std::string aside = path_ + ".corrupt-" + std::to_string(now.count());
    std::error_code ec;
    std::filesystem::rename(path_, aside, ec);
    if (ec) return std::unexpected(path_ + ": " + db.error() + "; cannot move it aside: " + ec.message());
    for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(path_ + suffix, ec);
    auto fresh = try_open(path_);
    if (!fresh) return std::unexpected(path_ + ": " + fresh.error());
    db_ = *fresh;
    moved_aside_ = aside + " (" + db.error() + ")";
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
    Statement st;
    if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO objects (kind, name, body, updated_ms) VALUES (?, ?, ?, ?)",
                           -1, &st.s, nullptr) != SQLITE_OK) {
        return std::unexpected(error("cannot store"));
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    sqlite3_bind_text(st.s, 1, kind.data(), static_cast<int>(kind.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st.s, 2, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st.s, 3, json.data(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st.s, 4, ms.count());
    if (sqlite3_step(st.s) != SQLITE_DONE) return std::unexpected(error("cannot store"));
    return {};
}

std::expected<void, std::string> ObjectStore::remove(std::string_view kind, std::string_view name) {
    if (db_ == nullptr) return {};  // no file: nothing was ever stored
    Statement st;
    if (sqlite3_prepare_v2(db_, "DELETE FROM objects WHERE kind = ? AND name = ?", -1, &st.s, nullptr) !=
        SQLITE_OK) {
        return std::unexpected(error("cannot delete"));
    }
    sqlite3_bind_text(st.s, 1, kind.data(), static_cast<int>(kind.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st.s, 2, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(st.s) != SQLITE_DONE) return std::unexpected(error("cannot delete"));
    return {};
}

std::expected<std::vector<std::pair<std::string, std::string>>, std::string> ObjectStore::list(
    std::string_view kind) {
    if (db_ == nullptr) return std::vector<std::pair<std::string, std::string>>{};
    Statement st;
    if (sqlite3_prepare_v2(db_, "SELECT name, body FROM objects WHERE kind = ? ORDER BY name", -1, &st.s,
                           nullptr) != SQLITE_OK) {
        return std::unexpected(error("cannot read"));
    }
    sqlite3_bind_text(st.s, 1, kind.data(), static_cast<int>(kind.size()), SQLITE_TRANSIENT);
    std::vector<std::pair<std::string, std::string>> out;
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
        out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0)),
                         reinterpret_cast<const char*>(sqlite3_column_text(st.s, 1)));
    }
    if (rc != SQLITE_DONE) return std::unexpected(error("cannot read"));
    return out;
}

}  // namespace ib::store
