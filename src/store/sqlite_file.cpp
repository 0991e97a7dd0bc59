#include "store/sqlite_file.hpp"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>

namespace ib::store {
namespace {

std::expected<sqlite3*, std::string> try_open(const std::string& path, const char* schema) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        char* msg = nullptr;
        rc = sqlite3_exec(db, schema, nullptr, nullptr, &msg);
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

std::expected<SqliteFile, std::string> open_or_move_aside(const std::string& path, const char* schema) {
    auto db = try_open(path, schema);
    if (db) return SqliteFile{*db, {}};
    // Nothing to move aside: the directory itself is the problem (missing, read-only).
    if (!std::filesystem::exists(path)) return std::unexpected(path + ": " + db.error());
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    std::string aside = path + ".corrupt-" + std::to_string(now.count());
    std::error_code ec;
    std::filesystem::rename(path, aside, ec);
    if (ec) return std::unexpected(path + ": " + db.error() + "; cannot move it aside: " + ec.message());
    // A WAL left beside the old file belongs to it; replaying it into the new one would corrupt that too.
    for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(path + suffix, ec);
    auto fresh = try_open(path, schema);
    if (!fresh) return std::unexpected(path + ": " + fresh.error());
    return SqliteFile{*fresh, aside + " (" + db.error() + ")"};
}

Statement::~Statement() { sqlite3_finalize(s_); }

std::expected<Statement, std::string> Statement::prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
        return std::unexpected(std::string("cannot prepare '") + sql + "': " + sqlite3_errmsg(db));
    }
    return Statement(s);
}

void Statement::reset() { sqlite3_reset(s_); }

}  // namespace ib::store
