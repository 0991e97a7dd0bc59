#include "store/writer_thread.hpp"

#include <pthread.h>

namespace ib::store {

WriterThread::WriterThread(std::string name) : name_(std::move(name)) {}

WriterThread::~WriterThread() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void WriterThread::submit(std::function<void()> job) {
    {
        std::lock_guard lock(mutex_);
        jobs_.push_back(std::move(job));
        // Started by the first job: a store that never writes (files, the
        // rules' tables in a node without such rules) costs no thread.
        if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    }
    wake_.notify_one();
}

void WriterThread::drain() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return jobs_.empty() && !busy_; });
}

bool WriterThread::started() {
    std::lock_guard lock(mutex_);
    return thread_.joinable();
}

void WriterThread::run() {
    pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) break;  // stopping, and nothing left
        auto job = std::move(jobs_.front());
        jobs_.pop_front();
        busy_ = true;
        lock.unlock();
        job();
        lock.lock();
        busy_ = false;
        if (jobs_.empty()) idle_.notify_all();
    }
    idle_.notify_all();
}

}  // namespace ib::store
