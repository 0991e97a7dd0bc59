#include "net/loop_pool.hpp"

#include "net/loop_check.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <pthread.h>

#include <string>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace ib::net {

namespace {
thread_local int t_loop_index = -1;
}

LoopPool::LoopPool(std::size_t threads) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    for (std::size_t i = 0; i < threads; ++i) {
        // Concurrency hint 1: each context is run by exactly one thread, so Asio
        // may skip its internal locking.
        loops_.push_back(std::make_unique<boost::asio::io_context>(1));
    }
}

LoopPool::~LoopPool() {
    stop();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

boost::asio::io_context& LoopPool::loop(std::size_t i) { return *loops_.at(i); }

void LoopPool::run() {
    std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards;
    for (auto& l : loops_) guards.push_back(boost::asio::make_work_guard(*l));
    set_pool_running(true);
    for (std::size_t i = 1; i < loops_.size(); ++i) {
        threads_.emplace_back([this, i] {
            // Named so that top -H and /proc/<pid>/task show each loop's share
            // (loop 0 is the main thread, which keeps the program's name).
            const std::string name = "ib-loop-" + std::to_string(i);
            pthread_setname_np(pthread_self(), name.c_str());
            t_loop_index = static_cast<int>(i);
            loops_[i]->run();
        });
    }
    t_loop_index = 0;
    loops_[0]->run();
    t_loop_index = -1;
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
    set_pool_running(false);
}

void LoopPool::stop() {
    for (auto& l : loops_) l->stop();
}

int LoopPool::current_index() { return t_loop_index; }

}  // namespace ib::net
