#include "store/revision_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "store/sqlite_file.hpp"

namespace ib::store {
namespace {

constexpr const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS revisions ("
    "  revision INTEGER PRIMARY KEY, base INTEGER, config TEXT NOT NULL, effective TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',"
    "  received_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);";

constexpr RevisionStatus kStatuses[] = {RevisionStatus::Applying, RevisionStatus::Probing, RevisionStatus::Applied,
                                        RevisionStatus::RolledBack, RevisionStatus::Failed};

RevisionStatus status_of(std::string_view text) {
    for (RevisionStatus s : kStatuses) {
        if (revision_status_name(s) == text) return s;
    }
    return RevisionStatus::Failed;
}

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void bind_text(sqlite3_stmt* st, int i, std::string_view s) {
    // An empty view may have no data, which SQLite would store as NULL.
    sqlite3_bind_text(st, i, s.empty() ? "" : s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

std::string column_text(sqlite3_stmt* st, int i) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
    return t ? std::string(t, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string();
}

constexpr const char* kColumns = "revision, base, config, effective, sha256, status, reason, received_ms, updated_ms";

Revision row_of(sqlite3_stmt* st) {
    Revision r;
    r.revision = sqlite3_column_int64(st, 0);
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) r.base = sqlite3_column_int64(st, 1);
    r.config = column_text(st, 2);
    r.effective = column_text(st, 3);
    r.sha256 = column_text(st, 4);
    r.status = status_of(column_text(st, 5));
    r.reason = column_text(st, 6);
    r.received_ms = sqlite3_column_int64(st, 7);
    r.updated_ms = sqlite3_column_int64(st, 8);
    return r;
}

}  // namespace

std::string_view revision_status_name(RevisionStatus s) {
    switch (s) {
        case RevisionStatus::Applying: return "applying";
        case RevisionStatus::Probing: return "probing";
        case RevisionStatus::Applied: return "applied";
        case RevisionStatus::RolledBack: return "rolled_back";
        case RevisionStatus::Failed: return "failed";
    }
    return "failed";
}

std::expected<RevisionStore, std::string> RevisionStore::open(const std::string& path) {
    auto file = open_or_move_aside(path, kSchema);
    if (!file) return std::unexpected(file.error());
    RevisionStore store(file->db);
    store.moved_aside_ = std::move(file->moved_aside);
    store.load_meta();
    return store;
}

RevisionStore::RevisionStore(RevisionStore&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)), current_(o.current_), highest_(o.highest_), moved_aside_(std::move(o.moved_aside_)) {}

RevisionStore::~RevisionStore() { sqlite3_close(db_); }

std::string RevisionStore::error(std::string_view what) const {
    return "fleet.db: " + std::string(what) + ": " + sqlite3_errmsg(db_);
}

std::expected<void, std::string> RevisionStore::exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return std::unexpected(error(sql));
    return {};
}

void RevisionStore::load_meta() {
    auto st = Statement::prepare(db_, "SELECT key, value FROM meta");
    if (st) {
        while (sqlite3_step(st->get()) == SQLITE_ROW) {
            std::string key = column_text(st->get(), 0);
            if (key == "current") current_ = sqlite3_column_int64(st->get(), 1);
            if (key == "highest") highest_ = sqlite3_column_int64(st->get(), 1);
        }
    }
    auto max = Statement::prepare(db_, "SELECT max(revision) FROM revisions");
    if (max && sqlite3_step(max->get()) == SQLITE_ROW) highest_ = std::max<int64_t>(highest_, sqlite3_column_int64(max->get(), 0));
}

std::expected<void, std::string> RevisionStore::record(const Revision& r, std::size_t keep) {
    if (auto b = exec("BEGIN IMMEDIATE"); !b) return b;
    auto fail = [this](std::string why) -> std::expected<void, std::string> {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return std::unexpected(std::move(why));
    };
    auto st = Statement::prepare(db_,
                                 "INSERT OR REPLACE INTO revisions (revision, base, config, effective, sha256, status, reason,"
                                 " received_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st) return fail(st.error());
    const int64_t now = now_ms();
    sqlite3_bind_int64(st->get(), 1, r.revision);
    if (r.base) sqlite3_bind_int64(st->get(), 2, *r.base);
    else sqlite3_bind_null(st->get(), 2);
    bind_text(st->get(), 3, r.config);
    bind_text(st->get(), 4, r.effective);
    bind_text(st->get(), 5, r.sha256);
    bind_text(st->get(), 6, revision_status_name(r.status));
    bind_text(st->get(), 7, r.reason);
    sqlite3_bind_int64(st->get(), 8, r.received_ms ? r.received_ms : now);
    sqlite3_bind_int64(st->get(), 9, now);
    if (sqlite3_step(st->get()) != SQLITE_DONE) return fail(error("cannot record revision " + std::to_string(r.revision)));
    const int64_t highest = std::max(highest_, r.revision);
    auto meta = Statement::prepare(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES ('highest', ?)");
    if (!meta) return fail(meta.error());
    sqlite3_bind_int64(meta->get(), 1, highest);
    if (sqlite3_step(meta->get()) != SQLITE_DONE) return fail(error("cannot record the highest revision"));
    // The newest `keep` stay, and the one in force whatever its age.
    auto prune = Statement::prepare(db_,
                                    "DELETE FROM revisions WHERE revision <> ? AND revision NOT IN"
                                    " (SELECT revision FROM revisions ORDER BY revision DESC LIMIT ?)");
    if (!prune) return fail(prune.error());
    sqlite3_bind_int64(prune->get(), 1, current_);
    sqlite3_bind_int64(prune->get(), 2, static_cast<int64_t>(keep));
    if (sqlite3_step(prune->get()) != SQLITE_DONE) return fail(error("cannot prune old revisions"));
    if (auto c = exec("COMMIT"); !c) return fail(c.error());
    highest_ = highest;
    return {};
}

std::expected<void, std::string> RevisionStore::set_status(int64_t revision, RevisionStatus status,
                                                           std::string_view reason) {
    auto st = Statement::prepare(db_, "UPDATE revisions SET status = ?, reason = ?, updated_ms = ? WHERE revision = ?");
    if (!st) return std::unexpected(st.error());
    bind_text(st->get(), 1, revision_status_name(status));
    bind_text(st->get(), 2, reason);
    sqlite3_bind_int64(st->get(), 3, now_ms());
    sqlite3_bind_int64(st->get(), 4, revision);
    if (sqlite3_step(st->get()) != SQLITE_DONE) return std::unexpected(error("cannot change revision " + std::to_string(revision)));
    return {};
}

std::expected<void, std::string> RevisionStore::make_current(int64_t revision) {
    if (auto b = exec("BEGIN IMMEDIATE"); !b) return b;
    auto fail = [this](std::string why) -> std::expected<void, std::string> {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return std::unexpected(std::move(why));
    };
    if (revision != 0) {
        if (auto r = set_status(revision, RevisionStatus::Applied); !r) return fail(r.error());
    }
    auto st = Statement::prepare(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES ('current', ?)");
    if (!st) return fail(st.error());
    sqlite3_bind_int64(st->get(), 1, revision);
    if (sqlite3_step(st->get()) != SQLITE_DONE) return fail(error("cannot record the revision in force"));
    if (auto c = exec("COMMIT"); !c) return fail(c.error());
    current_ = revision;
    return {};
}

std::optional<Revision> RevisionStore::get(int64_t revision) const {
    std::string sql = std::string("SELECT ") + kColumns + " FROM revisions WHERE revision = ?";
    auto st = Statement::prepare(db_, sql.c_str());
    if (!st) return std::nullopt;
    sqlite3_bind_int64(st->get(), 1, revision);
    if (sqlite3_step(st->get()) != SQLITE_ROW) return std::nullopt;
    return row_of(st->get());
}

std::vector<Revision> RevisionStore::list() const {
    std::vector<Revision> out;
    std::string sql = std::string("SELECT ") + kColumns + " FROM revisions ORDER BY revision DESC";
    auto st = Statement::prepare(db_, sql.c_str());
    if (!st) return out;
    while (sqlite3_step(st->get()) == SQLITE_ROW) out.push_back(row_of(st->get()));
    return out;
}

std::vector<int64_t> RevisionStore::recover_interrupted(std::string_view reason) {
    std::vector<int64_t> found;
    auto st = Statement::prepare(db_, "SELECT revision FROM revisions WHERE status IN ('applying', 'probing')");
    if (!st) return found;
    while (sqlite3_step(st->get()) == SQLITE_ROW) found.push_back(sqlite3_column_int64(st->get(), 0));
    for (int64_t r : found) (void)set_status(r, RevisionStatus::RolledBack, reason);
    return found;
}

}  // namespace ib::store
