// The postgres action's plug-in (ib_postgres.so, rules/action_plugin.hpp): one
// libpq connection, non-blocking underneath so that every wait is bounded and
// the action being closed ends it, blocking for its caller (the action's own
// thread, never an event loop). What to send (the table's set-up, the COPY
// lines) is the core's business (rules/postgres_session); libpq stays here.
#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <chrono>

#include "rules/action_plugin.hpp"

namespace ib::plugins {
namespace {

using rules::plugin::PgFailure;
using rules::plugin::PgRows;
using Clock = std::chrono::steady_clock;

// How long one statement (COPY included) may take before the connection is
// given up; a server that stops answering must not hold the thread for good.
constexpr auto kStatementTimeout = std::chrono::seconds(60);

// libpq's message without its trailing newline, on one line.
std::string one_line(const char* text) {
    std::string s = text ? text : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    for (char& c : s) {
        if (c == '\n') c = ' ';
    }
    return s;
}

struct Result {
    PGresult* r = nullptr;
    explicit Result(PGresult* p) : r(p) {}
    ~Result() { PQclear(r); }
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
};

// SQLSTATE class 22 (data exception) or 23 (integrity constraint violation):
// the server refused a value, not the batch's way there.
bool refused_a_value(const PGresult* r) {
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return state != nullptr && (std::string_view(state).starts_with("22") || std::string_view(state).starts_with("23"));
}

class Connection final : public rules::plugin::PgConnection {
public:
    explicit Connection(const std::atomic<bool>& closing) : closing_(closing) {}
    ~Connection() override { PQfinish(pg_); }

    std::optional<PgFailure> connect(const std::string& dsn, std::chrono::seconds timeout) override;
    bool healthy() const override { return pg_ != nullptr && PQstatus(pg_) == CONNECTION_OK; }
    std::expected<PgRows, PgFailure> query(const std::string& sql, std::span<const char* const> params,
                                           std::string_view what) override;
    std::optional<PgFailure> copy(const std::string& copy_sql, std::string_view data) override;

private:
    std::optional<PgFailure> wait_socket(bool for_write, Clock::time_point deadline);
    PGresult* run(const char* sql, std::span<const char* const> params, std::optional<PgFailure>& failure);
    PGresult* result(Clock::time_point deadline, std::optional<PgFailure>& failure);

    const std::atomic<bool>& closing_;
    PGconn* pg_ = nullptr;
};

// Waits until the connection's socket is readable (or writable), in slices of
// 100 ms so that the action being closed or the deadline ends the wait.
std::optional<PgFailure> Connection::wait_socket(bool for_write, Clock::time_point deadline) {
    pollfd p{PQsocket(pg_), static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    if (p.fd < 0) return PgFailure{PgFailure::Kind::Connection, "the connection has no socket"};
    for (;;) {
        if (closing_.load(std::memory_order_relaxed)) return PgFailure{PgFailure::Kind::Connection, "the action is closing"};
        if (Clock::now() >= deadline) return PgFailure{PgFailure::Kind::Connection, "the server did not answer in time"};
        const int n = ::poll(&p, 1, 100);
        if (n > 0) return std::nullopt;
        if (n < 0 && errno != EINTR) return PgFailure{PgFailure::Kind::Connection, "poll failed"};
    }
}

// Sends `sql` (with text parameters) and returns its last result once the
// server has answered, without blocking past the deadline. Null on failure
// (`failure` says why: the connection is then no good).
PGresult* Connection::run(const char* sql, std::span<const char* const> params, std::optional<PgFailure>& failure) {
    const auto deadline = Clock::now() + kStatementTimeout;
    if (PQsendQueryParams(pg_, sql, static_cast<int>(params.size()), nullptr, params.data(), nullptr, nullptr, 0) != 1) {
        failure = PgFailure{PgFailure::Kind::Connection, one_line(PQerrorMessage(pg_))};
        return nullptr;
    }
    return result(deadline, failure);
}

PGresult* Connection::result(Clock::time_point deadline, std::optional<PgFailure>& failure) {
    int flushed;
    while ((flushed = PQflush(pg_)) == 1) {
        if ((failure = wait_socket(true, deadline))) return nullptr;
    }
    if (flushed < 0) {
        failure = PgFailure{PgFailure::Kind::Connection, one_line(PQerrorMessage(pg_))};
        return nullptr;
    }
    PGresult* last = nullptr;
    for (;;) {
        while (PQisBusy(pg_)) {
            if ((failure = wait_socket(false, deadline)) || PQconsumeInput(pg_) != 1) {
                if (!failure) failure = PgFailure{PgFailure::Kind::Connection, one_line(PQerrorMessage(pg_))};
                PQclear(last);
                return nullptr;
            }
        }
        PGresult* r = PQgetResult(pg_);
        if (r == nullptr) break;
        // The first error is the one to report; COPY IN wants its data now.
        if (last != nullptr && PQresultStatus(last) == PGRES_FATAL_ERROR) {
            PQclear(r);
            continue;
        }
        PQclear(last);
        last = r;
        if (PQresultStatus(r) == PGRES_COPY_IN) break;
    }
    if (last == nullptr) failure = PgFailure{PgFailure::Kind::Connection, one_line(PQerrorMessage(pg_))};
    return last;
}

std::optional<PgFailure> Connection::connect(const std::string& dsn, std::chrono::seconds timeout) {
    // The dsn is expanded in place of dbname, so what it sets wins over this.
    const char* keys[] = {"fallback_application_name", "dbname", nullptr};
    const char* values[] = {"ironbridge", dsn.c_str(), nullptr};
    PQfinish(pg_);
    pg_ = PQconnectStartParams(keys, values, 1);
    if (pg_ == nullptr) return PgFailure{PgFailure::Kind::Connection, "out of memory"};
    // libpq's connect_timeout is for its blocking calls; polled, the deadline is ours.
    const auto deadline = Clock::now() + timeout;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (PQstatus(pg_) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        if (auto f = wait_socket(st == PGRES_POLLING_WRITING, deadline)) return f;
        st = PQconnectPoll(pg_);
    }
    if (st != PGRES_POLLING_OK || PQstatus(pg_) != CONNECTION_OK) {
        return PgFailure{PgFailure::Kind::Connection, one_line(PQerrorMessage(pg_))};
    }
    PQsetnonblocking(pg_, 1);
    return std::nullopt;
}

std::expected<PgRows, PgFailure> Connection::query(const std::string& sql, std::span<const char* const> params,
                                                   std::string_view what) {
    std::optional<PgFailure> lost;
    PGresult* r = run(sql.c_str(), params, lost);
    if (r == nullptr) return std::unexpected(std::move(*lost));
    Result res(r);
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const bool gone = PQstatus(pg_) != CONNECTION_OK;
        return std::unexpected(PgFailure{gone ? PgFailure::Kind::Connection : PgFailure::Kind::Setup,
                                         std::string(what) + one_line(PQresultErrorMessage(r))});
    }
    PgRows rows(static_cast<size_t>(PQntuples(r)));
    for (int i = 0; i < PQntuples(r); ++i) {
        for (int c = 0; c < PQnfields(r); ++c) rows[i].emplace_back(PQgetvalue(r, i, c));
    }
    return rows;
}

std::optional<PgFailure> Connection::copy(const std::string& copy_sql, std::string_view data) {
    const auto deadline = Clock::now() + kStatementTimeout;
    auto failed = [&](PGresult* r) {
        const bool lost = PQstatus(pg_) != CONNECTION_OK;
        PgFailure f{lost ? PgFailure::Kind::Connection : PgFailure::Kind::Setup,
                    one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(pg_))};
        if (r != nullptr && refused_a_value(r)) f.kind = PgFailure::Kind::Rows;
        return f;
    };
    std::optional<PgFailure> failure;
    {
        PGresult* start = run(copy_sql.c_str(), {}, failure);
        if (start == nullptr) return failure;
        Result res(start);
        if (PQresultStatus(start) != PGRES_COPY_IN) return failed(start);
    }
    // Non-blocking: 0 means libpq's buffer is full until the socket drains.
    int put;
    while ((put = PQputCopyData(pg_, data.data(), static_cast<int>(data.size()))) == 0) {
        if ((failure = wait_socket(true, deadline))) return failure;
    }
    if (put < 0) return failed(nullptr);
    while ((put = PQputCopyEnd(pg_, nullptr)) == 0) {
        if ((failure = wait_socket(true, deadline))) return failure;
    }
    if (put < 0) return failed(nullptr);
    // The result after the end says whether COPY committed.
    PGresult* done = result(deadline, failure);
    if (done == nullptr) return failure;
    Result res(done);
    if (PQresultStatus(done) != PGRES_COMMAND_OK) return failed(done);
    return std::nullopt;
}

std::unique_ptr<rules::plugin::PgConnection> open(const std::atomic<bool>& closing) {
    return std::make_unique<Connection>(closing);
}

std::string check_dsn(const std::string& dsn) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
    if (options != nullptr) {
        PQconninfoFree(options);
        return {};
    }
    std::string why = error ? error : "out of memory";
    PQfreemem(error);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return why;
}

}  // namespace
}  // namespace ib::plugins

extern "C" __attribute__((visibility("default"))) const ib::rules::plugin::PostgresPlugin* ib_postgres_plugin() {
    static const ib::rules::plugin::PostgresPlugin plugin{ib::rules::plugin::kInterfaceVersion, &ib::plugins::open,
                                                                   &ib::plugins::check_dsn};
    return &plugin;
}
