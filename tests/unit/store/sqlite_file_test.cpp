// The process-wide SQLite settings main applies before the first connection:
// a connection's page cache starts empty instead of 20 pages allocated and
// written up front (about 85 KiB of resident memory per open database).
// ctest runs each test in a process of its own, so SQLite starts uninitialized.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "store/sqlite_file.hpp"

namespace ib::store {
namespace {

TEST(SqliteProcess, AnOpenDatabaseHoldsNoPageCacheItHasNotRead) {
    if (sqlite3_memory_used() != 0) GTEST_SKIP() << "SQLite already ran in this process (run it through ctest)";
    ASSERT_TRUE(configure_sqlite_process());

    std::string tmpl = (std::filesystem::temp_directory_path() / "ib-sqlite-XXXXXX").string();
    std::string dir = mkdtemp(tmpl.data());
    auto file = open_or_move_aside(dir + "/a.db", "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(a, b);");
    ASSERT_TRUE(file) << file.error();
    // With SQLite's default bulk allocation this is about 106 KB; a few pages
    // and the schema are about 20 KB.
    EXPECT_LT(sqlite3_memory_used(), 48 * 1024);

    // Read and written pages still go through the cache as before.
    ASSERT_EQ(sqlite3_exec(file->db, "INSERT INTO t VALUES (1, 'x'), (2, 'y')", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_stmt* count = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(file->db, "SELECT count(*) FROM t", -1, &count, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(count), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(count, 0), 2);
    sqlite3_finalize(count);

    // Too late once SQLite runs: refused, and said so.
    EXPECT_FALSE(configure_sqlite_process());
    sqlite3_close(file->db);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace ib::store
