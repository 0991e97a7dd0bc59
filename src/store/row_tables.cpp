#include "store/row_tables.hpp"

#include <sqlite3.h>

#include <map>
#include <mutex>
#include <vector>

#include "store/sqlite_file.hpp"

namespace ib::store {

bool valid_table_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
    if (!alpha(name[0])) return false;
    for (char c : name) {
        if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
    }
    // SQLite keeps its own tables under this prefix.
    return !(name.size() >= 7 && std::string_view(name.substr(0, 7)) == "sqlite_");
}

namespace {

constexpr std::size_t kMaxPending = 100'000;

struct Pending {
    std::string table;
    uint64_t max_rows;
    std::string rule;
    int64_t ts_ms;
    std::string row;
};

}  // namespace

struct RowTables::Impl {
    std::string path;
    sqlite3* db = nullptr;
    // Guards pending, and writing's size: the writer reads its batch unlocked
    // and changes it only under the lock.
    mutable std::mutex mutex;
    std::vector<Pending> pending;  // appended on the loop
    std::vector<Pending> writing;  // the writer's batch
    struct Table {
        Statement insert;
        Statement trim;
    };
    std::map<std::string, Table, std::less<>> tables;

    ~Impl() {
        tables.clear();
        if (db != nullptr) sqlite3_close(db);
    }

    std::string error(std::string_view what) const { return path + ": " + std::string(what) + ": " + sqlite3_errmsg(db); }

    std::expected<Table*, std::string> table(const std::string& name) {
        if (auto it = tables.find(name); it != tables.end()) return &it->second;
        // The name was checked by valid_table_name, so quoting it is enough.
        const std::string create = "CREATE TABLE IF NOT EXISTS \"" + name +
                                   "\" (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, rule TEXT NOT NULL, row TEXT NOT NULL)";
        if (sqlite3_exec(db, create.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
            return std::unexpected(error("cannot create table " + name));
        }
        auto insert = Statement::prepare(db, ("INSERT INTO \"" + name + "\" (ts, rule, row) VALUES (?, ?, ?)").c_str());
        if (!insert) return std::unexpected(insert.error());
        auto trim = Statement::prepare(db, ("DELETE FROM \"" + name + "\" WHERE id <= (SELECT max(id) FROM \"" + name + "\") - ?").c_str());
        if (!trim) return std::unexpected(trim.error());
        Table t{std::move(*insert), std::move(*trim)};
        return &tables.emplace(name, std::move(t)).first->second;
    }
};

RowTables::RowTables(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RowTables::~RowTables() = default;

std::expected<std::unique_ptr<RowTables>, std::string> RowTables::open(const std::string& path) {
    auto file = open_or_move_aside(path, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    if (!file) return std::unexpected(file.error());
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->db = file->db;
    return std::unique_ptr<RowTables>(new RowTables(std::move(impl)));
}

bool RowTables::append(std::string_view table, uint64_t max_rows, std::string_view rule, int64_t ts_ms, std::string_view row) {
    Pending p{std::string(table), max_rows, std::string(rule), ts_ms, std::string(row)};
    std::lock_guard lock(impl_->mutex);
    if (impl_->pending.size() + impl_->writing.size() >= kMaxPending) return false;
    impl_->pending.push_back(std::move(p));
    return true;
}

std::expected<std::size_t, std::string> RowTables::commit() {
    Impl& s = *impl_;
    {
        // A batch that failed before stays first; what came since follows it.
        std::lock_guard lock(s.mutex);
        s.writing.insert(s.writing.end(), std::make_move_iterator(s.pending.begin()),
                         std::make_move_iterator(s.pending.end()));
        s.pending.clear();
    }
    if (s.writing.empty()) return 0;
    if (sqlite3_exec(s.db, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) return std::unexpected(s.error("cannot begin"));
    std::map<std::string, uint64_t, std::less<>> touched;
    for (const Pending& p : s.writing) {
        auto t = s.table(p.table);
        if (!t) {
            sqlite3_exec(s.db, "ROLLBACK", nullptr, nullptr, nullptr);
            return std::unexpected(t.error());
        }
        sqlite3_stmt* st = (*t)->insert.get();
        sqlite3_bind_int64(st, 1, p.ts_ms);
        sqlite3_bind_text(st, 2, p.rule.data(), static_cast<int>(p.rule.size()), SQLITE_STATIC);
        sqlite3_bind_text(st, 3, p.row.data(), static_cast<int>(p.row.size()), SQLITE_STATIC);
        const int rc = sqlite3_step(st);
        (*t)->insert.reset();
        if (rc != SQLITE_DONE) {
            std::string why = s.error("cannot insert into " + p.table);
            sqlite3_exec(s.db, "ROLLBACK", nullptr, nullptr, nullptr);
            return std::unexpected(why);
        }
        touched[p.table] = p.max_rows;
    }
    for (const auto& [name, max_rows] : touched) {
        Impl::Table& t = s.tables.find(name)->second;
        sqlite3_bind_int64(t.trim.get(), 1, static_cast<int64_t>(max_rows));
        sqlite3_step(t.trim.get());
        t.trim.reset();
    }
    if (sqlite3_exec(s.db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
        std::string why = s.error("cannot commit");
        sqlite3_exec(s.db, "ROLLBACK", nullptr, nullptr, nullptr);
        return std::unexpected(why);
    }
    std::lock_guard lock(s.mutex);
    const std::size_t n = s.writing.size();
    s.writing.clear();
    return n;
}

std::size_t RowTables::pending() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->pending.size() + impl_->writing.size();
}

}  // namespace ib::store
