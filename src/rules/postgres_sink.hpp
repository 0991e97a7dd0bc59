// A rule's postgres action on the rules' loop: each row goes first to a disk
// queue of its own (store/outbox on its writer thread, as a bridge's messages
// do), and from there, oldest first, in batches, to PostgreSQL by COPY on a
// thread of the action's own (libpq blocks). A row leaves the queue only once
// the COPY that holds it has committed, or the server refused its values
// (counted); the queue is capped in bytes with a policy. So a database that is
// away, slow or refusing never holds up the loop, and a row once queued survives
// a kill -9. No Asio or libpq in this header.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "rules/postgres_config.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::rules {

struct PostgresFigures {
    uint64_t written = 0;       // rows committed in PostgreSQL
    uint64_t refused = 0;       // rows the server refused (a value its column does not take)
    uint64_t dropped = 0;       // rows the queue's cap dropped or refused
    // In the queue file (committed there: what survives a kill -9), not yet
    // deleted; a row staged for the next commit is not counted yet.
    uint64_t queued_rows = 0;
    uint64_t queued_bytes = 0;
    bool connected = false;
};

class PostgresSink {
public:
    // `written` rows were committed; else `error` says what failed (the server
    // away, a wrong password, a missing table, a refused value, the queue full)
    // and `failures` how many it counts for: the rows refused or dropped, or 1.
    using Outcome = std::function<void(uint64_t written, const std::string& error, uint64_t failures)>;

    // Opens (or finds again, after a restart) the queue at `queue_path`, whose
    // rows are sent before any new one. `name` names the two threads
    // (ib-pgq-<name>, ib-pg-<name>; cut to 15 characters).
    static std::expected<std::unique_ptr<PostgresSink>, std::string> open(boost::asio::io_context& io, PostgresTarget target,
                                                                          const std::string& queue_path,
                                                                          const std::string& name, Outcome outcome);
    // Commits what is staged and stops; what is queued stays in the file.
    ~PostgresSink();
    PostgresSink(const PostgresSink&) = delete;
    PostgresSink& operator=(const PostgresSink&) = delete;

    // On the loop. The row (a JSON object) is copied into the next commit.
    void write(std::string_view row);
    // Commits what is staged and waits for it (shutdown).
    void finish();
    PostgresFigures figures() const;

private:
    struct Impl;
    explicit PostgresSink(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ib::rules
