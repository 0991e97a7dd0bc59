// The audit log: every change made through the API, who made it, from where,
// and the resource before and after (data_dir/audit.db). Capped by entries and
// by bytes, the oldest deleted first. Appends and queries run on a writer
// thread of its own, so no event loop waits for the disk; results come back
// through a callback on that thread. Knows nothing of HTTP.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ib::store {

struct AuditEntry {
    int64_t id = 0;  // given by the log, increasing
    int64_t time_ms = 0;
    std::string user;  // "" for anonymous
    std::string role;
    std::string remote;
    std::string method;
    std::string path;
    unsigned status = 0;
    std::string before;  // JSON, "" for null
    std::string after;

    // What the entry counts towards the byte cap: its text.
    uint64_t size() const {
        return user.size() + role.size() + remote.size() + method.size() + path.size() + before.size() + after.size();
    }
};

struct AuditLimits {
    uint64_t max_rows = 100'000;
    uint64_t max_bytes = 64ull << 20;
};

class AuditLog {
public:
    using Entries = std::expected<std::vector<AuditEntry>, std::string>;

    // Opens or creates the file (one that is not a database is moved aside).
    static std::expected<std::unique_ptr<AuditLog>, std::string> open(const std::string& path, AuditLimits limits);
    // The same, on the writer thread, so the caller does not wait for the disk
    // (creating the file costs several fdatasyncs): appends and queries made
    // meanwhile queue behind the opening, none is lost. Its outcome is logged: a
    // file moved aside, or one that cannot be opened, after which every append
    // is logged and counted in failures() and every query answers the error.
    static std::unique_ptr<AuditLog> open_in_background(const std::string& path, AuditLimits limits);
    // Runs what is queued, then closes the file.
    ~AuditLog();
    AuditLog(const AuditLog&) = delete;
    AuditLog& operator=(const AuditLog&) = delete;

    // From any thread; written in order on the writer thread. A failed write is
    // logged and counted, never retried (the change itself is already made).
    void append(AuditEntry entry);
    // Newest first: at most `limit` entries, with ids below `before` when given.
    // `done` runs on the writer thread, after every append submitted before.
    void query(uint32_t limit, std::optional<int64_t> before, std::function<void(Entries)> done);
    // Returns once everything submitted so far has run (tests, shutdown).
    void drain();

    uint64_t failures() const;
    // After open() only (open_in_background logs it instead).
    std::string recovered_from() const;

private:
    struct Impl;
    explicit AuditLog(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ib::store
