// Typed settings of the local history (the `history.*` rows of the settings
// table), filled by the config module. Header-only and free of SQLite and Asio
// so config can include it without pulling either into every translation unit.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ib::store {

struct HistoryConfig {
    // The app decides whether to start the history; History itself ignores this.
    bool enabled = true;
    // Readings subscribed to; each message is the JSON of DESIGN.md. Empty
    // until the app fills in <bus.prefix>/data/#, unless a filter was set.
    std::string topic;
    // Ages past which data is deleted, measured from the wall clock against
    // each point's own `ts`.
    std::chrono::hours raw_retention{24};
    std::chrono::days minute_retention{30};
    std::chrono::days hour_retention{365};
    // Pages in use in history.db; beyond it the oldest data goes first.
    int64_t max_bytes = 1073741824;
    // Buffered readings are written in one transaction this often.
    std::chrono::milliseconds commit_interval{200};
    // The writer thread at idle priority (SCHED_IDLE), so its bursts never
    // delay the broker's loops. While anything else keeps the cores busy it
    // gets next to no CPU: once it has left work waiting this long, a rescuer
    // thread at normal priority does its work for a while (not a setting;
    // tests shorten it).
    bool idle_priority = true;
    std::chrono::milliseconds rescue_after{1000};
};

}  // namespace ib::store
