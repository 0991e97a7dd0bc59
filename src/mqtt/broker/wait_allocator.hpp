// Memory for the readiness waits each connection keeps pending on its socket.
// Asio's default recycling allocator hands a new wait whatever block the thread
// freed last, usually the larger one of the accept that created the connection,
// and an idle connection then keeps that block for its whole life. Waits
// allocated here get a block of their own size from a per-thread free list: as
// cheap as the recycling (no malloc in steady state), and no bigger than needed.
#pragma once

#include <array>
#include <cstddef>
#include <new>
#include <utility>

namespace ib::mqtt::broker {

class WaitBlocks {
public:
    static void* allocate(std::size_t size) {
        const std::size_t c = size_class(size);
        if (c < kClasses && alive) {
            Lists& l = lists();
            if (void* p = l.head[c]) {
                l.head[c] = *static_cast<void**>(p);
                --l.free[c];
                return p;
            }
            return ::operator new(block_size(c));
        }
        return ::operator new(size);
    }

    static void deallocate(void* p, std::size_t size) noexcept {
        const std::size_t c = size_class(size);
        // Blocks are plain operator new blocks, so any thread may free them; a
        // thread keeps a bounded number for reuse (the waits of one loop turn).
        if (c < kClasses && alive) {
            Lists& l = lists();
            if (l.free[c] < kMaxFree) {
                *static_cast<void**>(p) = l.head[c];
                l.head[c] = p;
                ++l.free[c];
                return;
            }
        }
        ::operator delete(p);
    }

private:
    // glibc (64-bit) hands out chunks of 16·k bytes with an 8-byte header, so
    // a block of 16·k + 8 bytes fills its chunk exactly: the 72-byte wait of a
    // connection takes an 80-byte chunk, where rounding the request up to 80
    // would take 96.
    static constexpr std::size_t kClasses = 16;  // blocks up to 248 bytes
    static constexpr std::size_t kMaxFree = 256;
    static std::size_t size_class(std::size_t size) { return (size + 7) / 16; }
    static std::size_t block_size(std::size_t c) { return 16 * c + 8; }

    struct Lists {
        std::array<void*, kClasses> head{};
        std::array<std::size_t, kClasses> free{};
        ~Lists() {
            alive = false;  // waits destroyed later on this thread go to operator delete
            for (void* p : head) {
                while (p) {
                    void* next = *static_cast<void**>(p);
                    ::operator delete(p);
                    p = next;
                }
            }
        }
    };
    static Lists& lists() {
        thread_local Lists l;
        return l;
    }
    static inline thread_local bool alive = true;
};

// The allocator Asio finds through a handler's get_allocator().
template <typename T>
struct WaitAllocator {
    using value_type = T;
    WaitAllocator() noexcept = default;
    template <typename U>
    WaitAllocator(const WaitAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(WaitBlocks::allocate(n * sizeof(T))); }
    void deallocate(T* p, std::size_t n) noexcept { WaitBlocks::deallocate(p, n * sizeof(T)); }
    template <typename U>
    bool operator==(const WaitAllocator<U>&) const noexcept {
        return true;
    }
};

// A wait's completion handler with its memory from WaitBlocks.
template <typename Handler>
struct WaitHandler {
    using allocator_type = WaitAllocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
    Handler handler;
    template <typename... Args>
    void operator()(Args&&... args) {
        handler(std::forward<Args>(args)...);
    }
};

template <typename Handler>
WaitHandler<Handler> with_wait_blocks(Handler h) {
    return WaitHandler<Handler>{std::move(h)};
}

}  // namespace ib::mqtt::broker
