// Which event loop runs what: the one place that says it (ARCHITECTURE.md
// "Loops with roles"). Broker shards come first and only route and serve
// network clients; the service loops after them run the in-process parts, so
// a busy device, rule or history never delays an MQTT client's packets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace ib::app {

enum class Role : uint8_t { Devices, Rules, Bridges, History, Api };
inline constexpr std::size_t kRoleCount = 5;
std::string_view role_name(Role r);

struct Placement {
    std::size_t shards = 1;         // loops [0, shards): broker shards
    std::size_t service_loops = 1;  // loops [shards, shards + service_loops)
    std::array<std::size_t, kRoleCount> loop_of{};

    std::size_t total() const { return shards + service_loops; }
    std::size_t loop(Role r) const { return loop_of[static_cast<std::size_t>(r)]; }
    // "loops 0-1: broker shards; loop 2: devices, api; loop 3: rules, bridges, history"
    std::string describe() const;
};

// `shards` and `service_loops` as configured (0: sized from `cores`).
Placement plan_placement(std::size_t shards, std::size_t service_loops, std::size_t cores);

// The CPU cores this process can use: the CPUs of its affinity mask (taskset,
// a cpuset), fewer when its cgroup or one above it caps its CPU time (cgroup
// v2 cpu.max, the quota per period rounded up: a container limited to 1.5
// CPUs plans for 2 however many the node has). At least 1.
std::size_t usable_cores();
// The cores a cgroup v2 cpu.max buys ("150000 100000": 2), rounded up; 0 when
// it sets no limit ("max 100000") or cannot be read.
std::size_t cores_of_cpu_max(std::string_view text);

// Runs each step on its loop, one after the other (a step starts once the one
// before it has returned), then `done` on the last step's loop.
using LoopStep = std::pair<boost::asio::io_context*, std::function<void()>>;
void run_in_turn(std::vector<LoopStep> steps, std::function<void()> done);

}  // namespace ib::app
