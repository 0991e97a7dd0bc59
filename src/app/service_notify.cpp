#include "app/service_notify.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "core/log.hpp"
#include "net/loop_probe.hpp"

namespace ib::app {
namespace {

// A decimal environment variable, or nothing when unset or not a number.
std::optional<uint64_t> env_number(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    uint64_t n = 0;
    const char* end = v + std::strlen(v);
    auto [p, ec] = std::from_chars(v, end, n);
    if (ec != std::errc{} || p != end) return std::nullopt;
    return n;
}

// Only async-signal-safe calls (signal-safety(7)): write and _exit.
extern "C" void exit_at_once(int) {
    static constexpr char kMessage[] = "ironbridge: signal received again, exiting at once\n";
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(0);
}

}  // namespace

void exit_on_next_signal(std::initializer_list<int> signals) {
    struct sigaction action {};
    action.sa_handler = exit_at_once;
    sigemptyset(&action.sa_mask);
    for (int s : signals) ::sigaction(s, &action, nullptr);
}

ServiceNotifier ServiceNotifier::from_environment() {
    ServiceNotifier n;
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (path == nullptr) return n;
    const std::size_t len = std::strlen(path);
    sockaddr_un addr{};
    // A path must leave room for its terminating NUL; an abstract name does not need one.
    if (len < 2 || (path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path) {
        log::warn("systemd: NOTIFY_SOCKET '{}' is not a socket path or @name; not notifying", path);
        return n;
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path, len);
    if (path[0] == '@') addr.sun_path[0] = '\0';  // unix(7): the abstract namespace
    const std::size_t addr_len = offsetof(sockaddr_un, sun_path) + len + (path[0] == '/' ? 1 : 0);
    const char* bytes = reinterpret_cast<const char*>(&addr);
    n.address_.assign(bytes, bytes + addr_len);
    n.fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (n.fd_ < 0) {
        log::warn("systemd: cannot create the notify socket: {}", std::strerror(errno));
        return n;
    }
    // sd_watchdog_enabled(3): the watchdog is ours unless WATCHDOG_PID names another process.
    auto usec = env_number("WATCHDOG_USEC");
    auto pid = env_number("WATCHDOG_PID");
    if (usec && *usec > 0 && (!pid || *pid == static_cast<uint64_t>(::getpid()))) {
        n.watchdog_ = std::chrono::microseconds(*usec);
    }
    return n;
}

ServiceNotifier::ServiceNotifier(ServiceNotifier&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      address_(std::move(other.address_)),
      watchdog_(other.watchdog_),
      failure_logged_(other.failure_logged_) {}

ServiceNotifier::~ServiceNotifier() {
    if (fd_ >= 0) ::close(fd_);
}

void ServiceNotifier::notify(std::string_view state) {
    if (fd_ < 0) return;
    const ssize_t sent = ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                                  reinterpret_cast<const sockaddr*>(address_.data()),
                                  static_cast<socklen_t>(address_.size()));
    if (sent < 0 && !failure_logged_) {
        failure_logged_ = true;
        log::warn("systemd: cannot notify the service manager: {}", std::strerror(errno));
    }
}

struct Watchdog::State {
    State(ServiceNotifier& notifier, boost::asio::io_context& on, std::vector<boost::asio::io_context*> loops)
        : notifier(notifier), on(on), timer(std::make_unique<boost::asio::steady_timer>(on)), loops(std::move(loops)) {}

    void schedule(std::shared_ptr<State> self) {
        if (stopped) return;
        timer->expires_after(notifier.watchdog_interval() / 2);
        timer->async_wait([self](const boost::system::error_code& ec) {
            if (ec || self->stopped) return;
            // Within the half interval left before systemd's deadline.
            const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(
                self->notifier.watchdog_interval() / 2);
            net::probe_loops(self->loops, self->on, limit, [self](std::size_t answered) {
                if (self->stopped) return;
                if (answered == self->loops.size()) {
                    self->notifier.notify("WATCHDOG=1");
                } else {
                    log::error("systemd: {} of {} event loops did not answer; watchdog ping withheld",
                               self->loops.size() - answered, self->loops.size());
                }
                self->schedule(self);
            });
        });
    }

    ServiceNotifier& notifier;
    boost::asio::io_context& on;
    // Released by stop(), on its loop: a probe's answer may hold this state in
    // another loop's queue when the pool is torn down, after `on` is gone.
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::vector<boost::asio::io_context*> loops;
    bool stopped = false;
};

Watchdog::Watchdog(ServiceNotifier& notifier, boost::asio::io_context& on,
                   std::vector<boost::asio::io_context*> loops) {
    if (notifier.watchdog_interval().count() == 0) return;
    state_ = std::make_shared<State>(notifier, on, std::move(loops));
    state_->schedule(state_);
}

Watchdog::~Watchdog() { stop(); }

void Watchdog::stop() {
    if (!state_) return;
    state_->stopped = true;
    state_->timer.reset();  // cancels the pending wait
}

}  // namespace ib::app
