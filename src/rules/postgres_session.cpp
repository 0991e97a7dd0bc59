#include "rules/postgres_session.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "core/log.hpp"

namespace ib::rules {
namespace {

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

using Clock = std::chrono::steady_clock;

// How long one statement (COPY included) may take before the connection is
// given up; a server that stops answering must not hold the thread for good.
constexpr auto kStatementTimeout = std::chrono::seconds(60);

}  // namespace

struct PostgresSession::Conn {
    PGconn* pg = nullptr;
    ~Conn() { PQfinish(pg); }
};

PostgresSession::PostgresSession(PostgresTarget target, const std::atomic<bool>& closing)
    : target_(std::move(target)), copy_sql_(copy_sql(target_)), closing_(closing) {}

// Waits until the connection's socket is readable (or writable), in slices of
// 100 ms so that the action being closed or the deadline ends the wait.
std::optional<PgFailure> PostgresSession::wait_socket(bool for_write, Clock::time_point deadline) {
    pollfd p{PQsocket(conn_->pg), static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
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
PGresult* PostgresSession::run(const char* sql, std::span<const char* const> params, std::optional<PgFailure>& failure) {
    const auto deadline = Clock::now() + kStatementTimeout;
    if (PQsendQueryParams(conn_->pg, sql, static_cast<int>(params.size()), nullptr, params.data(), nullptr, nullptr, 0) != 1) {
        failure = PgFailure{PgFailure::Kind::Connection, one_line(PQerrorMessage(conn_->pg))};
        return nullptr;
    }
    return result(deadline, failure);
}

PGresult* PostgresSession::result(Clock::time_point deadline, std::optional<PgFailure>& failure) {
    PGconn* pg = conn_->pg;
    int flushed;
    while ((flushed = PQflush(pg)) == 1) {
        if ((failure = wait_socket(true, deadline))) return nullptr;
    }
    if (flushed < 0) {
        failure = PgFailure{PgFailure::Kind::Connection, one_line(PQerrorMessage(pg))};
        return nullptr;
    }
    PGresult* last = nullptr;
    for (;;) {
        while (PQisBusy(pg)) {
            if ((failure = wait_socket(false, deadline)) || PQconsumeInput(pg) != 1) {
                if (!failure) failure = PgFailure{PgFailure::Kind::Connection, one_line(PQerrorMessage(pg))};
                PQclear(last);
                return nullptr;
            }
        }
        PGresult* r = PQgetResult(pg);
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
    if (last == nullptr) failure = PgFailure{PgFailure::Kind::Connection, one_line(PQerrorMessage(pg))};
    return last;
}

PostgresSession::~PostgresSession() = default;

void PostgresSession::disconnect() {
    conn_.reset();
    encoder_.reset();
}

std::optional<PgFailure> PostgresSession::connect() {
    // The dsn is expanded in place of dbname, so what it sets wins over this.
    const char* keys[] = {"fallback_application_name", "dbname", nullptr};
    const char* values[] = {"ironbridge", target_.dsn.c_str(), nullptr};
    conn_ = std::make_unique<Conn>();
    conn_->pg = PQconnectStartParams(keys, values, 1);
    if (conn_->pg == nullptr) {
        conn_.reset();
        return PgFailure{PgFailure::Kind::Connection, "out of memory"};
    }
    // libpq's connect_timeout is for its blocking calls; polled, the deadline is ours.
    const auto deadline = Clock::now() + std::chrono::seconds(target_.connect_timeout_s);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (PQstatus(conn_->pg) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        if (auto f = wait_socket(st == PGRES_POLLING_WRITING, deadline)) {
            disconnect();
            return f;
        }
        st = PQconnectPoll(conn_->pg);
    }
    if (st != PGRES_POLLING_OK || PQstatus(conn_->pg) != CONNECTION_OK) {
        PgFailure f{PgFailure::Kind::Connection, one_line(PQerrorMessage(conn_->pg))};
        disconnect();
        return f;
    }
    PQsetnonblocking(conn_->pg, 1);
    if (auto f = ready_table()) {
        disconnect();
        return f;
    }
    return std::nullopt;
}

std::optional<PgFailure> PostgresSession::ready_table() {
    PGconn* pg = conn_->pg;
    std::optional<PgFailure> lost;
    // A statement's result, or (null) why there is none: lost, or refused.
    auto query = [&](const std::string& sql, std::span<const char* const> params, ExecStatusType want,
                     std::string_view what) -> std::pair<std::unique_ptr<Result>, std::optional<PgFailure>> {
        PGresult* r = run(sql.c_str(), params, lost);
        if (r == nullptr) return {nullptr, lost};
        auto res = std::make_unique<Result>(r);
        if (PQresultStatus(r) != want) {
            const bool gone = PQstatus(pg) != CONNECTION_OK;
            return {nullptr, PgFailure{gone ? PgFailure::Kind::Connection : PgFailure::Kind::Setup,
                                       std::string(what) + one_line(PQresultErrorMessage(r))}};
        }
        return {std::move(res), std::nullopt};
    };
    const std::string table = quote_table(target_.table);
    if (target_.create) {
        if (std::string_view schema = table_schema(target_.table); !schema.empty()) {
            auto [r, f] = query("CREATE SCHEMA IF NOT EXISTS " + quote_identifier(schema), {}, PGRES_COMMAND_OK, "");
            if (f) return f;
        }
        if (auto [r, f] = query(create_table_sql(target_), {}, PGRES_COMMAND_OK, ""); f) return f;
        // TimescaleDB, when this database has the extension: the table becomes a
        // hypertable on its time column (once; if_not_exists makes it a no-op after).
        auto [ext, f] = query("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'", {}, PGRES_TUPLES_OK, "");
        if (f) return f;
        std::string time_column = target_.time_column;
        for (const PostgresColumn& c : target_.columns) {
            if (time_column.empty() && pg_kind(c.type) == PgKind::Timestamp) time_column = c.name;
        }
        if (PQntuples(ext->r) == 1 && !time_column.empty()) {
            const char* params[] = {table.c_str(), time_column.c_str()};
            auto [h, hf] = query("SELECT create_hypertable($1::regclass, $2::name, if_not_exists => TRUE, migrate_data => TRUE)",
                                 params, PGRES_TUPLES_OK, "create_hypertable: ");
            if (hf) return hf;
            log::info("postgres: {} is a TimescaleDB hypertable on {}", target_.table, time_column);
        }
    }
    // The columns' types as the table has them, whoever made it.
    const char* params[] = {table.c_str()};
    auto [cols, f] = query("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
                           " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                           params, PGRES_TUPLES_OK, "");
    if (f) return f;
    if (PQntuples(cols->r) == 0) {
        return PgFailure{PgFailure::Kind::Setup,
                         "table " + target_.table + " does not exist (create it, or give the action create = true)"};
    }
    std::vector<CopyColumn> columns;
    for (const PostgresColumn& c : target_.columns) {
        bool found = false;
        for (int i = 0; i < PQntuples(cols->r) && !found; ++i) {
            if (c.name != PQgetvalue(cols->r, i, 0)) continue;
            columns.push_back(CopyColumn{c.name, pg_kind(PQgetvalue(cols->r, i, 1))});
            found = true;
        }
        if (!found) return PgFailure{PgFailure::Kind::Setup, "table " + target_.table + " has no column " + c.name};
    }
    encoder_ = std::make_unique<CopyEncoder>(std::move(columns));
    return std::nullopt;
}

std::optional<PgFailure> PostgresSession::copy(std::string_view data) {
    PGconn* pg = conn_->pg;
    const auto deadline = Clock::now() + kStatementTimeout;
    auto failed = [&](PGresult* r) {
        const bool lost = PQstatus(pg) != CONNECTION_OK;
        PgFailure f{lost ? PgFailure::Kind::Connection : PgFailure::Kind::Setup,
                    one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(pg))};
        if (r != nullptr && refused_a_value(r)) f.kind = PgFailure::Kind::Rows;
        return f;
    };
    std::optional<PgFailure> failure;
    {
        PGresult* start = run(copy_sql_.c_str(), {}, failure);
        if (start == nullptr) return failure;
        Result res(start);
        if (PQresultStatus(start) != PGRES_COPY_IN) return failed(start);
    }
    // Non-blocking: 0 means libpq's buffer is full until the socket drains.
    int put;
    while ((put = PQputCopyData(pg, data.data(), static_cast<int>(data.size()))) == 0) {
        if ((failure = wait_socket(true, deadline))) return failure;
    }
    if (put < 0) return failed(nullptr);
    while ((put = PQputCopyEnd(pg, nullptr)) == 0) {
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

CopyOutcome PostgresSession::write(std::span<const std::string_view> rows) {
    CopyOutcome out;
    if (conn_ && PQstatus(conn_->pg) != CONNECTION_OK) disconnect();
    if (!conn_) {
        if (auto f = connect()) {
            out.failure = std::move(f);
            return out;
        }
    }
    // Encoded once; a row that cannot be (not a time a timestamp takes) is
    // refused here and never sent.
    lines_.clear();
    line_ends_.clear();
    uint64_t refused = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
        if (auto r = encoder_->append(rows[i], lines_); !r) {
            ++refused;
            out.last_refusal = r.error();
        }
        line_ends_.push_back(lines_.size());
    }
    auto line = [this](size_t i) {
        const size_t begin = i == 0 ? 0 : line_ends_[i - 1];
        return std::string_view(lines_).substr(begin, line_ends_[i] - begin);
    };
    std::optional<PgFailure> f = lines_.empty() ? std::nullopt : copy(lines_);
    if (!f) {
        out.resolved = rows.size();
        out.refused = refused;
        out.written = rows.size() - refused;
        return out;
    }
    if (f->kind != PgFailure::Kind::Rows) {
        // Connected again next time, the table readied again: it may have been
        // dropped or changed meanwhile.
        disconnect();
        out.failure = std::move(f);
        return out;
    }
    // The server refused a value somewhere in the batch, so the batch as a
    // whole was rolled back: each row alone, the ones it refuses left out.
    for (size_t i = 0; i < rows.size(); ++i) {
        std::string_view l = line(i);
        if (l.empty()) {
            ++out.refused;
        } else if (auto fi = copy(l)) {
            if (fi->kind != PgFailure::Kind::Rows) {
                disconnect();
                out.failure = std::move(fi);
                return out;
            }
            ++out.refused;
            out.last_refusal = fi->message;
        } else {
            ++out.written;
        }
        out.resolved = i + 1;
    }
    return out;
}

}  // namespace ib::rules
