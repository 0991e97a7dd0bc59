// Shards, listeners, routing, the in-process Router, $SYS and metrics.
#include "mqtt/broker/broker.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <functional>

#include "core/clock.hpp"
#include "core/json_writer.hpp"
#include "core/log.hpp"
#include "mqtt/broker/broker_core.hpp"
#include "mqtt/broker/topic_match.hpp"
#include "mqtt/broker/transport.hpp"
#include "net/loop_pool.hpp"

namespace ib::mqtt::broker {

namespace {
constexpr std::size_t kReadBufferSize = 64 * 1024;
constexpr auto kSweepInterval = std::chrono::milliseconds(500);
constexpr auto kTlsReloadInterval = std::chrono::seconds(2);

}  // namespace

// ------------------------------------------------------------------ Shard

Shard::Shard(BrokerCore& c, std::size_t i, std::size_t shard_count, asio::io_context& context)
    : core(c), index(i), ctx(context), sweep_timer_(context) {
    outbox_.resize(shard_count);
}

std::vector<std::byte>& Shard::read_buffer() {
    // Sized at the first read: a service loop's shard never reads a socket,
    // and a broker shard with no client yet holds no 64 KiB of zeroes.
    if (read_buf_.empty()) read_buf_.resize(kReadBufferSize);
    return read_buf_;
}

Shard::~Shard() {
    // The connections' self-references would keep them alive past the shard.
    connections.clear_and_dispose([](Connection* c) { c->shard_ref_.reset(); });
    // A turn that routed to a durable subscriber and was never flushed: its
    // batch_seq is 0, so the last ref deletes it without posting here.
    if (turn_ticket_ != nullptr) drop_own_ref(turn_ticket_);
}

void Shard::add(ConnectionRef conn) {
    Connection& c = *conn;
    c.shard_ref_ = std::move(conn);
    connections.push_back(c);
}

void Shard::remove(Connection& conn) {
    if (!conn.shard_link_.is_linked()) return;
    connections.erase(connections.iterator_to(conn));
    conn.shard_ref_.reset();
}

SubscriberId Shard::new_subscriber_id(bool in_process) {
    return (SubscriberId{index} << kShardShift) | (in_process ? kInProcessBit : 0) | next_id_++;
}

SubscriberId Shard::new_session_id(bool persistent) {
    if (!persistent || !core.persistence) return new_subscriber_id(false);
    const uint64_t key = core.next_store_key.fetch_add(1, std::memory_order_relaxed);
    return (SubscriberId{index} << kShardShift) | kPersistentBit | key;
}

namespace {

// route() entered once more while it runs: an in-process handler publishing.
struct DepthGuard {
    explicit DepthGuard(int& d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;
    int& depth;
};

}  // namespace

std::size_t Shard::route(const MessageRef& msg) {
    // An in-process handler may publish from inside a delivery; the nested call
    // gets its own match list so the outer loop's is left intact.
    std::vector<Subscription> nested;
    std::vector<Subscription>& scratch = route_depth_ == 0 ? matches_ : nested;
    if (route_depth_ == 0) last_route_durable_ = false;
    const DepthGuard guard(route_depth_);
    const std::span<const Subscription> matches = match(msg->topic(), scratch, route_depth_ == 1);
    if (msg->retain()) keep_retained(msg);
    return deliver_matches(msg, matches);
}

std::size_t Shard::route(const MessageInit& init, Clock::time_point now) {
    if (route_depth_ != 0 || init.retain || !init.plain()) return route(Message::make(init, now));
    last_route_durable_ = false;
    const DepthGuard guard(route_depth_);
    const std::span<const Subscription> matches = match(init.topic, matches_, true);
    if (const auto sent = send_in_place(init, matches)) return *sent;
    return deliver_matches(Message::make(init, now), matches);
}

std::optional<std::size_t> Shard::send_in_place(const MessageInit& init, std::span<const Subscription> matches) {
    if (matches.empty()) return 0;
    // One subscriber of this shard at QoS 0, with no subscription identifier
    // to add: its PUBLISH is the bytes received, so they are encoded into its
    // output as they lie in the read buffer, and no Message is built. That is
    // 1→1 and pairwise traffic, where the Message, its count and its copy were
    // a sixth of the broker's time (BENCHMARKS.md).
    if (matches.size() != 1) return std::nullopt;
    const Subscription& s = matches.front();
    if (s.options.no_local && s.subscriber == init.origin) return 0;  // [MQTT-3.8.3-3]
    if (std::min(s.options.qos, init.qos) != 0 || s.options.subscription_id != 0 ||
        (s.subscriber & (kInProcessBit | kDurableBit)) != 0 || shard_of(s.subscriber) != index) {
        return std::nullopt;
    }
    Session* session = sessions.find(s.subscriber);
    if (session == nullptr) return 1;  // as deliver_local(): the session ended meanwhile
    if (!session->send_in_place(init.topic, init.payload)) return std::nullopt;
    return 1;
}

void Shard::keep_retained(const MessageRef& msg) {
    std::lock_guard lock(core.retained_mutex);
    // A new retained topic beyond the limit is not stored (replacing or
    // clearing an existing one always works, and so do the broker's own
    // $-topics); the message is still routed.
    if (!msg->payload().empty() && msg->topic().front() != '$' &&
        core.retained.size() >= core.config.max_retained_messages &&
        !core.retained.get(msg->topic())) {
        counters.retained_refused_limit.add();
        IB_LOG_LIMITED_WARN("mqtt: max_retained_messages {} reached: retained message on '{}' not stored",
                            core.config.max_retained_messages, msg->topic());
    } else {
        core.retained.set(msg);
        if (core.persistence && msg->topic().front() != '$') {
            // The version, taken under the lock, orders the writes of shards
            // that set the same topic in the same moment.
            PersistOp op;
            op.kind = msg->payload().empty() ? PersistOp::Kind::RetainClear : PersistOp::Kind::RetainSet;
            op.seq = ++core.retained_version;
            op.msg = msg;
            persist_ops.push_back(std::move(op));
            last_route_durable_ = true;
        }
    }
}

std::size_t Shard::deliver_matches(const MessageRef& msg, std::span<const Subscription> matches) {
    if (matches.empty()) return 0;
    std::size_t delivered = 0;
    // Overlapping subscriptions of one subscriber give one delivery with the
    // highest QoS and every subscription identifier (§3.3.4).
    for (std::size_t i = 0; i < matches.size();) {
        const SubscriberId to = matches[i].subscriber;
        Delivery d;
        d.to = to;
        bool any = false;
        bool rap = false;
        uint8_t qos = 0;
        for (; i < matches.size() && matches[i].subscriber == to; ++i) {
            const auto& o = matches[i].options;
            // [MQTT-3.8.3-3] No Local: not sent back to the connection that published it.
            if (o.no_local && to == msg->origin()) continue;
            any = true;
            qos = std::max(qos, o.qos);
            rap = rap || o.retain_as_published;
            d.sub_ids.add(o.subscription_id);
        }
        if (!any) continue;
        d.msg = msg;
        d.qos = std::min(qos, msg->qos());
        // [MQTT-3.3.1-12] Without Retain As Published the flag is cleared.
        d.retain = rap && msg->retain();
        ++delivered;
        if (to & kDurableBit) {
            last_route_durable_ = true;
            d.ticket = turn_ticket();
        }
        if ((to & kPersistentBit) && d.qos > 0 && core.persistence) {
            // Written here, on the publisher's shard, so that its acknowledgement
            // waits only for this shard's next commit, wherever the session lives.
            d.seq = core.next_store_seq.fetch_add(1, std::memory_order_relaxed);
            PersistOp op;
            op.kind = PersistOp::Kind::Enqueue;
            op.key = store_key(to);
            op.seq = d.seq;
            op.qos = d.qos;
            op.retain = d.retain;
            op.sub_ids = d.sub_ids;
            op.msg = msg;
            persist_ops.push_back(std::move(op));
            last_route_durable_ = true;
        }
        const std::size_t dest = shard_of(to);
        if (dest == index) {
            deliver_local(std::move(d));
        } else {
            outbox_[dest].push_back(std::move(d));
        }
    }
    return delivered;
}

std::span<const Subscription> Shard::match(std::string_view topic, std::vector<Subscription>& scratch,
                                          bool cached) {
    // Only the outermost route() reads and fills the cache: the span it returns
    // stays valid while in-process handlers it calls publish (nested routes use
    // their own list) or subscribe (which only moves the generation on).
    if (cached) {
        if (auto hit = match_cache_.find(topic, tree.generation())) return *hit;
    }
    scratch.clear();
    bool shared = false;
    tree.match(topic, [&](const Subscription& s, std::string_view group) {
        shared = shared || !group.empty();
        scratch.push_back(s);
    });
    if (scratch.size() > 1) std::ranges::sort(scratch, {}, &Subscription::subscriber);
    // The member of a share group changes with every message (round-robin).
    if (cached && !shared) match_cache_.store(topic, tree.generation(), scratch);
    return scratch;
}

bool Shard::apply(const TreeChange& c) {
    if (c.subscribe) {
        bool is_new = tree.subscribe(c.filter, c.sub);
        // Counted once, by the shard the subscriber belongs to.
        if (is_new && shard_of(c.sub.subscriber) == index) core.subscriptions_current.add();
        return is_new;
    }
    bool removed = tree.unsubscribe(c.filter, c.sub.subscriber);
    if (removed && shard_of(c.sub.subscriber) == index) core.subscriptions_current.sub();
    return removed;
}

void BrokerCore::replicate(std::size_t origin, std::vector<TreeChange> changes, std::function<void()> done) {
    if (shards_.size() == 1) {
        if (done) done();
        return;
    }
    auto shared = std::make_shared<const std::vector<TreeChange>>(std::move(changes));
    auto remaining = std::make_shared<std::atomic<std::size_t>>(shards_.size() - 1);
    auto finish = std::make_shared<std::function<void()>>(std::move(done));
    Shard& home = *shards_[origin];
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        if (i == origin) continue;
        Shard& target = *shards_[i];
        asio::post(target.ctx, [&target, &home, shared, remaining, finish] {
            for (const auto& c : *shared) target.apply(c);
            if (remaining->fetch_sub(1) == 1 && *finish) {
                asio::post(home.ctx, [&home, finish] {
                    (*finish)();
                    home.flush();
                });
            }
        });
    }
}

void Shard::deliver_local(Delivery&& d) {
    if (d.to & kInProcessBit) {
        auto it = handlers.find(d.to);
        if (it == handlers.end()) return;  // unsubscribed while the delivery travelled
        // Copies, so a handler that unsubscribes itself does not destroy the
        // function it runs in.
        if (it->second.durable) {
            auto h = it->second.durable;
            (*h)(*d.msg, d.ticket);
        } else {
            auto h = it->second.plain;
            (*h)(*d.msg);
        }
        return;
    }
    Session* s = sessions.find(d.to);
    if (s == nullptr) return;  // the session ended while the batch travelled
    s->deliver(std::move(d.msg), d.qos, d.retain, d.sub_ids, d.seq);
}

const Shard::EncodedPublish* Shard::repeated_publish(const MessageRef& msg, uint8_t qos, bool retain,
                                                     codec::Version version) {
    EncodedPublish& e = encoded_;
    if (e.serial != msg->serial() || e.qos != qos || e.retain != retain || e.version != version) {
        // The serial, not a reference: a reference would cost two atomic
        // operations on the message's count per delivery.
        e.serial = msg->serial();
        e.qos = qos;
        e.retain = retain;
        e.version = version;
        e.encoded = false;
        return nullptr;
    }
    if (e.encoded) return &e;
    codec::Publish& p = publish_packet(msg, qos, retain, version);
    e.bytes.clear();
    codec::encode(e.bytes, p, version);
    done_with_packet(version);
    // Fixed header (one byte and the remaining length's varint), then the
    // topic's two-byte length and the topic, then the packet identifier (§3.3.2).
    std::size_t varint = 1;
    while (varint < 4 && (static_cast<uint8_t>(e.bytes[varint]) & 0x80) != 0) ++varint;
    e.packet_id_at = 1 + varint + 2 + p.topic.size();
    e.encoded = true;
    return &e;
}

codec::Publish& Shard::publish_packet(const MessageRef& msg, uint8_t qos, bool retain, codec::Version version) {
    codec::Publish& p = publish_packet(msg->topic(), msg->payload(), qos, retain);
    // Only messages without expiry come here: the time does not matter.
    if (version == codec::Version::V5) p.properties = msg->properties(Clock::time_point{});
    return p;
}

codec::Publish& Shard::publish_packet(std::string_view topic, Bytes payload, uint8_t qos, bool retain) {
    codec::Publish& p = encoded_.packet;
    p.qos = qos;
    p.retain = retain;
    p.topic = topic;
    p.payload = payload;
    p.packet_id = qos > 0 ? 1 : 0;  // each subscriber's own id is written over it
    return p;
}

void Shard::retained_to(Session& s, std::string_view filter, const SubscriptionOptions& opts) {
    std::vector<MessageRef> found;
    {
        std::lock_guard lock(core.retained_mutex);
        core.retained.match(filter, Clock::now(), [&](const MessageRef& m) { found.push_back(m); });
    }
    SubIds ids;
    ids.add(opts.subscription_id);
    // [MQTT-3.3.1-8] Retained messages sent on subscribe carry RETAIN 1.
    for (const auto& m : found) s.deliver(m, std::min(opts.qos, m->qos()), true, ids);
}

void Shard::flush() {
    // Writing may queue more output (a drained slow consumer pumps its queue),
    // so repeat until nothing is dirty.
    for (int round = 0; round < 4 && !dirty_.empty(); ++round) {
        flushing_.swap(dirty_);
        for (auto& c : flushing_) {
            c->dirty = false;
            c->flush();
        }
        flushing_.clear();
    }
    // Before the deliveries leave: a session on another shard can only
    // acknowledge (and remove) a stored message after its row was submitted.
    if (!persist_ops.empty() && core.persistence) core.persistence->submit(persist_ops);
    for (std::size_t dest = 0; dest < outbox_.size(); ++dest) {
        if (outbox_[dest].empty()) continue;
        Shard& target = core.shard(dest);
        const auto n = static_cast<int64_t>(outbox_[dest].size());
        core.cross_shard_backlog[dest].fetch_add(n, std::memory_order_relaxed);
        asio::post(target.ctx, [&target, n, batch = std::move(outbox_[dest])]() mutable {
            for (auto& d : batch) target.deliver_local(std::move(d));
            target.flush();
            target.core.cross_shard_backlog[target.index].fetch_sub(n, std::memory_order_relaxed);
        });
        // Room for as many as this turn's, allocated once: grown from empty, a
        // turn of a busy 1→1 pair reallocated and moved it a dozen times (3.9 %
        // of the broker's samples, perf).
        outbox_[dest] = {};
        outbox_[dest].reserve(std::min<std::size_t>(static_cast<std::size_t>(n), 4096));
    }
    // A flush nested in a delivery (an in-process handler that publishes) leaves
    // the turn's acknowledgements and ticket to the outer one, which ends the turn.
    if (route_depth_ > 0) return;
    if (!held_.empty()) {
        release_after_durable_tasks();
    } else if (turn_ticket_ != nullptr) {
        // Durable deliveries but no acknowledgement waits for them (in-process
        // or QoS 0 publishers): the shard's own ref goes.
        drop_own_ref(std::exchange(turn_ticket_, nullptr));
    }
}

void Shard::drop_own_ref(ShardTicket* t) {
    if (t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) t->done(t);
}

DurableTicket Shard::turn_ticket() {
    if (turn_ticket_ == nullptr) {
        turn_ticket_ = new ShardTicket;
        turn_ticket_->shard = this;
        turn_ticket_->done = [](TicketState* s) {
            auto* t = static_cast<ShardTicket*>(s);
            Shard* shard = t->shard;
            const uint64_t seq = t->batch_seq.load(std::memory_order_acquire);
            delete t;
            if (seq != 0) asio::post(shard->ctx, [shard, seq] { shard->on_ticket_done(seq); });
        };
    }
    return DurableTicket(turn_ticket_);
}

void Shard::release_after_durable_tasks() {
    // Each connection releases the acks it held up to now; later ones wait for
    // a later batch.
    AckBatch batch;
    batch.seq = next_batch_seq_++;
    batch.upto.reserve(held_.size());
    for (ConnectionRef& c : held_) {
        // Registered by ack_publish, which allocated the cold part.
        c->cold_->held_registered = false;
        const uint64_t upto = c->cold_->held_total;
        batch.upto.emplace_back(std::move(c), upto);
    }
    held_.clear();
    ShardTicket* ticket = std::exchange(turn_ticket_, nullptr);
    batch.durable_done = ticket == nullptr;
    ack_batches_.push_back(std::move(batch));
    if (ticket != nullptr) {
        // The durable subscribers still hold refs: the last of them to finish
        // posts on_ticket_done. If they all finished already, that is now.
        ticket->batch_seq.store(ack_batches_.back().seq, std::memory_order_release);
        drop_own_ref(ticket);
    } else {
        advance_ack_batches();
    }
}

void Shard::on_ticket_done(uint64_t seq) {
    for (AckBatch& b : ack_batches_) {
        if (b.seq == seq) {
            b.durable_done = true;
            break;
        }
    }
    advance_ack_batches();
}

void Shard::advance_ack_batches() {
    // In turn order: a batch whose durable subscribers are still writing holds
    // back the later ones, since releasing a connection's acks up to a later
    // count would release the earlier ones too.
    while (!ack_batches_.empty() && ack_batches_.front().durable_done) {
        auto upto = std::move(ack_batches_.front().upto);
        ack_batches_.pop_front();
        when_durable_gate_open([this, upto = std::move(upto)]() mutable {
            auto release = [this, upto = std::move(upto)] {
                for (const auto& [c, n] : upto) c->release_held_acks(n);
                flush();
            };
            if (core.persistence) {
                // With the session store, the release waits in addition for the
                // commit of everything submitted so far, this shard's rows
                // included (flush() submitted them before the batch was made).
                // The io_context, not the shard: at shutdown the store's last
                // barriers run after the broker is gone, and the loops are not.
                // Moved on, so the writer thread keeps no connection reference.
                core.persistence->after_commit(
                    [&loop = ctx, release = std::move(release)]() mutable { asio::post(loop, std::move(release)); });
            } else {
                asio::post(ctx, std::move(release));
            }
        });
    }
}

void Shard::when_durable_gate_open(std::function<void()> fn) {
    if (gated_.empty() && (!core.durable_gate || core.durable_gate())) return fn();
    gated_.push_back(std::move(fn));
    recheck_durable_gate();
}

void Shard::recheck_durable_gate() {
    if (!gate_timer_) gate_timer_ = std::make_unique<asio::steady_timer>(ctx);
    if (gate_timer_->expiry() > asio::steady_timer::clock_type::now()) return;  // already waiting
    gate_timer_->expires_after(std::chrono::milliseconds(5));
    gate_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        if (core.durable_gate && !core.durable_gate()) return recheck_durable_gate();
        // In order: a later batch never overtakes an earlier one.
        auto ready = std::move(gated_);
        gated_.clear();
        for (auto& fn : ready) fn();
    });
}

void Shard::destroy_session(Session* s) {
    if (s->will()) {
        // [MQTT-3.1.3-9] The session ends before the will delay: send it now.
        route(s->will()->msg);
        s->clear_will();
    }
    if (!s->subscriptions().empty()) {
        std::vector<TreeChange> changes;
        for (const auto& [filter, opts] : s->subscriptions()) {
            TreeChange c{false, filter, Subscription{s->id(), {}}};
            apply(c);
            changes.push_back(std::move(c));
        }
        core.replicate(index, std::move(changes), nullptr);
    }
    if (s->persistent()) {
        PersistOp op;
        op.kind = PersistOp::Kind::DropSession;
        s->persist(std::move(op));
    }
    core.sessions_current.sub();
    sessions.erase(s);  // destroys s
}

void Shard::schedule_expiry(Session& s, std::optional<std::chrono::milliseconds> remaining) {
    const SubscriberId id = s.id();
    if (s.persistent()) {
        PersistOp op;
        op.kind = PersistOp::Kind::Session;
        op.text = s.client_id();
        op.expiry_s = s.expiry_interval_s;
        const auto left = remaining.value_or(std::chrono::seconds(s.expiry_interval_s));
        op.expires_at_ms = s.expiry_interval_s == UINT32_MAX ? 0 : unix_ms() + left.count();
        s.persist(std::move(op));
    }
    if (s.will()) {
        uint32_t delay = std::min(s.will()->delay_s, s.expiry_interval_s);
        s.will_timer().expires_after(std::chrono::seconds(delay));
        s.will_timer().async_wait([this, id](const boost::system::error_code& ec) {
            if (ec) return;
            Session* s = sessions.find(id);
            if (s == nullptr || s->connection() || !s->will()) return;
            route(s->will()->msg);
            s->clear_will();
            flush();
        });
    }
    if (s.expiry_interval_s == UINT32_MAX) return;  // 3.1.1 persistent: never expires
    if (remaining) {
        s.expiry_timer().expires_after(*remaining);
    } else {
        s.expiry_timer().expires_after(std::chrono::seconds(s.expiry_interval_s));
    }
    s.expiry_timer().async_wait([this, id](const boost::system::error_code& ec) {
        if (ec) return;
        Session* s = sessions.find(id);
        if (s == nullptr || s->connection()) return;
        log::debug("mqtt: session '{}' expired", s->client_id());
        destroy_session(s);
        flush();
    });
}

namespace {
// How long a throttled publisher is not read; renewed while its subscriber's
// queue stays over the limit.
constexpr auto kPublisherPause = std::chrono::milliseconds(2);
}  // namespace

bool Shard::throttle_publisher(OriginId origin, OriginId& last_origin, Clock::time_point& last) {
    if (origin == 0 || (origin & kInProcessBit)) return false;
    const auto now = Clock::now();
    if (origin == last_origin && now - last < kPublisherPause / 2) return true;  // already asked
    last_origin = origin;
    last = now;
    const std::size_t dest = shard_of(origin);
    if (dest == index) {
        pause_publisher(origin);
    } else {
        Shard& target = core.shard(dest);
        asio::post(target.ctx, [&target, origin] { target.pause_publisher(origin); });
    }
    return true;
}

void Shard::pause_publisher(OriginId origin) {
    Session* s = sessions.find(origin);
    if (s == nullptr || !s->connection()) return;
    s->connection()->pause_reading(Clock::now() + kPublisherPause);
}

void Shard::start_sweep() {
    sweep_timer_.expires_after(kSweepInterval);
    sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        sweep();
        start_sweep();
    });
}

void Shard::sweep() {
    const auto now = Clock::now();
    // The cached encoding holds its message: a large one is not kept alive idle.
    encoded_ = EncodedPublish{};
    const auto connect_timeout = core.config.connect_timeout;
    // Connections leave the list through a posted remove(), never during this loop.
    for (Connection& c : connections) {
        Connection* conn = &c;
        conn->release_idle_memory();
        if (conn->stuck_closing(now)) {
            conn->finish_close();
        } else if (conn->awaiting_connect()) {
            if (now - conn->accepted_at() > connect_timeout) {
                counters.connect_timeouts.add();
                log::info("mqtt: {} sent no CONNECT within {} ms: closing", conn->peer(), connect_timeout.count());
                conn->close("connect timeout");
            }
        } else if (conn->connected() && conn->keep_alive_s() > 0 && !conn->paused()) {
            // (A publisher paused by flow control is not read, so its silence
            // is ours, not its own.)
            // [MQTT-3.1.2-24] One and a half times the keep-alive without a packet.
            auto limit = std::chrono::milliseconds(conn->keep_alive_s() * 1500);
            if (now - conn->last_rx() > limit) {
                counters.keepalive_timeouts.add();
                log::info("mqtt: {} silent for 1.5 x keep-alive ({} s): closing", conn->peer(), conn->keep_alive_s());
                conn->disconnect_with(codec::reason::kKeepAliveTimeout, "keep-alive timeout");
            }
        }
    }
    flush();
}

// ------------------------------------------------------------- BrokerCore

BrokerCore::BrokerCore(const BrokerConfig& cfg, net::LoopPool& loops, std::size_t shard_loops, std::string ver)
    : config(cfg), version(std::move(ver)) {
    network_shards_ = shard_loops == 0 ? loops.size() : std::min(shard_loops, loops.size());
    cross_shard_backlog = std::make_unique<std::atomic<int64_t>[]>(loops.size());
    for (std::size_t i = 0; i < loops.size(); ++i)
        shards_.push_back(std::make_unique<Shard>(*this, i, loops.size(), loops.loop(i)));
}

BrokerCore::~BrokerCore() = default;

bool BrokerCore::shards_congested() const {
    for (std::size_t i = 0; i < shards_.size(); ++i)
        if (cross_shard_backlog[i].load(std::memory_order_relaxed) > kMaxCrossShardBacklog) return true;
    return false;
}

std::size_t BrokerCore::shard_for_client(std::string_view client_id) const {
    if (network_shards_ == 1) return 0;
    return std::hash<std::string_view>{}(client_id) % network_shards_;
}

std::expected<void, std::string> BrokerCore::load_persisted() {
    auto loaded = persistence->load();
    if (!loaded) return std::unexpected(loaded.error());
    next_store_key.store(loaded->next_key);
    next_store_seq.store(loaded->next_seq);
    restored_below_seq = loaded->next_seq;
    retained_version = loaded->retained_version;
    for (auto& m : loaded->retained) retained.set(std::move(m));
    // The loops do not run yet: shards are filled from this thread.
    const int64_t now = unix_ms();
    for (StoredSession& ss : loaded->sessions) {
        Shard& shard = *shards_[shard_for_client(ss.client_id)];
        const SubscriberId id = (SubscriberId{shard.index} << kShardShift) | kPersistentBit | ss.key;
        Session* s = &shard.sessions.insert(Session::make(shard, id, ss.client_id));
        s->expiry_interval_s = ss.expiry_s;
        s->restore_pending = true;
        s->restore_incoming_qos2(std::move(ss.incoming_qos2));
        for (auto& [filter, opts] : ss.subscriptions) {
            const TreeChange c{true, filter, Subscription{id, opts}};
            for (auto& sh : shards_) sh->apply(c);
            s->subscriptions_mut().emplace(std::move(filter), opts);
        }
        sessions_current.add();
        // A session whose client was connected when the broker stopped starts
        // its expiry now, as after a disconnect.
        std::chrono::milliseconds left(ss.expires_at_ms > 0 ? std::max<int64_t>(0, ss.expires_at_ms - now)
                                                            : int64_t{ss.expiry_s} * 1000);
        shard.schedule_expiry(*s, left);
    }
    log::info("mqtt: {} persistent sessions and {} retained messages loaded", loaded->sessions.size(),
              loaded->retained.size());
    return {};
}

std::expected<void, std::string> BrokerCore::start() {
    started_at = Clock::now();
    if (persistence) {
        if (auto r = load_persisted(); !r) return r;
    }
    for (const auto& lc : config.listeners) {
        auto l = std::make_unique<ListenerState>();
        l->config = lc;
        l->transport = lc.transport == "tls"  ? TransportKind::Tls
                       : lc.transport == "ws"  ? TransportKind::Ws
                       : lc.transport == "wss" ? TransportKind::Wss
                                               : TransportKind::Tcp;
        if (l->transport == TransportKind::Tls || l->transport == TransportKind::Wss) {
            l->tls = std::make_unique<net::TlsServerContext>();
            auto loaded = l->tls->load(net::TlsServerSettings{lc.tls_cert, lc.tls_key, lc.tls_ca,
                                                              lc.tls_require_client_cert, lc.tls_min_version});
            if (!loaded) return std::unexpected(fmt::format("mqtt: listener '{}': {}", lc.name, loaded.error()));
        }
        boost::system::error_code ec;
        (void)asio::ip::make_address(lc.bind_address, ec);
        if (ec) {
            return std::unexpected(fmt::format("mqtt: listener '{}': '{}' is not an IP address", lc.name,
                                               lc.bind_address));
        }
        if (auto r = bind_listener(*l); !r) return r;
        log::info("mqtt: listener '{}' on {}:{} ({}{})", lc.name, lc.bind_address, l->port, lc.transport,
                  l->transport == TransportKind::Ws || l->transport == TransportKind::Wss ? " " + lc.ws_path : "");
        l->index = static_cast<uint16_t>(listeners_.size());
        listeners_.push_back(std::move(l));
    }
    for (auto& l : listeners_) {
        ListenerState* lp = l.get();
        for (std::size_t i = 0; i < lp->acceptors.size(); ++i) {
            asio::post(shards_[i]->ctx, [this, lp, i] { accept_next(*lp, i); });
        }
    }
    for (auto& s : shards_) {
        Shard* sp = s.get();
        asio::post(sp->ctx, [sp] { sp->start_sweep(); });
    }
    if (std::any_of(listeners_.begin(), listeners_.end(), [](const auto& l) { return l->tls != nullptr; })) {
        tls_reload_timer_ = std::make_unique<asio::steady_timer>(shards_[0]->ctx);
        asio::post(shards_[0]->ctx, [this] { check_tls_files(); });
    }
    if (config.sys_interval.count() > 0) {
        sys_timer_ = std::make_unique<asio::steady_timer>(shards_[0]->ctx);
        asio::post(shards_[0]->ctx, [this] { publish_sys(); });
    }
    return {};
}

void BrokerCore::check_tls_files() {
    if (stopping.load()) return;
    // A few stat() calls every couple of seconds on loop 0; a changed file is
    // loaded into a new context for new connections, established ones keep theirs.
    for (auto& l : listeners_) {
        if (!l->tls) continue;
        const std::string result = l->tls->reload_if_changed();
        if (result == "reloaded") {
            log::info("mqtt: listener '{}': TLS certificate reloaded from {}", l->config.name, l->config.tls_cert);
        } else if (!result.empty()) {
            log::warn("mqtt: listener '{}': new TLS files refused, the previous certificate stays in use: {}",
                      l->config.name, result);
        }
    }
    tls_reload_timer_->expires_after(kTlsReloadInterval);
    tls_reload_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (!ec) check_tls_files();
    });
}

std::expected<void, std::string> BrokerCore::bind_listener(ListenerState& l) {
    const ListenerConfig& lc = l.config;
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address(lc.bind_address, ec);
    tcp::endpoint ep(addr, lc.port);
    auto fail = [&](const char* what) {
        return std::unexpected(fmt::format("mqtt: listener '{}' cannot {} {}:{}: {}", lc.name, what, lc.bind_address,
                                           lc.port, ec.message()));
    };
    const bool shared_port = network_shards_ > 1;
    if (shared_port) {
        // SO_REUSEPORT would also let a second Ironbridge (or anything of the
        // same user) join the port and silently take half the clients: a plain
        // bind first proves the port is free, and resolves port 0.
        tcp::acceptor probe(shards_[0]->ctx);
        probe.open(ep.protocol(), ec);
        if (ec) return fail("open a socket for");
        probe.set_option(tcp::acceptor::reuse_address(true), ec);
        probe.bind(ep, ec);
        if (ec) return fail("listen on");
        ep.port(probe.local_endpoint().port());
    }
    using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    for (std::size_t i = 0; i < network_shards_; ++i) {
        auto a = std::make_unique<tcp::acceptor>(shards_[i]->ctx);
        a->open(ep.protocol(), ec);
        if (ec) return fail("open a socket for");
        a->set_option(tcp::acceptor::reuse_address(true), ec);
        if (shared_port) a->set_option(reuse_port(true), ec);
        if (ec) return fail("share the port of");
        a->bind(ep, ec);
        if (ec) return fail("listen on");
        a->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return fail("listen on");
        ep.port(a->local_endpoint().port());
        l.acceptors.push_back(std::move(a));
    }
    l.port = ep.port();
    return {};
}

void BrokerCore::accept_next(ListenerState& l, std::size_t shard) {
    if (stopping.load()) return;
    Shard& target = *shards_[shard];
    l.acceptors[shard]->async_accept(target.ctx, [this, &l, &target, shard](const boost::system::error_code& ec,
                                                                           Socket sock) {
        if (ec == asio::error::operation_aborted || stopping.load()) return;
        if (ec) {
            // Out of descriptors or similar: say so, and retry shortly rather
            // than spin on a failing accept.
            IB_LOG_LIMITED_WARN("mqtt: listener '{}' accept failed: {}", l.config.name, ec.message());
            auto t = std::make_shared<asio::steady_timer>(target.ctx, std::chrono::milliseconds(100));
            t->async_wait([this, &l, t, shard](const boost::system::error_code&) { accept_next(l, shard); });
            return;
        }
        if (l.connections.load(std::memory_order_relaxed) >= l.config.max_connections) {
            target.counters.connections_refused_limit.add();
            IB_LOG_LIMITED_WARN("mqtt: listener '{}' is at max_connections {}: connection refused", l.config.name,
                                l.config.max_connections);
            boost::system::error_code ignored;
            sock.close(ignored);
        } else {
            l.connections.fetch_add(1, std::memory_order_relaxed);
            l.accepted.add();
            connections_current.add();
            target.counters.connections_accepted.add();
            ConnectionRef conn(new Connection(target, std::move(sock), l));
            target.add(conn);
            conn->start();
        }
        accept_next(l, shard);
    });
}

void BrokerCore::stop(std::function<void()> done) {
    if (stopping.exchange(true)) return;
    auto remaining = std::make_shared<std::atomic<std::size_t>>(shards_.size());
    auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
    asio::post(shards_[0]->ctx, [this] {
        if (sys_timer_) sys_timer_->cancel();
        if (tls_reload_timer_) tls_reload_timer_->cancel();
    });
    // Each acceptor is closed on its own loop, where its accept is pending.
    for (std::size_t i = 0; i < network_shards_; ++i) {
        asio::post(shards_[i]->ctx, [this, i] {
            for (auto& l : listeners_) {
                boost::system::error_code ec;
                if (i < l->acceptors.size()) l->acceptors[i]->close(ec);
            }
        });
    }
    const auto deadline = Clock::now() + kAckDrainLimit;
    for (auto& s : shards_) {
        Shard* sp = s.get();
        asio::post(sp->ctx, [this, sp, deadline, remaining, shared_done] {
            // No new PUBLISH from here on: what was read is acknowledged (once
            // durable) before the clients go; what was not is sent again by them.
            for (Connection& c : sp->connections) c.pause_reading(deadline + std::chrono::seconds(1));
            drain_then_disconnect(*sp, deadline, [remaining, shared_done] {
                if (remaining->fetch_sub(1) == 1 && *shared_done) (*shared_done)();
            });
        });
    }
}

void BrokerCore::drain_then_disconnect(Shard& s, Clock::time_point deadline, std::function<void()> done) {
    bool held = false;
    for (const Connection& c : s.connections) held = held || (c.holding_acks() && !c.closed());
    if (held && Clock::now() < deadline) {
        // Released by the durable subscribers' commits on their writer threads;
        // polled, as the release may come through any of them.
        auto t = std::make_shared<asio::steady_timer>(s.ctx, std::chrono::milliseconds(5));
        t->async_wait([this, &s, deadline, t, done = std::move(done)](const boost::system::error_code&) mutable {
            drain_then_disconnect(s, deadline, std::move(done));
        });
        return;
    }
    if (held) log::warn("mqtt: stopping with acknowledgements still held after {} s; their clients send again",
                        kAckDrainLimit.count());
    // The acks released meanwhile are in each connection's output, ahead of
    // the DISCONNECT, and written before the socket closes.
    std::vector<ConnectionRef> all;
    for (Connection& c : s.connections) all.push_back(c.ref());
    for (auto& c : all) c->disconnect_with(codec::reason::kServerShuttingDown, "server shutting down");
    s.flush();
    done();
}

std::vector<uint16_t> BrokerCore::ports() const {
    std::vector<uint16_t> out;
    for (const auto& l : listeners_) out.push_back(l->port);
    return out;
}

// ------------------------------------------------------------------ Router

std::expected<void, std::string> BrokerCore::publish(std::string_view topic, Bytes payload,
                                                     const PublishOptions& o) {
    if (!codec::valid_topic_name(topic) || !codec::valid_utf8(topic)) {
        return std::unexpected(fmt::format("cannot publish to '{}': not a valid topic name (empty, "
                                           "wildcards or invalid UTF-8)", topic));
    }
    if (topic_depth(topic) > config.max_topic_depth) {
        return std::unexpected(
            fmt::format("cannot publish to '{}': deeper than max_topic_depth {}", topic, config.max_topic_depth));
    }
    if (o.qos > 2) return std::unexpected(fmt::format("cannot publish to '{}': QoS {} does not exist", topic, o.qos));
    MessageInit init;
    init.topic = topic;
    init.payload = payload;
    init.qos = o.qos;
    init.retain = o.retain;
    init.message_expiry_interval = o.message_expiry_interval;
    init.content_type = o.content_type;
    init.response_topic = o.response_topic;
    init.correlation_data = o.correlation_data;
    MessageRef msg = Message::make(init, Clock::now());
    const int here = net::LoopPool::current_index();
    if (here >= 0 && static_cast<std::size_t>(here) < shards_.size()) {
        // On one of the loops (shard i runs loop i): route from there, in order.
        Shard& s = *shards_[static_cast<std::size_t>(here)];
        s.route(msg);
        s.flush();
        return {};
    }
    Shard& s = *shards_[0];
    asio::post(s.ctx, [&s, msg] {
        s.route(msg);
        s.flush();
    });
    return {};
}

std::expected<SubscriberId, std::string> BrokerCore::subscribe(std::string_view filter, asio::io_context& loop,
                                                               MessageHandler handler) {
    Shard::InProcessHandler h;
    h.plain = std::make_shared<MessageHandler>(std::move(handler));
    return subscribe_in_process(filter, loop, std::move(h));
}

std::expected<SubscriberId, std::string> BrokerCore::subscribe_durable(std::string_view filter, asio::io_context& loop,
                                                                       DurableHandler handler) {
    Shard::InProcessHandler h;
    h.durable = std::make_shared<DurableHandler>(std::move(handler));
    return subscribe_in_process(filter, loop, std::move(h));
}

namespace {
// Runs `fn` on `shard`'s loop: now when called there, else through its queue
// (which keeps it in order with everything else posted there).
template <typename F>
void on_shard(Shard& shard, F&& fn) {
    if (net::LoopPool::current_index() == static_cast<int>(shard.index)) {
        fn();
    } else {
        asio::post(shard.ctx, std::forward<F>(fn));
    }
}
}  // namespace

std::expected<SubscriberId, std::string> BrokerCore::subscribe_in_process(std::string_view filter,
                                                                          asio::io_context& loop,
                                                                          Shard::InProcessHandler handler) {
    auto shared = parse_shared(filter);
    if (!shared) return std::unexpected(fmt::format("topic filter '{}': {}", filter, shared.error()));
    std::string_view plain = *shared ? (*shared)->filter : filter;
    if (!codec::valid_topic_filter(plain) || !filter_wildcards_valid(plain)) {
        return std::unexpected(fmt::format("topic filter '{}' is malformed (wildcards misplaced or empty)", filter));
    }
    if (topic_depth(plain) > config.max_topic_depth) {
        return std::unexpected(fmt::format("topic filter '{}' is deeper than max_topic_depth {}", filter,
                                           config.max_topic_depth));
    }
    Shard* home = nullptr;
    for (auto& sh : shards_) {
        if (&sh->ctx == &loop) home = sh.get();
    }
    if (home == nullptr) {
        return std::unexpected(fmt::format("topic filter '{}': the handler's loop is not one of the broker's", filter));
    }
    const bool durable = handler.durable != nullptr;
    const SubscriberId id = (SubscriberId{home->index} << kShardShift) | kInProcessBit | (durable ? kDurableBit : 0) |
                            next_in_process_id_.fetch_add(1);
    {
        std::lock_guard lock(handlers_mutex);
        in_process_filters.emplace(id, std::string(filter));
    }
    // The handler is in place on its loop before any loop can route to it: the
    // registration is queued there before the tree change reaches any loop.
    on_shard(*home, [home, id, h = std::move(handler)]() mutable { home->handlers.emplace(id, std::move(h)); });
    apply_everywhere(TreeChange{true, std::string(filter), Subscription{id, SubscriptionOptions{2, false, true, 0, 0}}});
    // Retained messages follow, on the handler's loop, like a network client's.
    if (!filter.starts_with("$share/")) {
        on_shard(*home, [this, home, id, f = std::string(filter)] {
            std::vector<MessageRef> found;
            {
                std::lock_guard lock(retained_mutex);
                retained.match(f, Clock::now(), [&](const MessageRef& m) { found.push_back(m); });
            }
            auto it = home->handlers.find(id);
            if (it == home->handlers.end()) return;
            auto h = it->second;  // a handler may unsubscribe itself
            for (const auto& m : found) {
                if (h.durable) {
                    (*h.durable)(*m, DurableTicket{});
                } else {
                    (*h.plain)(*m);
                }
            }
        });
    }
    return id;
}

void BrokerCore::unsubscribe(SubscriberId id) {
    std::string filter;
    {
        std::lock_guard lock(handlers_mutex);
        auto it = in_process_filters.find(id);
        if (it == in_process_filters.end()) return;
        filter = std::move(it->second);
        in_process_filters.erase(it);
    }
    apply_everywhere(TreeChange{false, std::move(filter), Subscription{id, {}}});
    const std::size_t loop = shard_of(id);
    if (loop < shards_.size()) {
        Shard& home = *shards_[loop];
        on_shard(home, [&home, id] { home.handlers.erase(id); });
    }
}

void BrokerCore::apply_everywhere(TreeChange change) {
    // On a loop thread the change takes effect there at once; every other loop
    // (and a foreign thread's publishes, which go through loop 0) sees it in the
    // order of its queue.
    const int here = net::LoopPool::current_index();
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        Shard& s = *shards_[i];
        if (static_cast<int>(i) == here) {
            s.apply(change);
        } else {
            asio::post(s.ctx, [&s, change] { s.apply(change); });
        }
    }
}

// --------------------------------------------------------- $SYS and metrics

namespace {
template <typename F>
uint64_t sum_shards(const std::vector<std::unique_ptr<Shard>>& shards, F field) {
    uint64_t total = 0;
    for (const auto& s : shards) total += field(s->counters).get();
    return total;
}
}  // namespace

void BrokerCore::publish_sys() {
    if (stopping.load()) return;
    const auto& sh = shards_;
    auto sum = [&](auto field) { return sum_shards(sh, field); };
    uint64_t msgs_in = 0, msgs_out = 0;
    for (int q = 0; q < 3; ++q) {
        msgs_in += sum([q](ShardCounters& c) -> LocalCounter& { return c.messages_in[q]; });
        msgs_out += sum([q](ShardCounters& c) -> LocalCounter& { return c.messages_out[q]; });
    }
    std::size_t subs = 0, retained_count = 0;
    subs = subscriptions_current.get();
    {
        std::lock_guard lock(retained_mutex);
        retained_count = retained.size();
    }
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_at).count();
    auto pub = [&](std::string_view topic, const std::string& value) {
        PublishOptions o;
        o.retain = true;
        (void)publish(topic, as_bytes(value), o);
    };
    pub("$SYS/broker/version", "ironbridge " + version);
    pub("$SYS/broker/uptime", fmt::format("{} seconds", uptime));
    pub("$SYS/broker/clients/connected", std::to_string(connections_current.get()));
    pub("$SYS/broker/clients/total", std::to_string(sessions_current.get()));
    pub("$SYS/broker/messages/received", std::to_string(msgs_in));
    pub("$SYS/broker/messages/sent", std::to_string(msgs_out));
    pub("$SYS/broker/bytes/received",
        std::to_string(sum([](ShardCounters& c) -> LocalCounter& { return c.bytes_in; })));
    pub("$SYS/broker/bytes/sent", std::to_string(sum([](ShardCounters& c) -> LocalCounter& { return c.bytes_out; })));
    pub("$SYS/broker/publish/messages/dropped",
        std::to_string(sum([](ShardCounters& c) -> LocalCounter& { return c.dropped_queue_full; }) +
                       sum([](ShardCounters& c) -> LocalCounter& { return c.dropped_qos12_queue_full; })));
    pub("$SYS/broker/subscriptions/count", std::to_string(subs));
    pub("$SYS/broker/retained messages/count", std::to_string(retained_count));
    sys_timer_->expires_after(config.sys_interval);
    sys_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (!ec) publish_sys();
    });
}

void BrokerCore::collect_metrics(MetricSink& sink) const {
    auto add = [&](std::string name, std::string help, MetricType type, std::string labels, double v) {
        sink.push_back(MetricSample{std::move(name), std::move(help), type, std::move(labels), v});
    };
    auto sum = [&](auto field) { return static_cast<double>(sum_shards(shards_, field)); };
    using C = ShardCounters;
    auto G = MetricType::Gauge;
    auto K = MetricType::Counter;
    for (const auto& l : listeners_) {
        std::string lbl = fmt::format("listener=\"{}\"", l->config.name);
        add("ib_mqtt_connections", "Open client connections", G, lbl, l->connections.load());
        add("ib_mqtt_connections_accepted_total", "Connections accepted", K, lbl, static_cast<double>(l->accepted.get()));
        if (l->tls)
            add("ib_mqtt_tls_handshake_failures_total",
                "TLS handshakes that failed (bad or missing client certificate, protocol version, not TLS)", K, lbl,
                static_cast<double>(l->tls_handshake_failures.get()));
    }
    add("ib_mqtt_sessions", "Sessions, connected or kept for a disconnected client", G, "",
        static_cast<double>(sessions_current.get()));
    add("ib_mqtt_subscriptions", "Subscriptions of clients and in-process subscribers", G, "",
        static_cast<double>(subscriptions_current.get()));
    {
        std::lock_guard lock(retained_mutex);
        add("ib_mqtt_retained_messages", "Retained messages", G, "", static_cast<double>(retained.size()));
        add("ib_mqtt_retained_bytes", "Bytes held by retained messages", G, "", static_cast<double>(retained.bytes()));
    }
    for (int q = 0; q < 3; ++q) {
        std::string lbl = fmt::format("qos=\"{}\"", q);
        add("ib_mqtt_messages_received_total", "PUBLISH packets received from clients", K, lbl,
            sum([q](const C& c) -> const LocalCounter& { return c.messages_in[q]; }));
        add("ib_mqtt_messages_sent_total", "PUBLISH packets sent to clients", K, lbl,
            sum([q](const C& c) -> const LocalCounter& { return c.messages_out[q]; }));
    }
    add("ib_mqtt_bytes_received_total", "Bytes read from clients", K, "",
        sum([](const C& c) -> const LocalCounter& { return c.bytes_in; }));
    add("ib_mqtt_bytes_sent_total", "Bytes written to clients", K, "",
        sum([](const C& c) -> const LocalCounter& { return c.bytes_out; }));
    const char* dropped_help = "Messages not delivered, by reason";
    add("ib_mqtt_messages_dropped_total", dropped_help, K, "reason=\"queue_full_qos0\"",
        sum([](const C& c) -> const LocalCounter& { return c.dropped_queue_full; }));
    add("ib_mqtt_messages_dropped_total", dropped_help, K, "reason=\"queue_full_qos12\"",
        sum([](const C& c) -> const LocalCounter& { return c.dropped_qos12_queue_full; }));
    add("ib_mqtt_messages_dropped_total", dropped_help, K, "reason=\"expired\"",
        sum([](const C& c) -> const LocalCounter& { return c.dropped_expired; }));
    add("ib_mqtt_messages_dropped_total", dropped_help, K, "reason=\"too_large_for_client\"",
        sum([](const C& c) -> const LocalCounter& { return c.dropped_too_large_for_client; }));
    add("ib_mqtt_messages_dropped_total", dropped_help, K, "reason=\"topic_too_deep\"",
        sum([](const C& c) -> const LocalCounter& { return c.dropped_topic_too_deep; }));
    add("ib_mqtt_malformed_packets_total", "Packets refused as malformed (reason 0x81)", K, "",
        sum([](const C& c) -> const LocalCounter& { return c.malformed_packets; }));
    add("ib_mqtt_protocol_errors_total", "Packets refused as protocol errors (reason 0x82)", K, "",
        sum([](const C& c) -> const LocalCounter& { return c.protocol_errors; }));
    add("ib_mqtt_packets_too_large_total", "Packets refused for exceeding max_packet_size", K, "",
        sum([](const C& c) -> const LocalCounter& { return c.packets_too_large; }));
    for (std::size_t i = 0; i < kViolationCount; ++i)
        add("ib_mqtt_protocol_violations_total", "Connections closed for a protocol violation, by reason", K,
            fmt::format("reason=\"{}\"", kViolations[i].label),
            sum([i](const C& c) -> const LocalCounter& { return c.protocol_violations[i]; }));
    add("ib_mqtt_connect_timeouts_total", "Connections closed for sending no CONNECT in time", K, "",
        sum([](const C& c) -> const LocalCounter& { return c.connect_timeouts; }));
    add("ib_mqtt_keepalive_timeouts_total", "Connections closed for keep-alive expiry", K, "",
        sum([](const C& c) -> const LocalCounter& { return c.keepalive_timeouts; }));
    add("ib_mqtt_connections_refused_total", "Connections refused at max_connections", K, "reason=\"max_connections\"",
        sum([](const C& c) -> const LocalCounter& { return c.connections_refused_limit; }));
    add("ib_mqtt_subscriptions_refused_total", "Subscriptions refused at max_subscriptions_per_client", K, "",
        sum([](const C& c) -> const LocalCounter& { return c.subscriptions_refused_limit; }));
    add("ib_mqtt_retained_refused_total", "Retained messages not stored at max_retained_messages", K, "",
        sum([](const C& c) -> const LocalCounter& { return c.retained_refused_limit; }));
    add("ib_mqtt_redelivered_total", "Inflight messages resent after a reconnect", K, "",
        sum([](const C& c) -> const LocalCounter& { return c.inflight_redelivered; }));
}

// ------------------------------------------------------------------ Broker

Broker::Broker(const BrokerConfig& config, net::LoopPool& loops, std::string version, std::size_t shard_loops)
    : core_(std::make_unique<BrokerCore>(config, loops, shard_loops, std::move(version))) {}

Broker::~Broker() = default;

std::expected<void, std::string> Broker::start() { return core_->start(); }

void Broker::stop(std::function<void()> done) { core_->stop(std::move(done)); }

std::vector<uint16_t> Broker::ports() const { return core_->ports(); }

Router& Broker::router() { return *core_; }

void Broker::set_auth(auth::Auth* auth) { core_->auth = auth; }
void Broker::set_persistence(SessionPersistence* store) { core_->persistence = store; }
void Broker::set_file_transfer(FileTransferHook* hook) { core_->file_transfer = hook; }

void Broker::collect_metrics(MetricSink& sink) const { core_->collect_metrics(sink); }

namespace {
std::string_view protocol_name(codec::Version v) {
    switch (v) {
        case codec::Version::V31: return "3.1";
        case codec::Version::V311: return "3.1.1";
        case codec::Version::V5: return "5.0";
    }
    return "?";
}

// One session as JSON, read on its shard's loop.
void write_client(JsonWriter& w, const Session& s) {
    const Connection* c = s.connection();
    w.begin_object().field("client_id", s.client_id()).field("connected", c != nullptr);
    if (c != nullptr) w.field("peer", c->peer()).field("protocol", protocol_name(c->version()));
    w.field("queued", s.queued_count())
        .field("queued_bytes", s.queued_bytes())
        .field("inflight", s.inflight_count())
        .key("subscriptions")
        .begin_array();
    for (const auto& [filter, options] : s.subscriptions()) {
        w.begin_object().field("filter", filter).field("qos", options.qos).end_object();
    }
    w.end_array().end_object();
}
}  // namespace

void Broker::list_clients(std::size_t limit, asio::io_context& reply_on, std::function<void(std::string)> done) {
    // Each shard writes its part on its own loop; the last one to finish joins
    // them (in shard order) and hands the answer to `reply_on`.
    struct Gather {
        std::vector<std::string> parts;
        std::vector<std::size_t> counts;
        std::atomic<std::size_t> remaining;
        std::size_t limit;
        asio::io_context* reply_on;
        std::function<void(std::string)> done;
    };
    const std::size_t n = core_->loop_count();
    auto g = std::make_shared<Gather>();
    g->parts.resize(n);
    g->counts.resize(n);
    g->remaining = n;
    g->limit = limit;
    g->reply_on = &reply_on;
    g->done = std::move(done);
    for (std::size_t i = 0; i < n; ++i) {
        Shard& shard = core_->shard(i);
        asio::post(shard.ctx, [g, i, &shard] {
            std::size_t listed = 0;
            JsonWriter w(g->parts[i]);
            w.begin_array();
            shard.sessions.for_each([&](const Session& s) {
                if (listed++ < g->limit) write_client(w, s);
            });
            w.end_array();
            g->counts[i] = shard.sessions.size();
            if (g->remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
            std::string out;
            JsonWriter all(out);
            std::size_t total = 0;
            for (auto c : g->counts) total += c;
            all.begin_object().field("total", total).key("clients").begin_array();
            for (const auto& part : g->parts) {
                // Each part is an array; its items join the one list.
                std::string_view items = std::string_view(part).substr(1, part.size() - 2);
                if (!items.empty()) all.raw(items);
            }
            all.end_array().end_object();
            asio::post(*g->reply_on, [g, out = std::move(out)]() mutable { g->done(std::move(out)); });
        });
    }
}

}  // namespace ib::mqtt::broker
