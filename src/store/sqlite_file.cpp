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

bool configure_sqlite_process() { return sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0) == SQLITE_OK; }

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

std::expected<void, std::string> prepare_all(sqlite3* db, std::string_view who, std::initializer_list<StatementSql> all) {
    for (const auto& [st, sql] : all) {
        auto p = Statement::prepare(db, sql);
        if (!p) return std::unexpected(std::string(who) + ": " + p.error());
        *st = std::move(*p);
    }
    return {};
}

void run_wal_checkpoints(sqlite3* db, std::mutex& mutex, std::condition_variable& wake, const bool& stop) {
    constexpr int kTruncateFrames = 16384;  // 64 MiB of 4 KiB pages
    constexpr int kIdleTruncateFrames = 256;
    sqlite3_busy_timeout(db, 2000);
    // A connection learns that the file is in WAL mode at its first read; until
    // then a checkpoint does nothing (and reports -1 frames).
    sqlite3_exec(db, "PRAGMA journal_mode;", nullptr, nullptr, nullptr);
    std::unique_lock lock(mutex);
    while (!stop) {
        wake.wait_for(lock, std::chrono::milliseconds(100));
        if (stop) break;
        lock.unlock();
        int frames = 0;
        int done = 0;
        sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames, &done);
        if (frames > kTruncateFrames || (frames > kIdleTruncateFrames && done == frames)) {
            sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
        }
        lock.lock();
    }
    lock.unlock();
    sqlite3_close(db);
}

}  // namespace ib::store
