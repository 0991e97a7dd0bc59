// A thread that runs SQLite writes handed to it, in order, so that no event
// loop waits for the disk; started at the first job. One per store that needs it; jobs capture what they
// write (a snapshot taken on the loop), never a reference into loop state.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace ib::store {

class WriterThread {
public:
    // `name` is the thread's name in top -H and /proc (at most 15 characters).
    explicit WriterThread(std::string name);
    // Runs what is queued, then ends the thread.
    ~WriterThread();
    WriterThread(const WriterThread&) = delete;
    WriterThread& operator=(const WriterThread&) = delete;

    // From any thread; jobs run one at a time, in the order submitted.
    void submit(std::function<void()> job);
    // Returns once every job submitted before the call has run (at shutdown).
    void drain();
    // Whether a job was ever submitted (the thread runs from then on).
    bool started();

private:
    void run();

    std::string name_;
    std::mutex mutex_;
    std::condition_variable wake_, idle_;
    std::deque<std::function<void()>> jobs_;
    bool busy_ = false;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace ib::store
