// A rule's postgres action as configured (rules/postgres_settings checks it):
// where the rows go, which of their columns, and how the disk queue in front of
// the database is bounded. Plain data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ib::rules {

// A column of the table, named as the row's column of the same name. `type` is
// what CREATE TABLE gives it when the action creates the table; "" takes the
// table's own (read from the catalog at each connection, either way).
struct PostgresColumn {
    std::string name;
    std::string type;
};

enum class PostgresQueueFull : uint8_t { DropOldest, DropNew };

struct PostgresTarget {
    std::string dsn;    // libpq's "host=... dbname=..." or "postgresql://..."
    std::string table;  // "name" or "schema.name"
    std::vector<PostgresColumn> columns;
    bool create = false;       // CREATE [SCHEMA and] TABLE IF NOT EXISTS; a hypertable under TimescaleDB
    std::string time_column;   // the hypertable's time column; "" = the first timestamp column
    uint32_t batch_rows = 5000;  // rows per COPY
    uint64_t max_queue_bytes = 256ull << 20;
    PostgresQueueFull queue_full = PostgresQueueFull::DropOldest;
    uint32_t connect_timeout_s = 5;
    uint32_t retry_max_ms = 30000;  // back-off after a failure: 500 ms doubling up to this
};

}  // namespace ib::rules
