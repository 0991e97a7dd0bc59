// The wall clock as the bus and the stores write it: Unix milliseconds, the `ts`
// of a reading and the time kept in SQLite rows. One definition so every module
// agrees on the epoch and the unit; durations and timers use steady_clock instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace ib {

// Milliseconds since 1970-01-01T00:00:00Z (system_clock: it jumps with the
// system time, so never subtract two of these to time something).
inline int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// RFC 3339 in UTC with milliseconds, "2026-12-05T14:55:00.123Z": how the API
// writes a wall-clock time for people and browsers.
inline std::string rfc3339_utc(int64_t ms) {
    const int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    const auto t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];  // room for any int the fields could hold, so no truncation is possible
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms - secs * 1000));
    return buf;
}

}  // namespace ib
