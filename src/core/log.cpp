#include "core/log.hpp"

#include <spdlog/sinks/base_sink.h>

#include <deque>
#include <memory>
#include <mutex>
#include <spdlog/pattern_formatter.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "core/json_writer.hpp"

namespace ib::log {
namespace {

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v";

// systemd.journal-fields(7) PRIORITY: the syslog levels, 7 (debug) to 2 (crit).
char syslog_priority(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace:
        case spdlog::level::debug: return '7';
        case spdlog::level::info: return '6';
        case spdlog::level::warn: return '4';
        case spdlog::level::err: return '3';
        default: return '2';
    }
}

// systemd.exec(7): JOURNAL_STREAM is "device:inode" of the stream connected to
// the journal; stdout (where spdlog's default logger writes) must be that one,
// not a file or a pipe the service redirected it to.
bool stdout_is_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
    struct stat st {};
    if (fstat(STDOUT_FILENO, &st) != 0) return false;
    return st.st_dev == dev && st.st_ino == ino;
}

class LineFormatter final : public spdlog::formatter {
public:
    LineFormatter(bool json, bool journal) : json_(json), journal_(journal), text_(kTextPattern) {}

    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        if (journal_) {
            const char prefix[] = {'<', syslog_priority(msg.level), '>'};
            dest.append(prefix, prefix + sizeof prefix);
        }
        if (!json_) return text_.format(msg, dest);
        line_.clear();
        const std::string_view message(msg.payload.data(), msg.payload.size());
        const std::string_view module = module_of(message);
        const auto level = spdlog::level::to_string_view(msg.level);
        JsonWriter w(line_);
        w.begin_object();
        w.field("time", std::string_view(timestamp(msg.time)));
        w.field("level", std::string_view(level.data(), level.size()));
        w.field("module", module);
        // "api: listening on ..." keeps its text after the module's colon;
        // "bridge 'cloud': connected" keeps all of it.
        const std::string_view rest = message.substr(module.size());
        w.field("message", rest.starts_with(": ") ? rest.substr(2) : message);
        w.key("fields").begin_object().field("thread", static_cast<uint64_t>(msg.thread_id)).end_object();
        w.end_object();
        line_.push_back('\n');
        dest.append(line_.data(), line_.data() + line_.size());
    }

    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<LineFormatter>(json_, journal_);
    }

private:
    // RFC 3339 in UTC with milliseconds: "2026-12-05T14:55:01.123Z".
    const char* timestamp(spdlog::log_clock::time_point t) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
        const std::time_t secs = static_cast<std::time_t>(ms / 1000);
        std::tm tm{};
        gmtime_r(&secs, &tm);
        const auto end = fmt::format_to_n(time_, sizeof time_ - 1, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                          tm.tm_sec, ms % 1000);
        *end.out = '\0';
        return time_;
    }

    bool json_;
    bool journal_;
    spdlog::pattern_formatter text_;
    std::string line_;  // reused: a sink formats one line at a time, under its lock
    char time_[32] = {};
};

}  // namespace

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
    if (end == 0 || end == std::string_view::npos || end > 24) return {};
    for (char c : text.substr(0, end)) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!plain) return {};
    }
    return text.substr(0, end);
}

bool set_format(const std::string& format) {
    if (format != "text" && format != "json") return false;
    spdlog::set_formatter(std::make_unique<LineFormatter>(format == "json", stdout_is_journal()));
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
