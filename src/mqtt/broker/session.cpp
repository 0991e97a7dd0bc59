// Session state and the outgoing QoS flows: the queue of messages not yet sent,
// the inflight window, packet identifiers and redelivery.
#include <algorithm>

#include "core/log.hpp"
#include "mqtt/broker/broker_core.hpp"

namespace ib::mqtt::broker {

namespace {
// A connection with this much unwritten output is a slow consumer: further
// messages wait in the session queue, where the queue limits apply.
constexpr std::size_t kOutputHighWater = 4 * 1024 * 1024;
}  // namespace

std::unique_ptr<Session> Session::make(Shard& shard, SubscriberId id, std::string_view client_id) {
    IB_ASSERT(client_id.size() <= UINT16_MAX, "the codec refuses longer strings");
    // One allocation for the session and its client id: an id longer than a
    // std::string's 15 inline bytes would otherwise cost a second one.
    void* mem = ::operator new(sizeof(Session) + client_id.size());
    return std::unique_ptr<Session>(::new (mem) Session(shard, id, client_id));
}

Session::Session(Shard& shard, SubscriberId id, std::string_view client_id)
    : shard_(shard), id_(id), client_id_size_(static_cast<uint16_t>(client_id.size())) {
    std::copy(client_id.begin(), client_id.end(), reinterpret_cast<char*>(this + 1));
}

Session::~Session() = default;

SessionTable::SessionTable()
    : id_buckets_(kInitialBuckets),
      client_buckets_(kInitialBuckets),
      by_id_(ById::bucket_traits(id_buckets_.data(), id_buckets_.size())),
      by_client_(ByClient::bucket_traits(client_buckets_.data(), client_buckets_.size())) {}

SessionTable::~SessionTable() {
    by_client_.clear();
    by_id_.clear_and_dispose([](Session* s) { delete s; });
}

Session* SessionTable::find(SubscriberId id) const {
    auto it = by_id_.find(id, IdHash{}, IdEqual{});
    return it == by_id_.end() ? nullptr : const_cast<Session*>(&*it);
}

Session* SessionTable::find(std::string_view client_id) const {
    auto it = by_client_.find(client_id, ClientHash{}, ClientEqual{});
    return it == by_client_.end() ? nullptr : const_cast<Session*>(&*it);
}

namespace {
// Doubles the buckets once the set would hold more entries than buckets (load
// factor 1, like std::unordered_map).
template <typename Set, typename Buckets>
void grow_for(Set& set, Buckets& buckets, std::size_t entries) {
    if (entries <= buckets.size()) return;
    Buckets bigger(buckets.size() * 2);
    set.rehash(typename Set::bucket_traits(bigger.data(), bigger.size()));
    buckets.swap(bigger);
}
}  // namespace

Session& SessionTable::insert(std::unique_ptr<Session> owned) {
    grow_for(by_id_, id_buckets_, by_id_.size() + 1);
    grow_for(by_client_, client_buckets_, by_client_.size() + 1);
    Session* s = owned.release();
    by_id_.insert_unique(*s);
    by_client_.insert_unique(*s);
    return *s;
}

void SessionTable::erase(Session* s) {
    by_client_.erase(by_client_.iterator_to(*s));
    by_id_.erase(by_id_.iterator_to(*s));
    delete s;
}

const Session::SubscriptionMap& Session::subscriptions() const {
    static const SubscriptionMap kNone;
    return cold_ ? cold_->subscriptions : kNone;
}

asio::steady_timer& Session::expiry_timer() {
    Cold& c = cold();
    if (!c.expiry_timer) c.expiry_timer = std::make_unique<asio::steady_timer>(shard_.ctx);
    return *c.expiry_timer;
}

asio::steady_timer& Session::will_timer() {
    Cold& c = cold();
    if (!c.will_timer) c.will_timer = std::make_unique<asio::steady_timer>(shard_.ctx);
    return *c.will_timer;
}

void Session::attach(Connection* conn) {
    conn_ = conn;
    if (restore_pending) restore_stored();
    if (persistent()) {
        // While connected the session cannot expire; -1 says so to a later start.
        PersistOp op;
        op.kind = PersistOp::Kind::Session;
        op.text = client_id();
        op.expiry_s = expiry_interval_s;
        op.expires_at_ms = -1;
        persist(std::move(op));
    }
    if (cold_) {
        if (cold_->expiry_timer) cold_->expiry_timer->cancel();
        // [MQTT-3.1.3-9] A new connection before the Will Delay Interval has passed
        // means the delayed will is not sent.
        if (cold_->will_timer) cold_->will_timer->cancel();
        cold_->will.reset();
    }
}

void Session::detach() { conn_ = nullptr; }

void Session::persist(PersistOp op) {
    if (!persistent()) return;
    op.key = store_key(id_);
    shard_.persist_ops.push_back(std::move(op));
}

void Session::forget_stored(const QueuedMessage& m) {
    if (m.seq == 0) return;
    PersistOp op;
    op.kind = PersistOp::Kind::Remove;
    op.seq = m.seq;
    persist(std::move(op));
}

void Session::add_subscription(const std::string& filter, const SubscriptionOptions& opts) {
    cold().subscriptions[filter] = opts;
    if (!persistent()) return;
    PersistOp op;
    op.kind = PersistOp::Kind::Subscribe;
    op.text = filter;
    op.opts = opts;
    persist(std::move(op));
}

void Session::remove_subscription(const std::string& filter) {
    if (!cold_ || cold_->subscriptions.erase(filter) == 0 || !persistent()) return;
    PersistOp op;
    op.kind = PersistOp::Kind::Unsubscribe;
    op.text = filter;
    persist(std::move(op));
}

void Session::add_incoming_qos2(uint16_t packet_id, bool store) {
    cold().incoming_qos2.push_back(packet_id);
    ++incoming_qos2_count_;
    if (!store || !persistent()) return;
    PersistOp op;
    op.kind = PersistOp::Kind::IncomingAdd;
    op.packet_id = packet_id;
    persist(std::move(op));
}

bool Session::remove_incoming_qos2(uint16_t packet_id) {
    if (incoming_qos2_count_ == 0) return false;
    std::vector<uint16_t>& ids = cold_->incoming_qos2;
    auto it = std::find(ids.begin(), ids.end(), packet_id);
    if (it == ids.end()) return false;
    ids.erase(it);
    --incoming_qos2_count_;
    if (!persistent()) return true;
    PersistOp op;
    op.kind = PersistOp::Kind::IncomingDel;
    op.packet_id = packet_id;
    persist(std::move(op));
    return true;
}

bool Session::incoming_qos2_pending(uint16_t packet_id) const {
    if (incoming_qos2_count_ == 0) return false;
    const std::vector<uint16_t>& ids = cold_->incoming_qos2;
    return std::find(ids.begin(), ids.end(), packet_id) != ids.end();
}

void Session::restore_incoming_qos2(std::vector<uint16_t> ids) {
    if (ids.empty()) return;
    incoming_qos2_count_ = static_cast<uint16_t>(ids.size());
    cold().incoming_qos2 = std::move(ids);
}

void Session::restore_stored() {
    restore_pending = false;
    SessionPersistence* store = shard_.core.persistence;
    if (!store) return;
    std::vector<StoredMessage> rows = store->load_queue(store_key(id_), shard_.core.restored_below_seq);
    if (rows.empty()) return;
    // Stored rows are older than anything queued since the start: they go first.
    const std::size_t newer = queue_.size();
    for (StoredMessage& r : rows) {
        QueuedMessage m{std::move(r.msg), r.qos, r.retain, r.sub_ids, r.seq};
        if (r.state == StoredState::Queued || r.packet_id == 0) {
            queued_bytes_ += m.msg->footprint();
            queue_.push_back(std::move(m));
        } else {
            // A QoS 2 flow keeps its packet id across the restart, so the client
            // can tell a resent PUBLISH from a new one (and PUBREL follows PUBREC).
            inflight_.push_back(InflightMessage{r.packet_id,
                                                r.state == StoredState::AwaitPubrec
                                                    ? InflightMessage::State::AwaitPubrec
                                                    : InflightMessage::State::AwaitPubcomp,
                                                std::move(m)});
            last_packet_id_ = std::max(last_packet_id_, r.packet_id);
        }
    }
    for (std::size_t i = 0; i < newer; ++i) {
        QueuedMessage m = std::move(queue_.front());
        queue_.pop_front();
        queue_.push_back(std::move(m));
    }
}

uint16_t Session::next_packet_id() {
    // Identifiers are handed out in sequence; skip any still inflight after a
    // wrap-around ([MQTT-2.2.1-3] one identifier per unacknowledged packet).
    for (;;) {
        ++last_packet_id_;
        if (last_packet_id_ == 0) last_packet_id_ = 1;
        if (find_inflight(last_packet_id_) == inflight_.size()) return last_packet_id_;
    }
}

void Session::deliver(MessageRef msg, uint8_t qos, bool retain, const SubIds& sub_ids, uint64_t seq) {
    QueuedMessage m{std::move(msg), qos, retain, sub_ids, seq};
    if (conn_ && queue_.empty() && conn_->pending_output() < kOutputHighWater &&
        (qos == 0 || inflight_.size() < conn_->send_quota())) {
        send_now(m);
        return;
    }
    if (!conn_ && qos == 0) {
        // §4.1: QoS 0 messages are not kept for a disconnected session.
        return;
    }
    enqueue(std::move(m));
}

bool Session::send_in_place(std::string_view topic, Bytes payload) {
    if (!conn_ || !queue_.empty() || conn_->pending_output() >= kOutputHighWater || conn_->takes_topic_aliases()) {
        return false;
    }
    const auto version = conn_->version();
    const codec::Publish& p = shard_.publish_packet(topic, payload, 0, false);
    if (codec::encoded_size(p, version) > conn_->client_max_packet_size()) {
        // [MQTT-3.1.2-25] Discarded as if it had been delivered.
        shard_.counters.dropped_too_large_for_client.add();
        return true;
    }
    codec::encode(conn_->out(), p, version);
    shard_.counters.messages_out[0].add();
    conn_->mark_dirty();
    return true;
}

void Session::enqueue(QueuedMessage m) {
    const auto& cfg = shard_.core.config;
    const std::size_t size = m.msg->footprint();
    const bool over_limit =
        queue_.size() >= cfg.max_queued_messages || queued_bytes_ + size > cfg.max_queued_bytes;
    if (over_limit && conn_ && m.qos > 0) {
        // A connected client that reads slower than its publishers write: slow
        // the publisher down (its connection stops being read, TCP pushes back)
        // rather than drop messages that were acknowledged to it.
        Cold& c = cold();
        if (shard_.throttle_publisher(m.msg->origin(), c.last_throttled, c.last_throttle)) {
            // Messages already on their way still fit, up to the hard limit:
            // twice the limits, plus what can be in transit between shards.
            const bool hard = queue_.size() >= 2 * std::size_t{cfg.max_queued_messages} +
                                                    2 * BrokerCore::kMaxCrossShardBacklog ||
                              queued_bytes_ + size > 2 * cfg.max_queued_bytes;
            if (!hard) {
                queued_bytes_ += size;
                queue_.push_back(std::move(m));
                return;
            }
        }
    }
    if (over_limit) {
        // Policy: the oldest QoS 0 message makes room first; a QoS 1/2 message
        // is never dropped to make room, and one that cannot be queued (the
        // session is offline, or its publisher cannot be slowed down) is counted
        // and logged, never lost silently.
        std::size_t oldest_qos0 = 0;
        while (oldest_qos0 < queue_.size() && queue_[oldest_qos0].qos != 0) ++oldest_qos0;
        if (oldest_qos0 < queue_.size()) {
            queued_bytes_ -= queue_[oldest_qos0].msg->footprint();
            queue_.erase(oldest_qos0);
            shard_.counters.dropped_queue_full.add();
        } else if (m.qos == 0) {
            shard_.counters.dropped_queue_full.add();
            return;
        } else {
            shard_.counters.dropped_qos12_queue_full.add();
            IB_LOG_LIMITED_WARN("mqtt: session '{}' queue is full ({} messages, {} bytes): "
                                "QoS {} message on '{}' dropped",
                                client_id(), queue_.size(), queued_bytes_, m.qos, m.msg->topic());
            forget_stored(m);
            return;
        }
    }
    queued_bytes_ += size;
    queue_.push_back(std::move(m));
}

void Session::pump() {
    if (!conn_) return;
    const auto now = Clock::now();
    while (!queue_.empty() && conn_ && conn_->pending_output() < kOutputHighWater) {
        QueuedMessage& front = queue_.front();
        if (front.qos > 0 && inflight_.size() >= conn_->send_quota()) break;
        QueuedMessage m = std::move(front);
        queue_.pop_front();
        queued_bytes_ -= m.msg->footprint();
        if (m.msg->expired(now)) {
            shard_.counters.dropped_expired.add();
            forget_stored(m);
            continue;
        }
        send_now(m);
    }
}

bool Session::send_now(QueuedMessage& m) {
    if (!conn_) return false;
    // The clock is read only for messages that can expire.
    const auto now = m.msg->has_expiry() ? Clock::now() : Clock::time_point{};
    if (m.msg->expired(now)) {
        shard_.counters.dropped_expired.add();
        forget_stored(m);
        return false;
    }
    const auto version = conn_->version();
    if (m.sub_ids.count == 0 && !m.msg->has_expiry() && !conn_->takes_topic_aliases()) {
        // The same bytes as for the other subscribers of this message: encoded
        // once, from the second delivery on.
        if (const Shard::EncodedPublish* e = shard_.repeated_publish(m.msg, m.qos, m.retain, version)) {
            // [MQTT-3.1.2-25] A message larger than the client's Maximum Packet Size is
            // discarded as if it had been delivered.
            if (e->bytes.size() > conn_->client_max_packet_size()) {
                shard_.counters.dropped_too_large_for_client.add();
                forget_stored(m);
                return false;
            }
            auto& out = conn_->out();
            const std::size_t at = out.size();
            out.insert(out.end(), e->bytes.begin(), e->bytes.end());
            if (m.qos > 0) {
                const uint16_t id = take_inflight_id(m);
                out[at + e->packet_id_at] = static_cast<std::byte>(id >> 8);
                out[at + e->packet_id_at + 1] = static_cast<std::byte>(id & 0xff);
            }
        } else {
            codec::Publish& p = shard_.publish_packet(m.msg, m.qos, m.retain, version);
            if (codec::encoded_size(p, version) > conn_->client_max_packet_size()) {
                shard_.done_with_packet(version);
                shard_.counters.dropped_too_large_for_client.add();
                forget_stored(m);
                return false;
            }
            if (m.qos > 0) p.packet_id = take_inflight_id(m);
            codec::encode(conn_->out(), p, version);
            shard_.done_with_packet(version);
        }
        shard_.counters.messages_out[m.qos].add();
        conn_->mark_dirty();
        return true;
    }
    codec::Publish p;
    p.qos = m.qos;
    p.retain = m.retain;
    p.topic = m.msg->topic();
    p.payload = m.msg->payload();
    if (version == codec::Version::V5) {
        p.properties = m.msg->properties(now);
        for (uint8_t i = 0; i < m.sub_ids.count; ++i) p.properties.subscription_ids[i] = m.sub_ids.ids[i];
        p.properties.subscription_id_count = m.sub_ids.count;
        bool known = false;
        if (uint16_t alias = conn_->outgoing_alias(p.topic, known)) {
            p.properties.topic_alias = alias;
            if (known) p.topic = {};
        }
    }
    if (m.qos > 0) p.packet_id = 1;  // size only; the real id is taken below
    // [MQTT-3.1.2-25] A message larger than the client's Maximum Packet Size is
    // discarded as if it had been delivered.
    if (codec::encoded_size(p, version) > conn_->client_max_packet_size()) {
        shard_.counters.dropped_too_large_for_client.add();
        forget_stored(m);
        return false;
    }
    if (m.qos > 0) p.packet_id = take_inflight_id(m);
    codec::encode(conn_->out(), p, version);
    shard_.counters.messages_out[m.qos].add();
    conn_->mark_dirty();
    return true;
}

uint16_t Session::take_inflight_id(const QueuedMessage& m) {
    const uint16_t id = next_packet_id();
    if (m.qos == 2 && m.seq != 0) {
        // QoS 1 is resent under a new id after a restart; QoS 2 needs its id kept.
        PersistOp op;
        op.kind = PersistOp::Kind::State;
        op.seq = m.seq;
        op.state = StoredState::AwaitPubrec;
        op.packet_id = id;
        persist(std::move(op));
    }
    inflight_.push_back(InflightMessage{
        id, m.qos == 1 ? InflightMessage::State::AwaitPuback : InflightMessage::State::AwaitPubrec, m});
    return id;
}

void Session::resend_inflight() {
    if (!conn_) return;
    const auto version = conn_->version();
    const auto now = Clock::now();
    for (std::size_t i = 0; i < inflight_.size(); ++i) {
        InflightMessage& f = inflight_[i];
        if (f.state == InflightMessage::State::AwaitPubcomp) {
            codec::encode(conn_->out(), codec::Ack{codec::PacketType::Pubrel, f.packet_id, 0, {}}, version);
        } else {
            // [MQTT-4.4.0-1] Resend unacknowledged PUBLISH packets with DUP set,
            // with their original packet identifiers. Aliases are not carried over
            // from the previous connection, so the full topic goes out.
            codec::Publish p;
            p.qos = f.m.qos;
            p.retain = f.m.retain;
            p.dup = true;
            p.topic = f.m.msg->topic();
            p.payload = f.m.msg->payload();
            p.packet_id = f.packet_id;
            if (version == codec::Version::V5) {
                p.properties = f.m.msg->properties(now);
                for (uint8_t i = 0; i < f.m.sub_ids.count; ++i)
                    p.properties.subscription_ids[i] = f.m.sub_ids.ids[i];
                p.properties.subscription_id_count = f.m.sub_ids.count;
            }
            codec::encode(conn_->out(), p, version);
        }
        shard_.counters.inflight_redelivered.add();
    }
    if (!inflight_.empty()) conn_->mark_dirty();
}

std::size_t Session::find_inflight(uint16_t id) const {
    // Acknowledgements mostly arrive in send order, so the front usually matches.
    for (std::size_t i = 0; i < inflight_.size(); ++i)
        if (inflight_[i].packet_id == id) return i;
    return inflight_.size();
}

void Session::remove_inflight(std::size_t i) {
    if (i == 0)
        inflight_.pop_front();
    else
        inflight_.erase(i);
}

void Session::release_idle_memory() {
    queue_.release_if_empty();
    inflight_.release_if_empty();
}

bool Session::on_puback(uint16_t id) {
    std::size_t i = find_inflight(id);
    if (i == inflight_.size() || inflight_[i].state != InflightMessage::State::AwaitPuback) return false;
    forget_stored(inflight_[i].m);
    remove_inflight(i);
    pump();
    return true;
}

bool Session::on_pubrec(uint16_t id, uint8_t reason) {
    std::size_t i = find_inflight(id);
    if (i == inflight_.size()) return false;
    if (reason >= 0x80) {
        // §4.3.3: a PUBREC with an error ends the flow for that message.
        forget_stored(inflight_[i].m);
        remove_inflight(i);
        pump();
        return true;
    }
    inflight_[i].state = InflightMessage::State::AwaitPubcomp;
    if (inflight_[i].m.seq != 0) {
        PersistOp op;
        op.kind = PersistOp::Kind::State;
        op.seq = inflight_[i].m.seq;
        op.state = StoredState::AwaitPubcomp;
        op.packet_id = id;
        persist(std::move(op));
    }
    // The payload is no longer needed once PUBREL is the only thing left to send.
    if (conn_) {
        codec::encode(conn_->out(), codec::Ack{codec::PacketType::Pubrel, id, 0, {}}, conn_->version());
        conn_->mark_dirty();
    }
    return true;
}

bool Session::on_pubcomp(uint16_t id) {
    std::size_t i = find_inflight(id);
    if (i == inflight_.size() || inflight_[i].state != InflightMessage::State::AwaitPubcomp) return false;
    forget_stored(inflight_[i].m);
    remove_inflight(i);
    pump();
    return true;
}

}  // namespace ib::mqtt::broker
