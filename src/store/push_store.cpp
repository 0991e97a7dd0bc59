#include "store/push_store.hpp"

#include <sqlite3.h>

#include <utility>

#include "store/sqlite_file.hpp"

namespace ib::store {
namespace {

constexpr const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS pushes ("
    "  id TEXT PRIMARY KEY, op TEXT NOT NULL, revision INTEGER NOT NULL, finished INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS push_edges ("
    "  push_id TEXT NOT NULL, idx INTEGER NOT NULL, edge TEXT NOT NULL, site TEXT NOT NULL, phase TEXT NOT NULL,"
    "  code TEXT NOT NULL, message TEXT NOT NULL, diff TEXT NOT NULL, PRIMARY KEY (push_id, idx));";

void bind_text(sqlite3_stmt* st, int i, std::string_view s) {
    // An empty view may have no data, which SQLite would store as NULL.
    sqlite3_bind_text(st, i, s.empty() ? "" : s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

std::string column_text(sqlite3_stmt* st, int i) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
    return t ? std::string(t, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string();
}

// The phases that end an edge's request (fleet.md, progress reports).
constexpr const char* kFinalPhases = "('done', 'failed', 'rolled_back')";

}  // namespace

std::expected<PushStore, std::string> PushStore::open(const std::string& path) {
    auto file = open_or_move_aside(path, kSchema);
    if (!file) return std::unexpected(file.error());
    PushStore store(file->db);
    store.moved_aside_ = std::move(file->moved_aside);
    return store;
}

PushStore::PushStore(PushStore&& o) noexcept : db_(std::exchange(o.db_, nullptr)), moved_aside_(std::move(o.moved_aside_)) {}

PushStore::~PushStore() { sqlite3_close(db_); }

std::string PushStore::error(std::string_view what) const {
    return "fleet-pushes.db: " + std::string(what) + ": " + sqlite3_errmsg(db_);
}

std::expected<void, std::string> PushStore::put(const PushRecord& p, std::size_t keep) {
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
        return std::unexpected(error("cannot begin"));
    }
    auto fail = [this](std::string why) -> std::expected<void, std::string> {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return std::unexpected(std::move(why));
    };
    Statement order, clear, edge, prune, prune_edges;
    if (auto r = prepare_all(db_, "fleet-pushes.db",
                             {{&order, "INSERT OR REPLACE INTO pushes (id, op, revision, finished, created_ms)"
                                       " VALUES (?, ?, ?, ?, ?)"},
                              {&clear, "DELETE FROM push_edges WHERE push_id = ?"},
                              {&edge, "INSERT INTO push_edges (push_id, idx, edge, site, phase, code, message, diff)"
                                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"},
                              {&prune, "DELETE FROM pushes WHERE id NOT IN"
                                       " (SELECT id FROM pushes ORDER BY created_ms DESC, id DESC LIMIT ?)"},
                              {&prune_edges, "DELETE FROM push_edges WHERE push_id NOT IN (SELECT id FROM pushes)"}});
        !r) {
        return fail(r.error());
    }
    bind_text(order.get(), 1, p.id);
    bind_text(order.get(), 2, p.op);
    sqlite3_bind_int64(order.get(), 3, p.revision);
    sqlite3_bind_int(order.get(), 4, p.finished ? 1 : 0);
    sqlite3_bind_int64(order.get(), 5, p.created_ms);
    if (sqlite3_step(order.get()) != SQLITE_DONE) return fail(error("cannot keep order " + p.id));
    bind_text(clear.get(), 1, p.id);
    if (sqlite3_step(clear.get()) != SQLITE_DONE) return fail(error("cannot replace the edges of " + p.id));
    for (std::size_t i = 0; i < p.edges.size(); ++i) {
        const PushEdgeRecord& e = p.edges[i];
        edge.reset();
        bind_text(edge.get(), 1, p.id);
        sqlite3_bind_int64(edge.get(), 2, static_cast<int64_t>(i));
        bind_text(edge.get(), 3, e.edge);
        bind_text(edge.get(), 4, e.site);
        bind_text(edge.get(), 5, e.phase);
        bind_text(edge.get(), 6, e.code);
        bind_text(edge.get(), 7, e.message);
        bind_text(edge.get(), 8, e.diff_json);
        if (sqlite3_step(edge.get()) != SQLITE_DONE) return fail(error("cannot keep the edges of " + p.id));
    }
    sqlite3_bind_int64(prune.get(), 1, static_cast<int64_t>(keep));
    if (sqlite3_step(prune.get()) != SQLITE_DONE) return fail(error("cannot prune old orders"));
    if (sqlite3_step(prune_edges.get()) != SQLITE_DONE) return fail(error("cannot prune old orders' edges"));
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail(error("cannot commit"));
    return {};
}

std::optional<PushRecord> PushStore::get(const std::string& id) const {
    auto st = Statement::prepare(db_, "SELECT op, revision, finished, created_ms FROM pushes WHERE id = ?");
    if (!st) return std::nullopt;
    bind_text(st->get(), 1, id);
    if (sqlite3_step(st->get()) != SQLITE_ROW) return std::nullopt;
    PushRecord p;
    p.id = id;
    p.op = column_text(st->get(), 0);
    p.revision = sqlite3_column_int64(st->get(), 1);
    p.finished = sqlite3_column_int(st->get(), 2) != 0;
    p.created_ms = sqlite3_column_int64(st->get(), 3);
    auto edges = Statement::prepare(
        db_, "SELECT edge, site, phase, code, message, diff FROM push_edges WHERE push_id = ? ORDER BY idx");
    if (!edges) return std::nullopt;
    bind_text(edges->get(), 1, id);
    while (sqlite3_step(edges->get()) == SQLITE_ROW) {
        p.edges.push_back({column_text(edges->get(), 0), column_text(edges->get(), 1), column_text(edges->get(), 2),
                           column_text(edges->get(), 3), column_text(edges->get(), 4), column_text(edges->get(), 5)});
    }
    return p;
}

std::size_t PushStore::finish_interrupted(std::string_view code, std::string_view message) {
    const std::string waiting_edges = std::string("UPDATE push_edges SET code = ?, message = ? WHERE phase NOT IN ") +
                                      kFinalPhases + " AND push_id IN (SELECT id FROM pushes WHERE finished = 0)";
    auto edges = Statement::prepare(db_, waiting_edges.c_str());
    auto orders = Statement::prepare(db_, "UPDATE pushes SET finished = 1 WHERE finished = 0");
    if (!edges || !orders) return 0;
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return 0;
    bind_text(edges->get(), 1, code);
    bind_text(edges->get(), 2, message);
    if (sqlite3_step(edges->get()) != SQLITE_DONE || sqlite3_step(orders->get()) != SQLITE_DONE) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return 0;
    }
    const auto finished = static_cast<std::size_t>(sqlite3_changes(db_));
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return 0;
    return finished;
}

}  // namespace ib::store
