// The rules' SQLite output: rows appended to named tables of data_dir/rules.db
// (id, ts, rule, row as JSON, so `json_extract(row, '$.avg')` reads a column),
// buffered and committed together on a writer thread's tick, each table capped
// in rows with the oldest deleted first. Knows nothing of rules beyond their id.
// append() and pending() are called on the rules' loop, commit() on the writer
// thread: the buffer between them is behind a mutex held only to swap it.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

namespace ib::store {

// A table name a user may give: a letter or '_' then letters, digits, '_' (at most 64).
bool valid_table_name(std::string_view name);

class RowTables {
public:
    static std::expected<std::unique_ptr<RowTables>, std::string> open(const std::string& path);
    ~RowTables();
    RowTables(const RowTables&) = delete;
    RowTables& operator=(const RowTables&) = delete;

    // Buffers a row; false when more than 100,000 wait (the row is not kept).
    bool append(std::string_view table, uint64_t max_rows, std::string_view rule, int64_t ts_ms, std::string_view row);
    // Writes everything buffered in one transaction; the error names the file,
    // and the rows wait for the next commit, ahead of newer ones.
    std::expected<std::size_t, std::string> commit();
    std::size_t pending() const;

private:
    struct Impl;
    explicit RowTables(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ib::store
