// Whether the event loops still turn: a no-op posted to each, answered back on
// one loop, within a time limit. The liveness probe (GET /healthz/live) and the
// systemd watchdog ask it, so a loop stuck in a handler shows in both alike.
// Knows nothing of what the loops run.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace ib::net {

// Posts a no-op to every loop of `loops`; calls `done(answered)` on `answer_on`
// once every loop has run it, or when `timeout` passes with `answered` of them
// short of loops.size(). `done` is called exactly once. Call it on `answer_on`'s
// thread; the loops must outlive the answer (they do: the pool owns them all).
void probe_loops(const std::vector<boost::asio::io_context*>& loops, boost::asio::io_context& answer_on,
                 std::chrono::milliseconds timeout, std::function<void(std::size_t answered)> done);

}  // namespace ib::net
