// One connection of a postgres action, used from the action's own thread
// only (its calls block: connecting, COPY), never from an event loop. It
// connects when asked and readies the table each time: created when the action
// says so (a TimescaleDB hypertable when the extension is installed), its
// columns' types read from the catalog, and writes batches of rows with COPY.
// libpq is in the postgres plug-in (action_plugin.hpp), loaded at the first use.
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

#include "rules/action_plugin.hpp"
#include "rules/postgres_config.hpp"
#include "rules/postgres_rows.hpp"

namespace ib::rules {

using plugin::PgFailure;

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
    std::optional<PgFailure> connect();
    std::optional<PgFailure> ready_table();
    void disconnect();

    PostgresTarget target_;
    std::string copy_sql_;
    const std::atomic<bool>& closing_;
    std::unique_ptr<plugin::PgConnection> conn_;
    std::unique_ptr<CopyEncoder> encoder_;
    std::string lines_;  // reused batch after batch
    std::vector<size_t> line_ends_;
};

}  // namespace ib::rules
