#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "rules/postgres_sink.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "rules/postgres_session.hpp"
#include "store/outbox_writer.hpp"
#include "store/writer_thread.hpp"

namespace ib::rules {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto kFirstRetry = 500ms;
constexpr auto kCommitRetry = 1s;

std::string thread_name(std::string_view prefix, std::string_view name) {
    return (std::string(prefix) + std::string(name)).substr(0, 15);
}

}  // namespace

struct PostgresSink::Impl {
    asio::io_context& io;
    PostgresTarget target;
    std::string name;
    Outcome outcome;
    std::unique_ptr<store::OutboxWriter> queue;

    // Committing: rows staged while a commit runs go in the next one, with the
    // acknowledgements of what PostgreSQL has taken since.
    store::StagedBatch staged;
    std::vector<uint64_t> acks;
    bool committing = false;
    asio::steady_timer commit_retry;

    // Sending: one page at a time, loaded from the queue after `sent_upto`,
    // then handed to the PostgreSQL thread until each of its rows is resolved.
    std::vector<store::OutboxEntry> page;
    uint64_t sent_upto = 0;
    bool loading = false;
    bool copying = false;
    bool waiting = false;  // for the retry timer, after a failure
    std::chrono::milliseconds retry_delay = kFirstRetry;
    asio::steady_timer retry;
    bool failing = false;  // logged once per outage, not per attempt
    bool stopping = false;

    PostgresFigures counted;
    // Posted results check it: they may arrive after the action is gone.
    std::shared_ptr<int> alive = std::make_shared<int>(0);
    std::atomic<bool> closing{false};
    std::unique_ptr<PostgresSession> session;  // the PostgreSQL thread's own
    // Last: destroyed first, it joins the thread that uses the session.
    std::unique_ptr<store::WriterThread> pg_thread;

    Impl(asio::io_context& i, PostgresTarget t, std::string n, Outcome o)
        : io(i), target(std::move(t)), name(std::move(n)), outcome(std::move(o)), commit_retry(i), retry(i) {}

    ~Impl() {
        closing = true;
        pg_thread.reset();
        alive.reset();
        retry.cancel();
        commit_retry.cancel();
    }

    void report(uint64_t written, const std::string& error, uint64_t failures = 1) {
        if (outcome) outcome(written, error, error.empty() ? 0 : failures);
    }

    void write(std::string_view row) {
        const uint64_t cap = target.max_queue_bytes;
        const bool full = target.queue_full == PostgresQueueFull::DropNew &&
                          queue->facts().bytes + staged.bytes() + row.size() > cap;
        // While the disk refuses commits the rows wait in memory, up to the cap too.
        if (full || staged.bytes() + row.size() > cap) {
            ++counted.dropped;
            report(0, full ? "the queue holds max_queue_bytes; row dropped" : "the queue cannot be written; row dropped");
            return;
        }
        staged.add({}, as_bytes(row), 0, false, unix_ms());
        commit();
    }

    void commit() {
        if (committing || (staged.empty() && acks.empty())) return;
        committing = true;
        queue->commit(std::exchange(staged, {}), std::exchange(acks, {}), {});
    }

    void on_committed(store::CommitResult& r) {
        committing = false;
        if (!r.first) {
            // Put back ahead of what came since, to be committed again.
            staged.prepend(std::move(r.batch));
            acks.insert(acks.begin(), r.acked.begin(), r.acked.end());
            report(0, "queue: " + r.first.error());
            commit_retry.expires_after(kCommitRetry);
            commit_retry.async_wait([this](const boost::system::error_code& ec) {
                if (!ec) commit();
            });
            return;
        }
        if (r.capped.messages > 0) {
            counted.dropped += r.capped.messages;
            report(0, "the queue was over max_queue_bytes: " + std::to_string(r.capped.messages) +
                          " oldest rows dropped unsent", r.capped.messages);
        }
        commit();
        pump();
    }

    void pump() {
        if (copying || loading || waiting || stopping) return;
        if (!page.empty()) return copy();
        if (queue->facts().next_seq - 1 <= sent_upto) return;
        loading = true;
        queue->load(sent_upto, target.batch_rows);
    }

    void on_loaded(store::LoadResult& r) {
        loading = false;
        if (!r.status) return failed("queue: " + r.status.error());
        {
            auto sending = queue->sending();
            for (store::OutboxEntry& e : r.page) {
                if (!sending.dropped(e.seq)) page.push_back(std::move(e));
            }
            sending.sent(r.loaded_upto);
        }
        sent_upto = std::max(sent_upto, r.loaded_upto);
        pump();
    }

    void copy() {
        copying = true;
        std::vector<std::string_view> rows;
        rows.reserve(page.size());
        // Views into `page`, which the loop leaves alone until the result is back.
        for (const store::OutboxEntry& e : page) rows.push_back(as_string_view(e.payload()));
        pg_thread->submit([this, rows = std::move(rows), token = std::weak_ptr<int>(alive)] {
            CopyOutcome r;
            if (closing) {
                r.failure = PgFailure{PgFailure::Kind::Connection, "stopping"};
            } else {
                r = session->write(rows);
            }
            const bool connected = session->connected();
            asio::post(io, [this, token, r = std::move(r), connected]() mutable {
                if (token.expired()) return;
                on_copied(r, connected);
            });
        });
    }

    void on_copied(CopyOutcome& r, bool connected) {
        copying = false;
        counted.connected = connected;
        for (size_t i = 0; i < r.resolved; ++i) acks.push_back(page[i].seq);
        page.erase(page.begin(), page.begin() + static_cast<std::ptrdiff_t>(r.resolved));
        counted.written += r.written;
        counted.refused += r.refused;
        if (r.written > 0) report(r.written, {});
        if (r.refused > 0) {
            report(0, "PostgreSQL refused " + std::to_string(r.refused) + (r.refused == 1 ? " row: " : " rows: ") +
                          r.last_refusal, r.refused);
        }
        commit();
        if (r.failure) return failed(r.failure->message);
        if (failing) log::info("rule '{}': postgres action: writing to {} again", name, target.table);
        failing = false;
        retry_delay = kFirstRetry;
        pump();
    }

    // The rows stay queued; tried again after a back-off (500 ms doubling).
    void failed(const std::string& why) {
        if (!failing) log::warn("rule '{}': postgres action: {}; rows wait in the queue", name, why);
        failing = true;
        report(0, why);
        if (stopping) return;
        waiting = true;
        retry.expires_after(retry_delay);
        retry_delay = std::min(retry_delay * 2, std::chrono::milliseconds(target.retry_max_ms));
        retry.async_wait([this](const boost::system::error_code& ec) {
            if (ec) return;
            waiting = false;
            pump();
        });
    }

    void finish() {
        stopping = true;
        retry.cancel();
        commit_retry.cancel();
        if (!staged.empty() || !acks.empty()) {
            queue->commit(std::exchange(staged, {}), std::exchange(acks, {}), {});
        }
        queue->finish();
    }
};

std::expected<std::unique_ptr<PostgresSink>, std::string> PostgresSink::open(asio::io_context& io, PostgresTarget target,
                                                                           const std::string& queue_path,
                                                                           const std::string& name, Outcome outcome) {
    auto impl = std::make_unique<Impl>(io, std::move(target), name, std::move(outcome));
    Impl* raw = impl.get();
    store::OutboxWriter::Events events;
    events.committed = [raw](store::CommitResult& r) { raw->on_committed(r); };
    events.loaded = [raw](store::LoadResult& r) { raw->on_loaded(r); };
    events.aged = [](store::DropResult&) {};
    const uint64_t cap = raw->target.queue_full == PostgresQueueFull::DropOldest ? raw->target.max_queue_bytes : 0;
    auto queue = store::OutboxWriter::open(queue_path, thread_name("ib-pgq-", name), io, cap, std::move(events));
    if (!queue) return std::unexpected(queue.error());
    raw->queue = std::move(*queue);
    if (!raw->queue->recovered_from().empty()) {
        log::error("rule '{}': postgres action: the queue file was damaged and moved to {}; a new one started", name,
                   raw->queue->recovered_from());
    }
    raw->session = std::make_unique<PostgresSession>(raw->target, raw->closing);
    raw->pg_thread = std::make_unique<store::WriterThread>(thread_name("ib-pg-", name));
    // Rows a previous run queued go first.
    raw->pump();
    return std::unique_ptr<PostgresSink>(new PostgresSink(std::move(impl)));
}

PostgresSink::PostgresSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PostgresSink::~PostgresSink() {
    if (!impl_->stopping) impl_->finish();
}

void PostgresSink::write(std::string_view row) { impl_->write(row); }

void PostgresSink::finish() { impl_->finish(); }

PostgresFigures PostgresSink::figures() const {
    PostgresFigures f = impl_->counted;
    f.queued_rows = impl_->queue->facts().messages;
    f.queued_bytes = impl_->queue->facts().bytes;
    return f;
}

}  // namespace ib::rules
