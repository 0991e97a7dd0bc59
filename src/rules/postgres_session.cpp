#include "rules/postgres_session.hpp"

#include <libpq-fe.h>

#include <vector>

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

}  // namespace

struct PostgresSession::Conn {
    PGconn* pg = nullptr;
    ~Conn() { PQfinish(pg); }
};

PostgresSession::PostgresSession(PostgresTarget target) : target_(std::move(target)), copy_sql_(copy_sql(target_)) {}

PostgresSession::~PostgresSession() = default;

void PostgresSession::disconnect() {
    conn_.reset();
    encoder_.reset();
}

std::optional<PgFailure> PostgresSession::connect() {
    // The dsn is expanded in place of dbname, so what it sets wins over these.
    const std::string timeout = std::to_string(target_.connect_timeout_s);
    const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
    const char* values[] = {timeout.c_str(), "ironbridge", target_.dsn.c_str(), nullptr};
    auto conn = std::make_unique<Conn>();
    conn->pg = PQconnectdbParams(keys, values, 1);
    if (conn->pg == nullptr) return PgFailure{PgFailure::Kind::Connection, "out of memory"};
    if (PQstatus(conn->pg) != CONNECTION_OK) {
        return PgFailure{PgFailure::Kind::Connection, one_line(PQerrorMessage(conn->pg))};
    }
    conn_ = std::move(conn);
    if (auto f = ready_table()) {
        disconnect();
        return f;
    }
    return std::nullopt;
}

std::optional<PgFailure> PostgresSession::ready_table() {
    PGconn* pg = conn_->pg;
    auto exec = [pg](const std::string& sql) -> std::optional<PgFailure> {
        Result r(PQexec(pg, sql.c_str()));
        const auto st = PQresultStatus(r.r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return std::nullopt;
        const bool lost = PQstatus(pg) != CONNECTION_OK;
        return PgFailure{lost ? PgFailure::Kind::Connection : PgFailure::Kind::Setup,
                         one_line(PQresultErrorMessage(r.r))};
    };
    const std::string table = quote_table(target_.table);
    hypertable_ = false;
    if (target_.create) {
        if (std::string_view schema = table_schema(target_.table); !schema.empty()) {
            if (auto f = exec("CREATE SCHEMA IF NOT EXISTS " + quote_identifier(schema))) return f;
        }
        if (auto f = exec(create_table_sql(target_))) return f;
        // TimescaleDB, when this database has the extension: the table becomes a
        // hypertable on its time column (once; if_not_exists makes it a no-op after).
        Result ext(PQexec(pg, "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"));
        std::string time_column = target_.time_column;
        for (const PostgresColumn& c : target_.columns) {
            if (time_column.empty() && pg_kind(c.type) == PgKind::Timestamp) time_column = c.name;
        }
        if (PQresultStatus(ext.r) == PGRES_TUPLES_OK && PQntuples(ext.r) == 1 && !time_column.empty()) {
            const char* params[] = {table.c_str(), time_column.c_str()};
            Result h(PQexecParams(pg, "SELECT create_hypertable($1::regclass, $2::name, if_not_exists => TRUE, migrate_data => TRUE)",
                                  2, nullptr, params, nullptr, nullptr, 0));
            if (PQresultStatus(h.r) != PGRES_TUPLES_OK) {
                return PgFailure{PgFailure::Kind::Setup, "create_hypertable: " + one_line(PQresultErrorMessage(h.r))};
            }
            hypertable_ = true;
        }
    }
    // The columns' types as the table has them, whoever made it.
    const char* params[] = {table.c_str()};
    Result cols(PQexecParams(pg,
                             "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
                             " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                             1, nullptr, params, nullptr, nullptr, 0));
    if (PQresultStatus(cols.r) != PGRES_TUPLES_OK) {
        return PgFailure{PgFailure::Kind::Setup, one_line(PQresultErrorMessage(cols.r))};
    }
    if (PQntuples(cols.r) == 0) {
        return PgFailure{PgFailure::Kind::Setup,
                         "table " + target_.table + " does not exist (create it, or give the action create = true)"};
    }
    std::vector<CopyColumn> columns;
    for (const PostgresColumn& c : target_.columns) {
        bool found = false;
        for (int i = 0; i < PQntuples(cols.r) && !found; ++i) {
            if (c.name != PQgetvalue(cols.r, i, 0)) continue;
            columns.push_back(CopyColumn{c.name, pg_kind(PQgetvalue(cols.r, i, 1))});
            found = true;
        }
        if (!found) return PgFailure{PgFailure::Kind::Setup, "table " + target_.table + " has no column " + c.name};
    }
    encoder_ = std::make_unique<CopyEncoder>(std::move(columns));
    return std::nullopt;
}

std::optional<PgFailure> PostgresSession::copy(std::string_view data) {
    PGconn* pg = conn_->pg;
    auto failed = [&](PGresult* r) {
        const bool lost = PQstatus(pg) != CONNECTION_OK;
        PgFailure f{lost ? PgFailure::Kind::Connection : PgFailure::Kind::Setup,
                    one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(pg))};
        if (r != nullptr && refused_a_value(r)) f.kind = PgFailure::Kind::Rows;
        return f;
    };
    {
        Result start(PQexec(pg, copy_sql_.c_str()));
        if (PQresultStatus(start.r) != PGRES_COPY_IN) return failed(start.r);
    }
    // Blocking mode: these return once libpq has taken the data (or the
    // connection failed); the result after the end says whether COPY committed.
    bool sent = PQputCopyData(pg, data.data(), static_cast<int>(data.size())) == 1;
    sent = PQputCopyEnd(pg, sent ? nullptr : "ironbridge could not send the rows") == 1 && sent;
    std::optional<PgFailure> failure;
    while (PGresult* r = PQgetResult(pg)) {
        Result res(r);
        if (!failure && PQresultStatus(r) != PGRES_COMMAND_OK) failure = failed(r);
    }
    if (!sent && !failure) failure = failed(nullptr);
    return failure;
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
