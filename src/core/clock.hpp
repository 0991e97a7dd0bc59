// The wall clock as the bus and the stores write it: Unix milliseconds, the `ts`
// of a reading and the time kept in SQLite rows. One definition so every module
// agrees on the epoch and the unit; durations and timers use steady_clock instead.
#pragma once

#include <chrono>
#include <cstdint>

namespace ib {

// Milliseconds since 1970-01-01T00:00:00Z (system_clock: it jumps with the
// system time, so never subtract two of these to time something).
inline int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace ib
