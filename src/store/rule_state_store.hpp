// The rule engine's checkpoints (data_dir/rules-state.db): one row per stateful
// rule, its window and change-detection state as bytes, under the fingerprint
// of the SQL and options it belongs to. Written on the rules' writer thread;
// read once per rule at start-up, before the loops run.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "store/sqlite_file.hpp"

namespace ib::store {

class RuleStateStore {
public:
    // Opens or creates `path`; an unreadable file is moved aside (logged) and
    // an empty one started.
    static std::expected<RuleStateStore, std::string> open(const std::string& path);
    RuleStateStore() = default;
    RuleStateStore(RuleStateStore&& o) noexcept;
    RuleStateStore& operator=(RuleStateStore&& o) noexcept;
    ~RuleStateStore();

    // (fingerprint, state) of a rule, if it has a checkpoint.
    std::optional<std::pair<std::string, std::string>> load(std::string_view id);

    // One transaction for every dirty rule.
    bool begin();
    bool commit();
    void rollback();
    bool put(std::string_view id, const std::string& fp, const std::string& state, int64_t now_ms);
    void erase(std::string_view id);

    std::string error() const;

private:
    std::string path_;
    sqlite3* db_ = nullptr;
    Statement upsert_;
    Statement remove_;
};

}  // namespace ib::store
