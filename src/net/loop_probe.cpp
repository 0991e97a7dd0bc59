#include "net/loop_probe.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>

namespace ib::net {

namespace {
// Lives until the last answer comes back, even after a timeout answered first;
// touched only on `answer_on`, so it needs no lock. It holds no I/O object: the
// handlers that hold it may sit in other loops' queues when the pool is torn
// down, and a timer must not outlive its own loop. The timer is owned by its
// wait alone, in `answer_on`'s queue.
struct Probe {
    std::size_t expected = 0;
    std::size_t answered = 0;
    std::function<void(std::size_t)> done;
    std::weak_ptr<boost::asio::steady_timer> timer;

    void finish() {
        if (!done) return;
        if (auto t = timer.lock()) t->cancel();
        auto d = std::move(done);
        done = nullptr;
        d(answered);
    }
};
}  // namespace

void probe_loops(const std::vector<boost::asio::io_context*>& loops, boost::asio::io_context& answer_on,
                 std::chrono::milliseconds timeout, std::function<void(std::size_t answered)> done) {
    auto probe = std::make_shared<Probe>();
    probe->expected = loops.size();
    probe->done = std::move(done);
    if (loops.empty()) return probe->finish();
    auto timer = std::make_shared<boost::asio::steady_timer>(answer_on, timeout);
    probe->timer = timer;
    timer->async_wait([probe, timer](const boost::system::error_code& ec) {
        if (!ec) probe->finish();
    });
    for (auto* loop : loops) {
        boost::asio::post(*loop, [probe, &answer_on] {
            boost::asio::post(answer_on, [probe] {
                if (++probe->answered == probe->expected) probe->finish();
            });
        });
    }
}

}  // namespace ib::net
