#include "core/log.hpp"

namespace ib::log {

bool set_level(const std::string& level) {
    auto l = spdlog::level::from_str(level);
    if (l == spdlog::level::off && level != "off") return false;
    spdlog::set_level(l);
    return true;
}

namespace detail {
bool allow_once_per_second(std::atomic<int64_t>& last_ms) {
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    int64_t last = last_ms.load(std::memory_order_relaxed);
    if (now - last < 1000) return false;
    return last_ms.compare_exchange_strong(last, now, std::memory_order_relaxed);
}
}  // namespace detail

}  // namespace ib::log
