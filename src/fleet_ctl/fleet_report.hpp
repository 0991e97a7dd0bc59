// What `ironbridge fleet` prints: the table of every targeted edge's result at
// the end of a push, rollback or dry run (and the exit code it implies), the
// progress bar while waiting, and the list of edges. Pure text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fleet_ctl/fleet_messages.hpp"

namespace ib::fleet_ctl {

// One targeted edge's outcome: its last phase (done, failed, rolled_back, or a
// phase on the way when the wait ended: then `code` is "timeout").
struct EdgeResult {
    std::string key;  // site/edge
    std::string phase = "sent";
    std::string code;
    std::string message;  // the reason or the errors

    bool final() const { return phase == "done" || phase == "failed" || phase == "rolled_back"; }
};

// How many ended each way; `waiting`: no final phase yet.
struct ResultCounts {
    std::size_t done = 0, failed = 0, rolled_back = 0, waiting = 0;
};
ResultCounts count_results(const std::vector<EdgeResult>& results);

// EDGE / PHASE / CODE / MESSAGE, one row per edge in the order given, then a
// line "3 done, 1 failed, 0 rolled back, 1 without an answer".
std::string result_table(const std::vector<EdgeResult>& results);
// 0 when every edge is done; 1 otherwise.
int exit_code_of(const std::vector<EdgeResult>& results);
// "[#########-----------] 9/20 done, 1 failed, 10 waiting" (`width` bar cells).
std::string progress_line(const std::vector<EdgeResult>& results, int width = 30);
// EDGE / ONLINE / REVISION / HEALTH / LAST APPLY / SEEN: every edge a state
// message named, sorted by site and edge; `now_ms` for the age.
std::string edge_table(const std::vector<EdgeState>& edges, int64_t now_ms);

}  // namespace ib::fleet_ctl
