// Talks to the service manager that started us, when one did: systemd's notify
// protocol (sd_notify(3)) written directly, one datagram per state to the Unix
// socket $NOTIFY_SOCKET names ("@..." is the abstract namespace), so no library
// is linked for it. READY=1 once listeners are up, STOPPING=1 at shutdown, and
// WATCHDOG=1 every half of $WATCHDOG_USEC while every event loop still answers.
// Without $NOTIFY_SOCKET every call does nothing.
#pragma once

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace ib::app {

// From now on, SIGINT or SIGTERM (`signals`) ends the process at once with
// status 0, saying so on stderr: the shutdown already under way is cut short.
void exit_on_next_signal(std::initializer_list<int> signals);

class ServiceNotifier {
public:
    // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the watchdog is ours
    // only when WATCHDOG_PID is unset or names this process).
    static ServiceNotifier from_environment();
    ~ServiceNotifier();
    ServiceNotifier(ServiceNotifier&& other) noexcept;
    ServiceNotifier& operator=(ServiceNotifier&&) = delete;

    bool enabled() const { return fd_ >= 0; }
    // Sends "READY=1", "STOPPING=1", "STATUS=..." (newline-separated
    // assignments). A failed send is logged once and otherwise ignored: the
    // service manager going away must not stop the node.
    void notify(std::string_view state);
    // How often the manager expects WATCHDOG=1; zero when it expects nothing.
    std::chrono::microseconds watchdog_interval() const { return watchdog_; }

private:
    ServiceNotifier() = default;
    int fd_ = -1;
    std::vector<char> address_;  // a sockaddr_un, sized for its path
    std::chrono::microseconds watchdog_{0};
    bool failure_logged_ = false;
};

// Sends WATCHDOG=1 every half interval on `on`, each time after every loop of
// `loops` has run a no-op (net::probe_loops): a loop stuck in a handler stops
// the pings, and systemd restarts the node. Nothing when the interval is zero.
class Watchdog {
public:
    Watchdog(ServiceNotifier& notifier, boost::asio::io_context& on, std::vector<boost::asio::io_context*> loops);
    ~Watchdog();
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
    // On `on`'s thread; no ping is sent after it.
    void stop();

private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace ib::app
