#include "rules/postgres_session.hpp"

#include "core/log.hpp"

namespace ib::rules {

PostgresSession::PostgresSession(PostgresTarget target, const std::atomic<bool>& closing)
    : target_(std::move(target)), copy_sql_(copy_sql(target_)), closing_(closing) {}

PostgresSession::~PostgresSession() = default;

void PostgresSession::disconnect() {
    conn_.reset();
    encoder_.reset();
}

std::optional<PgFailure> PostgresSession::connect() {
    auto pg = plugin::postgres_plugin();
    if (!pg) return PgFailure{PgFailure::Kind::Setup, pg.error()};
    conn_ = (*pg)->open(closing_);
    if (auto f = conn_->connect(target_.dsn, std::chrono::seconds(target_.connect_timeout_s))) {
        disconnect();
        return f;
    }
    if (auto f = ready_table()) {
        disconnect();
        return f;
    }
    return std::nullopt;
}

std::optional<PgFailure> PostgresSession::ready_table() {
    const std::string table = quote_table(target_.table);
    if (target_.create) {
        if (std::string_view schema = table_schema(target_.table); !schema.empty()) {
            if (auto r = conn_->query("CREATE SCHEMA IF NOT EXISTS " + quote_identifier(schema), {}, ""); !r) return r.error();
        }
        if (auto r = conn_->query(create_table_sql(target_), {}, ""); !r) return r.error();
        // TimescaleDB, when this database has the extension: the table becomes a
        // hypertable on its time column (once; if_not_exists makes it a no-op after).
        auto ext = conn_->query("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'", {}, "");
        if (!ext) return ext.error();
        std::string time_column = target_.time_column;
        for (const PostgresColumn& c : target_.columns) {
            if (time_column.empty() && pg_kind(c.type) == PgKind::Timestamp) time_column = c.name;
        }
        if (ext->size() == 1 && !time_column.empty()) {
            const char* params[] = {table.c_str(), time_column.c_str()};
            auto h = conn_->query("SELECT create_hypertable($1::regclass, $2::name, if_not_exists => TRUE, migrate_data => TRUE)",
                                  params, "create_hypertable: ");
            if (!h) return h.error();
            log::info("postgres: {} is a TimescaleDB hypertable on {}", target_.table, time_column);
        }
    }
    // The columns' types as the table has them, whoever made it.
    const char* params[] = {table.c_str()};
    auto cols = conn_->query("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
                             " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                             params, "");
    if (!cols) return cols.error();
    if (cols->empty()) {
        return PgFailure{PgFailure::Kind::Setup,
                         "table " + target_.table + " does not exist (create it, or give the action create = true)"};
    }
    std::vector<CopyColumn> columns;
    for (const PostgresColumn& c : target_.columns) {
        bool found = false;
        for (size_t i = 0; i < cols->size() && !found; ++i) {
            const auto& row = (*cols)[i];
            if (row.size() < 2 || c.name != row[0]) continue;
            columns.push_back(CopyColumn{c.name, pg_kind(row[1])});
            found = true;
        }
        if (!found) return PgFailure{PgFailure::Kind::Setup, "table " + target_.table + " has no column " + c.name};
    }
    encoder_ = std::make_unique<CopyEncoder>(std::move(columns));
    return std::nullopt;
}

CopyOutcome PostgresSession::write(std::span<const std::string_view> rows) {
    CopyOutcome out;
    if (conn_ && !conn_->healthy()) disconnect();
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
    std::optional<PgFailure> f = lines_.empty() ? std::nullopt : conn_->copy(copy_sql_, lines_);
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
        } else if (auto fi = conn_->copy(copy_sql_, l)) {
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
