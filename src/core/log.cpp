#include "core/log.hpp"

#include <spdlog/sinks/base_sink.h>

#include <deque>
#include <memory>
#include <mutex>

namespace ib::log {

bool set_level(const std::string& level) {
    auto l = spdlog::level::from_str(level);
    if (l == spdlog::level::off && level != "off") return false;
    spdlog::set_level(l);
    return true;
}

namespace {

// A sink that keeps the last lines in a ring. spdlog's base_sink takes the
// mutex around sink_it_, and recent_lines() takes the same one.
class RecentSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit RecentSink(size_t capacity) : capacity_(capacity) {}

    std::vector<RecentLine> lines(spdlog::level::level_enum min_level, std::string_view module, size_t limit) {
        std::lock_guard lock(mutex_);
        std::vector<RecentLine> out;
        for (auto it = lines_.rbegin(); it != lines_.rend() && out.size() < limit; ++it) {
            if (it->level < min_level) continue;
            if (!module.empty() && module_of(it->text) != module) continue;
            out.push_back(*it);
        }
        return {out.rbegin(), out.rend()};
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        if (lines_.size() == capacity_) lines_.pop_front();
        lines_.push_back(RecentLine{
            std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count(), msg.level,
            std::string(msg.payload.data(), msg.payload.size())});
    }
    void flush_() override {}

private:
    size_t capacity_;
    std::deque<RecentLine> lines_;
};

std::shared_ptr<RecentSink> recent_sink;

}  // namespace

void keep_recent_lines(size_t capacity) {
    if (recent_sink) return;
    recent_sink = std::make_shared<RecentSink>(capacity);
    spdlog::default_logger()->sinks().push_back(recent_sink);
}

std::vector<RecentLine> recent_lines(spdlog::level::level_enum min_level, std::string_view module, size_t limit) {
    return recent_sink ? recent_sink->lines(min_level, module, limit) : std::vector<RecentLine>{};
}

std::string_view module_of(std::string_view text) {
    const size_t end = text.find_first_of(" :'");
    return text.substr(0, end);
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
