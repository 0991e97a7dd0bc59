#include "net/loop_check.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>

#include <atomic>

namespace ib::net {

namespace {
std::atomic<int> g_pools_running{0};
}

void set_pool_running(bool running) { g_pools_running.fetch_add(running ? 1 : -1, std::memory_order_acq_rel); }

bool running_on(boost::asio::io_context& loop) {
    return g_pools_running.load(std::memory_order_acquire) == 0 || loop.get_executor().running_in_this_thread();
}

}  // namespace ib::net
