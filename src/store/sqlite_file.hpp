// What every SQLite file in the data directory shares: opening one so that a file
// which is not a readable database is moved aside instead of stopping the node,
// and a prepared statement that finalizes itself. Knows no table of any store.
#pragma once

#include <condition_variable>
#include <expected>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

struct sqlite3;
struct sqlite3_stmt;

namespace ib::store {

struct SqliteFile {
    sqlite3* db = nullptr;
    // "<path>.corrupt-<unix time> (<why>)" when an unreadable file was moved
    // aside and a new one started; "" when the file opened cleanly.
    std::string moved_aside;
};

// Process-wide SQLite settings; main calls this before any connection opens
// (afterwards SQLite refuses them, and this returns false). Each connection's
// page cache grows a page at a time as it is read: by default SQLite allocates
// and writes 20 pages at once for every connection, about 85 KiB of resident
// memory per connection whether it reads them or not.
bool configure_sqlite_process();

// Opens or creates `path` and runs `schema` on it (PRAGMAs, CREATE TABLE IF NOT
// EXISTS). The schema is the first read of the file, so a foreign or truncated
// file fails there; it is then renamed to "<path>.corrupt-<unix time>" (its -wal
// and -shm removed) and a fresh file is opened with the same schema. No integrity
// check of every page: its cost would grow with the file at every start.
std::expected<SqliteFile, std::string> open_or_move_aside(const std::string& path, const char* schema);

// The checkpointer of a WAL file, on a thread of its own with its own connection
// `db` (closed when it returns), until `stop` is set under `mutex` and `wake`
// notified. PASSIVE every 100 ms never waits for the writer; a TRUNCATE when the
// WAL passes 64 MiB (the writer then waits for one fsync, so it is rare), or when
// it is idle and fully copied (costing nobody), empties it.
void run_wal_checkpoints(sqlite3* db, std::mutex& mutex, std::condition_variable& wake, const bool& stop);

// One prepared statement, finalized on destruction; move-only.
class Statement {
public:
    Statement() = default;
    explicit Statement(sqlite3_stmt* s) : s_(s) {}
    Statement(Statement&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Statement& operator=(Statement&& o) noexcept {
        std::swap(s_, o.s_);
        return *this;
    }
    ~Statement();

    // Prepares `sql` on `db`; the error says which statement and why.
    static std::expected<Statement, std::string> prepare(sqlite3* db, const char* sql);

    sqlite3_stmt* get() const { return s_; }
    // Ready for the next use; bindings are kept (every caller rebinds them all).
    void reset();

private:
    sqlite3_stmt* s_ = nullptr;
};

// One statement of a file's set, and where it is kept once prepared.
struct StatementSql {
    Statement* st;
    const char* sql;
};
// Prepares every statement of `all` on `db`; the error starts with `who` (the
// file or the store) and names the statement that failed.
std::expected<void, std::string> prepare_all(sqlite3* db, std::string_view who, std::initializer_list<StatementSql> all);

}  // namespace ib::store
