#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "store/outbox_writer.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <deque>
#include <variant>

#include "net/loop_check.hpp"

namespace ib::store {

namespace asio = boost::asio;

namespace {
// How stale the queue file's size in QueueFacts may be (it is for the status).
constexpr auto kFileBytesEvery = std::chrono::milliseconds(250);
}  // namespace

// ------------------------------------------------------------ StagedBatch

void StagedBatch::add(std::string_view topic, Bytes payload, uint8_t qos, bool retain, int64_t ts_ms) {
    Item i;
    i.off = static_cast<uint32_t>(arena.size());
    i.topic_len = static_cast<uint32_t>(topic.size());
    i.payload_len = static_cast<uint32_t>(payload.size());
    i.qos = qos;
    i.retain = retain;
    i.ts_ms = ts_ms;
    arena += topic;
    arena += as_string_view(payload);
    items.push_back(i);
}

void StagedBatch::clear() {
    arena.clear();
    items.clear();
    // A burst (a long outage, a full disk) must not keep its memory for good.
    if (arena.capacity() > (1u << 20)) arena.shrink_to_fit();
}

void StagedBatch::move_front_to(std::size_t n, StagedBatch& to) {
    n = std::min(n, items.size());
    if (n == 0) return;
    const uint32_t cut = n < items.size() ? items[n].off : static_cast<uint32_t>(arena.size());
    const auto base = static_cast<uint32_t>(to.arena.size());
    to.arena.append(arena, 0, cut);
    for (std::size_t k = 0; k < n; ++k) {
        Item i = items[k];
        i.off = i.off + base;
        to.items.push_back(i);
    }
    arena.erase(0, cut);
    items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(n));
    for (Item& i : items) i.off -= cut;
}

void StagedBatch::prepend(StagedBatch&& older) {
    if (older.empty()) return;
    const auto shift = static_cast<uint32_t>(older.arena.size());
    for (Item& i : items) i.off += shift;
    older.arena += arena;
    older.items.insert(older.items.end(), items.begin(), items.end());
    arena = std::move(older.arena);
    items = std::move(older.items);
}

// ------------------------------------------------------------ OutboxWriter

struct OutboxWriter::Done {
    QueueFacts facts;
    std::variant<CommitResult, LoadResult, DropResult> what;
};

// Results on their way from the writer thread to the loop. Shared with the
// posted handlers, so one that runs after the writer is gone finds no owner.
struct OutboxWriter::Mailbox {
    std::mutex mutex;
    std::deque<Done> done;
    OutboxWriter* owner = nullptr;  // cleared on the loop's thread (or at tear-down)

    // On the loop: handles every result waiting, in order.
    void deliver() {
        for (;;) {
            Done d;
            {
                std::lock_guard lock(mutex);
                if (done.empty() || owner == nullptr) return;
                d = std::move(done.front());
                done.pop_front();
            }
            owner->handle(d);
        }
    }
};

OutboxWriter::OutboxWriter(asio::io_context& loop, uint64_t cap_bytes, Events events)
    : loop_(loop), cap_bytes_(cap_bytes), events_(std::move(events)), mailbox_(std::make_shared<Mailbox>()) {
    mailbox_->owner = this;
}

std::expected<std::unique_ptr<OutboxWriter>, std::string> OutboxWriter::open(const std::string& path,
                                                                            std::string thread_name,
                                                                            asio::io_context& loop,
                                                                            uint64_t cap_bytes, Events events) {
    auto box = Outbox::open(path);
    if (!box) return std::unexpected(box.error());
    auto w = std::unique_ptr<OutboxWriter>(new OutboxWriter(loop, cap_bytes, std::move(events)));
    w->box_ = std::move(*box);
    w->recovered_from_ = w->box_->recovered_from();
    w->facts_ = w->facts_now(true);
    w->thread_ = std::make_unique<WriterThread>(std::move(thread_name));
    return w;
}

OutboxWriter::~OutboxWriter() {
    thread_.reset();
    std::lock_guard lock(mailbox_->mutex);
    mailbox_->owner = nullptr;
}

void OutboxWriter::submit(std::function<void()> job) {
    IB_ASSERT_ON_LOOP(loop_);
    ++jobs_;
    thread_->submit(std::move(job));
}

void OutboxWriter::commit(StagedBatch batch, std::vector<uint64_t> acked,
                          std::vector<mqtt::broker::DurableTicket> tickets, bool behind) {
    submit([this, batch = std::move(batch), acked = std::move(acked), tickets = std::move(tickets),
            behind]() mutable {
        if (behind && refusing_) {
            // Committing it now would put it in the file ahead of the failed one.
            CommitResult r;
            r.first = std::unexpected(refused_because_);
            r.batch = std::move(batch);
            r.acked = std::move(acked);
            hand_back(Done{facts_now(false), std::move(r)});
        } else {
            run_commit(batch, acked);
        }
        // The transaction has returned and its result is on its way to the loop.
        tickets.clear();
    });
}

void OutboxWriter::run_commit(StagedBatch& batch, std::vector<uint64_t>& acked) {
    records_.clear();
    for (const StagedBatch::Item& i : batch.items) {
        OutboxRecord r;
        r.topic = batch.topic(i);
        r.payload = batch.payload(i);
        r.qos = i.qos;
        r.retain = i.retain;
        r.ts_ms = i.ts_ms;
        records_.push_back(r);
    }
    CommitResult r;
    r.first = box_->commit(records_, acked);
    refusing_ = !r.first;
    if (!r.first) refused_because_ = r.first.error();
    bool deleted = false;
    if (r.first) {
        deleted = !acked.empty();
        acked.clear();
        failing_.store(false, std::memory_order_release);
        if (cap_bytes_ != 0 && box_->bytes() > cap_bytes_) {
            auto d = drop_unsent(
                [this](uint64_t after) { return box_->oldest_upto_bytes(after, box_->bytes() - cap_bytes_); },
                r.capped_upto);
            if (d) {
                r.capped = *d;
                deleted = deleted || d->messages > 0;
            } else {
                r.cap_error = d.error();
            }
        }
    } else {
        // Before the tickets complete: a push-back bridge keeps the durable gate
        // closed on it until the retry commits (Bridge::holding_back).
        failing_.store(true, std::memory_order_release);
    }
    r.batch = std::move(batch);
    r.acked = std::move(acked);
    hand_back(Done{facts_now(deleted), std::move(r)});
}

void OutboxWriter::load(uint64_t after, std::size_t limit) {
    submit([this, after, limit] {
        LoadResult r;
        r.status = box_->load(after, limit, r.page);
        r.loaded_upto = r.page.size() < limit ? box_->next_seq() - 1 : r.page.back().seq;
        hand_back(Done{facts_now(false), std::move(r)});
    });
}

void OutboxWriter::drop_older_than(int64_t cutoff_ms) {
    submit([this, cutoff_ms] {
        DropResult r;
        r.dropped = drop_unsent([this, cutoff_ms](uint64_t after) { return box_->oldest_upto_age(after, cutoff_ms); },
                                r.upto);
        hand_back(Done{facts_now(r.dropped && r.dropped->messages > 0), std::move(r)});
    });
}

std::expected<Dropped, std::string> OutboxWriter::drop_unsent(const std::function<uint64_t(uint64_t)>& find,
                                                                    uint64_t& last_seq) {
    uint64_t after = 0;
    {
        std::lock_guard lock(fence_mutex_);
        after = sent_upto_;
    }
    // Found without the lock (SQLite runs here); what the sender sent meanwhile
    // is taken out of the range, and from now on it skips the rest.
    const uint64_t upto = find(after);
    {
        std::lock_guard lock(fence_mutex_);
        after = std::max(after, sent_upto_);
        if (upto <= after) return Dropped{};
        dropping_upto_ = std::max(dropping_upto_, upto);
    }
    // Should this fail, the entries stay in the file (sent after a restart) but
    // are no longer sent now: the sender has already skipped some of them.
    return box_->drop_range(after, upto, last_seq);
}

QueueFacts OutboxWriter::facts_now(bool deleted) {
    // An empty queue has no oldest entry: no query for it (a bridge that keeps
    // up commits and deletes with the queue empty most of the time).
    if (box_->messages() == 0) oldest_ts_.reset();
    else if (deleted || !oldest_ts_) oldest_ts_ = box_->oldest_ts();
    QueueFacts f;
    f.messages = box_->messages();
    f.bytes = box_->bytes();
    f.next_seq = box_->next_seq();
    const auto now = std::chrono::steady_clock::now();
    if (!file_bytes_read_ || now - *file_bytes_read_ >= kFileBytesEvery) {
        file_bytes_ = box_->file_bytes();
        file_bytes_read_ = now;
    }
    f.file_bytes = file_bytes_;
    f.oldest_ts = oldest_ts_;
    return f;
}

void OutboxWriter::hand_back(Done&& done) {
    bool was_empty = false;
    {
        std::lock_guard lock(mailbox_->mutex);
        was_empty = mailbox_->done.empty();
        mailbox_->done.push_back(std::move(done));
    }
    // One wake-up of the loop for the results that pile up before it runs:
    // deliver() takes them all.
    if (was_empty) asio::post(loop_, [mailbox = mailbox_] { mailbox->deliver(); });
}

void OutboxWriter::handle(Done& done) {
    IB_ASSERT_ON_LOOP(loop_);
    facts_ = done.facts;
    --jobs_;
    std::visit(
        [this](auto& r) {
            using R = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<R, CommitResult>) {
                events_.committed(r);
            } else if constexpr (std::is_same_v<R, LoadResult>) {
                events_.loaded(r);
            } else {
                events_.aged(r);
            }
        },
        done.what);
}

void OutboxWriter::finish() {
    IB_ASSERT_ON_LOOP(loop_);
    thread_->drain();
    mailbox_->deliver();
}

}  // namespace ib::store
