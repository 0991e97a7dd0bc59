// One libpq connection of a postgres action, used from the action's own thread
// only (its calls block: connecting, COPY), never from an event loop. It
// connects when asked and readies the table each time: created when the action
// says so (a TimescaleDB hypertable when the extension is installed), its
// columns' types read from the catalog, and writes batches of rows with COPY.
// libpq stays in the .cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rules/postgres_config.hpp"
#include "rules/postgres_rows.hpp"

struct pg_result;  // libpq's PGresult

namespace ib::rules {

struct PgFailure {
    enum class Kind : uint8_t {
        Connection,  // down, refused, a wrong password, lost: the batch waits and is sent again
        Setup,       // the table is missing, a column is not in it...: waits too, the user must act
        Rows,        // the server refused a row's value (SQLSTATE class 22 or 23)
    };
    Kind kind = Kind::Connection;
    std::string message;
};

// A batch written: `resolved` leading rows are done with (written, or refused
// and counted in `refused`, `last_refusal` saying why); the rest wait for `failure`
// to pass. All of them resolved when there is no failure.
struct CopyOutcome {
    size_t resolved = 0;
    uint64_t written = 0;
    uint64_t refused = 0;
    std::string last_refusal;
    std::optional<PgFailure> failure;
};

class PostgresSession {
public:
    // `closing` ends any wait for the server (the action is going away).
    PostgresSession(PostgresTarget target, const std::atomic<bool>& closing);
    ~PostgresSession();
    PostgresSession(const PostgresSession&) = delete;
    PostgresSession& operator=(const PostgresSession&) = delete;

    // Writes `rows` (JSON objects) in order, connecting first if need be: one COPY
    // for all of them; if the server refuses a value, one COPY per row, so only
    // the rows it refuses are left out.
    CopyOutcome write(std::span<const std::string_view> rows);
    // Whether the last write found the server and the table ready.
    bool connected() const { return conn_ != nullptr; }

private:
    using Clock = std::chrono::steady_clock;
    std::optional<PgFailure> connect();
    std::optional<PgFailure> wait_socket(bool for_write, Clock::time_point deadline);
    pg_result* run(const char* sql, std::span<const char* const> params, std::optional<PgFailure>& failure);
    pg_result* result(Clock::time_point deadline, std::optional<PgFailure>& failure);
    std::optional<PgFailure> ready_table();
    // One COPY of `data` (whole lines), in its own transaction.
    std::optional<PgFailure> copy(std::string_view data);
    void disconnect();

    PostgresTarget target_;
    std::string copy_sql_;
    const std::atomic<bool>& closing_;
    struct Conn;
    std::unique_ptr<Conn> conn_;
    std::unique_ptr<CopyEncoder> encoder_;
    std::string lines_;  // reused batch after batch
    std::vector<size_t> line_ends_;
};

}  // namespace ib::rules
