// Logging: spdlog behind a few names, so a line below the level costs a branch
// and no formatting. `limited_warn` keeps a flood of identical events (a full
// queue, a misbehaving client) to one line per second per call site. Lines are
// text or JSON (log.format), with a syslog priority prefix when the journal reads them.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace ib::log {

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;

// Sets the level from its name; false when the name is unknown.
bool set_level(const std::string& level);

// How each line is written: "text" (time, level, message) or "json" (one object
// per line: time, level, module, message, fields, for Loki or Fluent Bit). When
// stdout is the journal's stream (JOURNAL_STREAM names it, as systemd sets it),
// each line starts with its syslog priority, "<6>", so the journal keeps the
// level. False when the format is unknown.
bool set_format(const std::string& format);

// One line kept for the console's Logs page.
struct RecentLine {
    int64_t unix_ms = 0;
    spdlog::level::level_enum level = spdlog::level::info;
    std::string text;  // the message, without time or level
};

// Keeps the last `capacity` lines logged (at the logger's level or above) in
// memory, from now on, for recent_lines(). Call once at start-up, before
// other threads log.
void keep_recent_lines(size_t capacity);
// The kept lines at `min_level` or above whose module (the message's first
// word: "bridge", "device", "api") is `module` when it is not empty; the
// newest `limit`, oldest first. Thread-safe.
std::vector<RecentLine> recent_lines(spdlog::level::level_enum min_level, std::string_view module, size_t limit);
// "bridge" for "bridge 'cloud': connected", "api" for "api: listening"; "" when the
// line does not start with a short plain lowercase word (the module's name).
std::string_view module_of(std::string_view text);

namespace detail {
bool allow_once_per_second(std::atomic<int64_t>& last_ms);
}

}  // namespace ib::log

// A macro so that each call site has its own one-line-per-second budget.
#define IB_LOG_LIMITED_WARN(...)                                                   \
    do {                                                                           \
        static std::atomic<int64_t> ib_log_last_ms_{0};                            \
        if (::ib::log::detail::allow_once_per_second(ib_log_last_ms_)) {           \
            ::spdlog::warn(__VA_ARGS__);                                           \
        }                                                                          \
    } while (0)
