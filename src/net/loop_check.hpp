// Debug builds check the rule that holds the process together: a component's
// state is touched only on the event loop the placement table handed it
// (src/app/placement.hpp). Release builds compile the check away.
#pragma once

#include "core/assert.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::net {

// Whether the calling thread is the one running `loop`, or no LoopPool runs at
// all (set-up before the loops start and tear-down after they stop are single
// threaded, so everything may be touched then).
bool running_on(boost::asio::io_context& loop);

// Kept by LoopPool::run.
void set_pool_running(bool running);

}  // namespace ib::net

#ifdef NDEBUG
#define IB_ASSERT_ON_LOOP(loop) ((void)0)
#else
#define IB_ASSERT_ON_LOOP(loop) \
    IB_ASSERT(::ib::net::running_on(loop), "a component is called only on the event loop it was placed on")
#endif
