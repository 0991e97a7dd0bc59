#include "store/audit_log.hpp"

#include <sqlite3.h>

#include <atomic>

#include "core/log.hpp"
#include "store/sqlite_file.hpp"
#include "store/writer_thread.hpp"

namespace ib::store {
namespace {

constexpr const char* kSchema =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, who TEXT NOT NULL, role TEXT NOT NULL,"
    " remote TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,"
    " state_before TEXT, state_after TEXT, size INTEGER NOT NULL);";

// Oldest entries looked at per trimming step when over the byte cap.
constexpr int kTrimBatch = 256;

void bind_text(sqlite3_stmt* st, int i, const std::string& s) {
    sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
}

void bind_json(sqlite3_stmt* st, int i, const std::string& s) {
    if (s.empty()) sqlite3_bind_null(st, i);
    else bind_text(st, i, s);
}

std::string column_text(sqlite3_stmt* st, int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
    return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(sqlite3_column_bytes(st, i)));
}

}  // namespace

struct AuditLog::Impl {
    std::string path;
    AuditLimits limits;
    sqlite3* db = nullptr;
    std::string moved_aside;
    Statement insert, oldest, trim, newest, newest_before;
    // The writer thread's view of the table, so the cap costs no count(*).
    uint64_t rows = 0;
    uint64_t bytes = 0;
    std::atomic<uint64_t> failures{0};
    std::unique_ptr<WriterThread> writer;
    // Why the file could not be opened (open_in_background): appends fail, queries answer it.
    std::string open_error;

    ~Impl() {
        writer.reset();  // runs what is queued while the statements still exist
        insert = Statement();
        oldest = Statement();
        trim = Statement();
        newest = Statement();
        newest_before = Statement();
        if (db != nullptr) sqlite3_close(db);
    }

    std::string error(std::string_view what) const { return path + ": " + std::string(what) + ": " + sqlite3_errmsg(db); }

    std::expected<void, std::string> open();

    void write(const AuditEntry& e) {
        if (db == nullptr) {
            failures.fetch_add(1, std::memory_order_relaxed);
            log::error("audit: cannot record {} {}: the audit log could not be opened", e.method, e.path);
            return;
        }
        sqlite3_stmt* st = insert.get();
        sqlite3_bind_int64(st, 1, e.time_ms);
        bind_text(st, 2, e.user);
        bind_text(st, 3, e.role);
        bind_text(st, 4, e.remote);
        bind_text(st, 5, e.method);
        bind_text(st, 6, e.path);
        sqlite3_bind_int64(st, 7, e.status);
        bind_json(st, 8, e.before);
        bind_json(st, 9, e.after);
        sqlite3_bind_int64(st, 10, static_cast<int64_t>(e.size()));
        const int rc = sqlite3_step(st);
        insert.reset();
        if (rc != SQLITE_DONE) {
            failures.fetch_add(1, std::memory_order_relaxed);
            log::error("audit: {}", error("cannot record " + e.method + " " + e.path));
            return;
        }
        ++rows;
        bytes += e.size();
        trim_to_limits();
    }

    // Deletes the oldest entries until both caps hold, keeping the newest one.
    void trim_to_limits() {
        while (rows > 1 && (rows > limits.max_rows || bytes > limits.max_bytes)) {
            int64_t cut = -1;
            uint64_t cut_rows = 0, cut_bytes = 0;
            sqlite3_bind_int64(oldest.get(), 1, kTrimBatch);
            while (sqlite3_step(oldest.get()) == SQLITE_ROW) {
                if (rows - cut_rows <= 1) break;
                if (rows - cut_rows <= limits.max_rows && bytes - cut_bytes <= limits.max_bytes) break;
                cut = sqlite3_column_int64(oldest.get(), 0);
                ++cut_rows;
                cut_bytes += static_cast<uint64_t>(sqlite3_column_int64(oldest.get(), 1));
            }
            oldest.reset();
            if (cut < 0) return;
            sqlite3_bind_int64(trim.get(), 1, cut);
            const int rc = sqlite3_step(trim.get());
            trim.reset();
            if (rc != SQLITE_DONE) {
                failures.fetch_add(1, std::memory_order_relaxed);
                log::error("audit: {}", error("cannot delete the oldest entries"));
                return;
            }
            rows -= cut_rows;
            bytes -= cut_bytes;
        }
    }

    Entries read(uint32_t limit, std::optional<int64_t> before) {
        if (db == nullptr) return std::unexpected(path + ": cannot be read: " + open_error);
        Statement& q = before ? newest_before : newest;
        sqlite3_bind_int64(q.get(), 1, limit);
        if (before) sqlite3_bind_int64(q.get(), 2, *before);
        std::vector<AuditEntry> out;
        int rc = SQLITE_ROW;
        while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
            sqlite3_stmt* st = q.get();
            AuditEntry e;
            e.id = sqlite3_column_int64(st, 0);
            e.time_ms = sqlite3_column_int64(st, 1);
            e.user = column_text(st, 2);
            e.role = column_text(st, 3);
            e.remote = column_text(st, 4);
            e.method = column_text(st, 5);
            e.path = column_text(st, 6);
            e.status = static_cast<unsigned>(sqlite3_column_int64(st, 7));
            e.before = column_text(st, 8);
            e.after = column_text(st, 9);
            out.push_back(std::move(e));
        }
        q.reset();
        if (rc != SQLITE_DONE) return std::unexpected(error("cannot read"));
        return out;
    }
};

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuditLog::~AuditLog() = default;

std::expected<void, std::string> AuditLog::Impl::open() {
    auto file = open_or_move_aside(path, kSchema);
    if (!file) return std::unexpected(file.error());
    db = file->db;
    moved_aside = file->moved_aside;
    const char* columns = "SELECT id, time_ms, who, role, remote, method, path, status, state_before, state_after FROM audit ";
    const std::string newest_sql = std::string(columns) + "ORDER BY id DESC LIMIT ?1";
    const std::string newest_before_sql = std::string(columns) + "WHERE id < ?2 ORDER BY id DESC LIMIT ?1";
    auto ok = prepare_all(db, path,
                          {{&insert,
                            "INSERT INTO audit (time_ms, who, role, remote, method, path, status, state_before, "
                            "state_after, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
                           {&oldest, "SELECT id, size FROM audit ORDER BY id LIMIT ?"},
                           {&trim, "DELETE FROM audit WHERE id <= ?"},
                           {&newest, newest_sql.c_str()},
                           {&newest_before, newest_before_sql.c_str()}});
    if (!ok) return std::unexpected(ok.error());
    auto t = Statement::prepare(db, "SELECT count(*), coalesce(sum(size), 0) FROM audit");
    if (!t) return std::unexpected(path + ": " + t.error());
    if (sqlite3_step(t->get()) == SQLITE_ROW) {
        rows = static_cast<uint64_t>(sqlite3_column_int64(t->get(), 0));
        bytes = static_cast<uint64_t>(sqlite3_column_int64(t->get(), 1));
    }
    // A lowered cap applies at once.
    trim_to_limits();
    return {};
}

std::expected<std::unique_ptr<AuditLog>, std::string> AuditLog::open(const std::string& path, AuditLimits limits) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->limits = limits;
    if (auto r = impl->open(); !r) return std::unexpected(r.error());
    impl->writer = std::make_unique<WriterThread>("ib-audit");
    return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

std::unique_ptr<AuditLog> AuditLog::open_in_background(const std::string& path, AuditLimits limits) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->limits = limits;
    impl->writer = std::make_unique<WriterThread>("ib-audit");
    // The first job: every append and query submitted later runs after it.
    impl->writer->submit([impl = impl.get()] {
        if (auto r = impl->open(); !r) {
            impl->open_error = r.error();
            log::error("cannot open the audit log: {}; API changes are made but not recorded", r.error());
        } else if (!impl->moved_aside.empty()) {
            log::error("audit log was unreadable and has been moved aside to {}; starting with an empty one",
                       impl->moved_aside);
        }
    });
    return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

void AuditLog::append(AuditEntry entry) {
    impl_->writer->submit([impl = impl_.get(), e = std::move(entry)] { impl->write(e); });
}

void AuditLog::query(uint32_t limit, std::optional<int64_t> before, std::function<void(Entries)> done) {
    impl_->writer->submit([impl = impl_.get(), limit, before, done = std::move(done)] { done(impl->read(limit, before)); });
}

void AuditLog::drain() { impl_->writer->drain(); }

uint64_t AuditLog::failures() const { return impl_->failures.load(std::memory_order_relaxed); }

std::string AuditLog::recovered_from() const { return impl_->moved_aside; }

}  // namespace ib::store
