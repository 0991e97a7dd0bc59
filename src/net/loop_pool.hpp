// One Asio event loop per thread, one thread per core: the shared-nothing
// execution model of the whole process. Knows no protocol. Callers that need
// Asio types include <boost/asio/io_context.hpp> themselves; this header does not.
#pragma once

#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace ib::net {

class LoopPool {
public:
    // threads == 0: one loop per hardware thread.
    explicit LoopPool(std::size_t threads);
    ~LoopPool();
    LoopPool(const LoopPool&) = delete;
    LoopPool& operator=(const LoopPool&) = delete;

    std::size_t size() const { return loops_.size(); }
    boost::asio::io_context& loop(std::size_t i);

    // Runs loops 1..N-1 on their own threads and loop 0 on the calling thread
    // until stop(); returns when every loop has stopped.
    void run();
    void stop();

    // Index of the loop the calling thread runs, or -1 off-loop.
    static int current_index();

private:
    std::vector<std::unique_ptr<boost::asio::io_context>> loops_;
    std::vector<std::thread> threads_;
};

}  // namespace ib::net
