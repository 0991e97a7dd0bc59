#include "store/rule_state_store.hpp"

#include <sqlite3.h>

#include "core/log.hpp"

namespace ib::store {
namespace {

constexpr const char* kStateSchema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS rule_state (id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,"
    " state BLOB NOT NULL, saved_ms INTEGER NOT NULL);";

}  // namespace

std::expected<RuleStateStore, std::string> RuleStateStore::open(const std::string& path) {
    auto file = open_or_move_aside(path, kStateSchema);
    if (!file) return std::unexpected(file.error());
    RuleStateStore s;
    s.path_ = path;
    s.db_ = file->db;
    if (!file->moved_aside.empty()) {
        log::error("rules: the state file was unreadable and has been moved aside to {}; windows start empty",
                   file->moved_aside);
    }
    auto up = Statement::prepare(s.db_, "INSERT INTO rule_state (id, fingerprint, state, saved_ms) VALUES (?, ?, ?, ?) "
                                        "ON CONFLICT(id) DO UPDATE SET fingerprint = excluded.fingerprint, state = "
                                        "excluded.state, saved_ms = excluded.saved_ms");
    if (!up) return std::unexpected(up.error());
    auto del = Statement::prepare(s.db_, "DELETE FROM rule_state WHERE id = ?");
    if (!del) return std::unexpected(del.error());
    s.upsert_ = std::move(*up);
    s.remove_ = std::move(*del);
    return s;
}

RuleStateStore::RuleStateStore(RuleStateStore&& o) noexcept
    : path_(std::move(o.path_)), db_(std::exchange(o.db_, nullptr)), upsert_(std::move(o.upsert_)),
      remove_(std::move(o.remove_)) {}

RuleStateStore& RuleStateStore::operator=(RuleStateStore&& o) noexcept {
    std::swap(path_, o.path_);
    std::swap(db_, o.db_);
    std::swap(upsert_, o.upsert_);
    std::swap(remove_, o.remove_);
    return *this;
}

RuleStateStore::~RuleStateStore() {
    upsert_ = {};
    remove_ = {};
    if (db_ != nullptr) sqlite3_close(db_);
}

std::optional<std::pair<std::string, std::string>> RuleStateStore::load(std::string_view id) {
    auto st = Statement::prepare(db_, "SELECT fingerprint, state FROM rule_state WHERE id = ?");
    if (!st) return std::nullopt;
    sqlite3_bind_text(st->get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(st->get()) != SQLITE_ROW) return std::nullopt;
    auto text = [&](int col) {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(st->get(), col));
        return std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st->get(), col)));
    };
    return std::make_pair(text(0), text(1));
}

bool RuleStateStore::begin() { return sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK; }
bool RuleStateStore::commit() { return sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK; }
void RuleStateStore::rollback() { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

bool RuleStateStore::put(std::string_view id, const std::string& fp, const std::string& state, int64_t now_ms) {
    sqlite3_stmt* st = upsert_.get();
    sqlite3_bind_text(st, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 2, fp.data(), static_cast<int>(fp.size()), SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, state.data(), static_cast<int>(state.size()), SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    const bool ok = sqlite3_step(st) == SQLITE_DONE;
    upsert_.reset();
    return ok;
}

void RuleStateStore::erase(std::string_view id) {
    sqlite3_stmt* st = remove_.get();
    sqlite3_bind_text(st, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
    sqlite3_step(st);
    remove_.reset();
}

std::string RuleStateStore::error() const { return path_ + ": " + sqlite3_errmsg(db_); }

}  // namespace ib::store
