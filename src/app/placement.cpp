#include "app/placement.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <memory>
#include <thread>

namespace ib::app {
namespace {

// The service loop each role prefers, clamped to the loops there are: with one
// service loop everything shares it; with two, devices and the API (which
// mostly talks to them) keep one and the consumers of readings take the
// other; each further loop gives the next heaviest consumer its own.
constexpr std::array<std::size_t, kRoleCount> kPreferredServiceLoop = {
    0,  // Devices: polling, scaling, building the reading JSON
    1,  // Rules: parsing and evaluating every reading they select
    3,  // Bridges: the outbox and the upstream link
    2,  // History: parsing readings, buffering points
    0,  // Api: REST calls, most of them to the devices
};

constexpr std::array<std::string_view, kRoleCount> kRoleNames = {"devices", "rules", "bridges", "history", "api"};

// Broker shards for a machine with `cores` cores, when not configured. Up to
// two cores, one: the MQTT clients on the box, the service loop and the
// writer threads need the other core, and a delivery between two clients of
// different shards waits for the other shard to wake up. On two cores one
// shard reached 0.62-0.72x the minimal forwarder in (a) and (b) where two
// reached 0.33-0.59x, and (e)'s p999 went from 6x the forwarder's to 1-1.5x
// (BENCHMARKS.md, "One shard on two cores").
std::size_t default_shards(std::size_t cores) { return cores <= 2 ? 1 : cores; }

// Service loops for a machine with `cores` cores, when not configured.
std::size_t default_service_loops(std::size_t cores) {
    if (cores <= 2) return 1;
    if (cores <= 4) return 2;
    if (cores <= 8) return 3;
    return 4;
}

}  // namespace

std::string_view role_name(Role r) { return kRoleNames[static_cast<std::size_t>(r)]; }

std::size_t cores_of_cpu_max(std::string_view text) {
    const auto space = text.find(' ');
    if (space == std::string_view::npos) return 0;
    auto number = [](std::string_view s) -> uint64_t {
        uint64_t v = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        return ec == std::errc{} && end != s.data() ? v : 0;
    };
    const uint64_t quota = number(text.substr(0, space));  // "max": 0, no limit
    std::string_view rest = text.substr(space + 1);
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == ' ')) rest.remove_suffix(1);
    const uint64_t period = number(rest);
    if (quota == 0 || period == 0) return 0;
    return static_cast<std::size_t>((quota + period - 1) / period);
}

namespace {
std::string read_small_file(const std::string& path) {
    std::ifstream in(path);
    std::string text;
    std::getline(in, text, '\0');
    return text;
}
}  // namespace

std::size_t usable_cores() {
    std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) cores = std::max(1, CPU_COUNT(&set));
    // This process's cgroup (v2: the line "0::/path"), then each one above it.
    const std::string own = read_small_file("/proc/self/cgroup");
    const auto at = own.find("0::");
    if (at == std::string::npos || (at != 0 && own[at - 1] != '\n')) return cores;
    std::string path = own.substr(at + 3, own.find('\n', at) - (at + 3));
    for (;;) {
        if (const std::size_t limit = cores_of_cpu_max(read_small_file("/sys/fs/cgroup" + path + "/cpu.max")); limit > 0)
            cores = std::min(cores, limit);
        if (path.empty() || path == "/") break;
        path.resize(std::min(path.rfind('/'), path.size()));  // "/a/b" -> "/a" -> "" (the root)
    }
    return std::max<std::size_t>(cores, 1);
}

Placement plan_placement(std::size_t shards, std::size_t service_loops, std::size_t cores) {
    cores = std::max<std::size_t>(cores, 1);
    Placement p;
    p.shards = shards == 0 ? default_shards(cores) : shards;
    p.service_loops = service_loops == 0 ? default_service_loops(cores) : service_loops;
    for (std::size_t r = 0; r < kRoleCount; ++r) {
        p.loop_of[r] = p.shards + std::min(kPreferredServiceLoop[r], p.service_loops - 1);
    }
    return p;
}

std::string Placement::describe() const {
    std::string out = shards == 1 ? "loop 0: broker shard" : "loops 0-" + std::to_string(shards - 1) + ": broker shards";
    for (std::size_t l = shards; l < total(); ++l) {
        out += "; loop " + std::to_string(l) + ":";
        bool first = true;
        for (std::size_t r = 0; r < kRoleCount; ++r) {
            if (loop_of[r] != l) continue;
            out += first ? " " : ", ";
            out += kRoleNames[r];
            first = false;
        }
        if (first) out += " (idle)";
    }
    return out;
}

namespace {
void run_step(std::shared_ptr<std::vector<LoopStep>> steps, std::size_t i, std::shared_ptr<std::function<void()>> done) {
    if (i == steps->size()) {
        (*done)();
        return;
    }
    boost::asio::post(*(*steps)[i].first, [steps, i, done] {
        (*steps)[i].second();
        run_step(steps, i + 1, done);
    });
}
}  // namespace

void run_in_turn(std::vector<LoopStep> steps, std::function<void()> done) {
    run_step(std::make_shared<std::vector<LoopStep>>(std::move(steps)), 0,
             std::make_shared<std::function<void()>>(std::move(done)));
}

}  // namespace ib::app
