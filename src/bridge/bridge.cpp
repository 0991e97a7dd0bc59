#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "bridge/bridge.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "core/clock.hpp"
#include "bridge/mqtt_link.hpp"
#include "bridge/topic_template.hpp"
#include "core/log.hpp"
#include "mqtt/broker/topic_match.hpp"
#include "mqtt/codec/codec.hpp"
#include "net/loop_check.hpp"
#include "store/outbox.hpp"

namespace ib::bridge {

namespace asio = boost::asio;
namespace codec = mqtt::codec;
using mqtt::broker::Message;
using mqtt::broker::SubscriberId;
using store::OutboxEntry;
using store::OutboxRecord;

std::string_view drop_reason_name(DropReason r) {
    switch (r) {
        case DropReason::QueueFull: return "queue_full";
        case DropReason::TooOld: return "too_old";
        case DropReason::OfflineQos0: return "offline_qos0";
        case DropReason::TooLarge: return "too_large";
        case DropReason::NoTopic: return "no_topic";
        case DropReason::Rejected: return "rejected";
        case DropReason::StoreError: return "store_error";
        case DropReason::Count: break;
    }
    return "?";
}

namespace {
// Committed messages kept in memory ahead of the sender, so live traffic is not
// read back from the file; beyond this they are loaded from it in pages.
constexpr std::size_t kMaxReadyBytes = 16u << 20;
constexpr std::size_t kLoadPage = 1024;
// Output not yet taken by the kernel beyond which the sender waits.
constexpr std::size_t kMaxPendingOutput = 512u << 10;
// Taken messages held in memory while the file refuses writes (disk full):
// beyond this new ones are dropped, counted.
constexpr std::size_t kMaxStagedBytes = 64u << 20;
constexpr auto kTick = std::chrono::seconds(1);
constexpr auto kDeleteDelay = std::chrono::milliseconds(50);
constexpr std::size_t kMaxAckedBeforeCommit = 8192;
constexpr int kDropLogEveryTicks = 10;

}  // namespace

struct Bridge::Impl {
    Impl(asio::io_context& io, BridgeConfig c, mqtt::broker::Router& r, std::string dir)
        : io(io), config(std::move(c)), router(r), data_dir(std::move(dir)), tick(io), delete_timer(io) {}

    asio::io_context& io;
    BridgeConfig config;
    mqtt::broker::Router& router;
    std::string data_dir;
    asio::steady_timer tick;
    asio::steady_timer delete_timer;
    bool delete_timer_armed = false;
    std::unique_ptr<store::Outbox> outbox;
    std::unique_ptr<MqttLink> link;
    std::vector<SubscriberId> local_subs;
    std::vector<TopicTemplate> forward_topics;
    std::vector<TopicTemplate> subscription_topics;
    bool running = false;

    // Taken, not yet committed: topic and payload bytes back to back in `arena`.
    struct Staged {
        uint32_t off = 0, topic_len = 0, payload_len = 0;
        uint8_t qos = 0;
        bool retain = false;
        int64_t ts_ms = 0;
    };
    std::string arena;
    std::vector<Staged> staged;
    std::vector<OutboxRecord> records;  // reused for each commit
    std::vector<uint64_t> acked;        // to delete at the next commit
    bool commit_posted = false;
    // Tickets of the messages taken since the last commit (Router::subscribe_durable).
    std::vector<mqtt::broker::DurableTicket> tickets;
    // Whether messages wait in memory under push-back: read by the durable gate
    // from the broker's loops, so an atomic copy of `!staged.empty()`.
    std::atomic<bool> holding{false};

    // Committed and not yet sent, in sequence order.
    std::deque<OutboxEntry> ready;
    std::size_t ready_bytes = 0;
    // Every entry up to this seq is in memory (ready), sent, or gone.
    uint64_t loaded_upto = 0;
    // The highest seq sent; caps never drop what is at or below it.
    uint64_t sent_upto = 0;
    std::vector<OutboxEntry> page;

    struct Inflight {
        OutboxEntry entry;
        bool released = false;  // QoS 2: PUBREC received, PUBREL sent
    };
    std::unordered_map<uint16_t, Inflight> inflight;
    uint16_t next_pid = 1;
    uint16_t subscribe_pid = 0;
    uint32_t window = 1;
    uint32_t max_packet = 0;  // the upstream's Maximum Packet Size; 0: no limit
    std::unordered_set<uint16_t> incoming_qos2;  // received, PUBREL not yet

    std::string topic_buf;
    std::vector<std::byte> direct_out;

    BridgeStatus counters;
    uint64_t dropped_logged[static_cast<int>(DropReason::Count)] = {};
    int ticks = 0;
    std::string last_store_error;

    // ------------------------------------------------------------ taking
    void drop(DropReason why, uint64_t n = 1) { counters.dropped[static_cast<int>(why)] += n; }

    std::size_t staged_bytes() const { return arena.size(); }

    bool backlog_empty() const {
        return staged.empty() && ready.empty() && loaded_upto + 1 >= outbox->next_seq();
    }

    std::size_t publish_size(std::string_view topic, std::size_t payload, uint8_t qos) const {
        codec::Publish p;
        p.topic = topic;
        p.qos = qos;
        p.packet_id = qos ? 1 : 0;
        return codec::encoded_size(p, link->version()) + payload;
    }

    // `ticket` is completed (dropped) once the message is committed, or at once
    // when it is sent straight out or dropped and counted.
    void take(const Message& m, std::size_t rule, mqtt::broker::DurableTicket ticket) {
        const ForwardRule& r = config.forwards[rule];
        if (!forward_topics[rule].expand(m.topic(), topic_buf)) {
            drop(DropReason::NoTopic);  // the template names a level this topic does not have
            return;
        }
        const uint8_t qos = r.qos;
        const Bytes payload = m.payload();
        if (max_packet != 0 && publish_size(topic_buf, payload.size(), qos) > max_packet) {
            drop(DropReason::TooLarge);
            return;
        }
        if (qos == 0 && link->connected() && backlog_empty()) {
            // Nothing waits ahead of it and QoS 0 is never acknowledged: straight out.
            send_publish(topic_buf, payload, 0, m.retain(), 0, false);
            counters.sent += 1;
            counters.acked += 1;
            link->flush();
            return;
        }
        if (qos == 0 && !link->connected() && !config.queue_qos0) {
            drop(DropReason::OfflineQos0);
            return;
        }
        const std::size_t size = topic_buf.size() + payload.size();
        if (config.queue_full == QueueFullPolicy::DropNew &&
            outbox->bytes() + staged_bytes() + size > config.max_queue_bytes) {
            drop(DropReason::QueueFull);
            return;
        }
        if (config.queue_full == QueueFullPolicy::PushBack && size > config.max_queue_bytes) {
            drop(DropReason::TooLarge);  // it would never fit: holding it would stall everything
            return;
        }
        if (staged_bytes() + size > kMaxStagedBytes) {
            // Held back beyond what memory should keep: only QoS 0 publishers (whose
            // messages carry no acknowledgement to withhold) can get here under push-back.
            drop(config.queue_full == QueueFullPolicy::PushBack ? DropReason::QueueFull : DropReason::StoreError);
            return;
        }
        Staged s;
        s.off = static_cast<uint32_t>(arena.size());
        s.topic_len = static_cast<uint32_t>(topic_buf.size());
        s.payload_len = static_cast<uint32_t>(payload.size());
        s.qos = qos;
        s.retain = m.retain();
        s.ts_ms = unix_ms();
        arena += topic_buf;
        arena += as_string_view(payload);
        staged.push_back(s);
        tickets.push_back(std::move(ticket));
        counters.taken += 1;
        holding.store(config.queue_full == QueueFullPolicy::PushBack, std::memory_order_relaxed);
        schedule_commit();
    }

    // Acknowledged entries are deleted in batches: a delete that a crash loses
    // only means a duplicate after the restart, so it need not cost a
    // transaction per turn (during a drain that was one per round trip).
    void schedule_delete() {
        if (acked.size() >= kMaxAckedBeforeCommit) return schedule_commit();
        if (delete_timer_armed) return;
        delete_timer_armed = true;
        delete_timer.expires_after(kDeleteDelay);
        delete_timer.async_wait([this](const boost::system::error_code& ec) {
            delete_timer_armed = false;
            if (!ec && running) commit();
        });
    }

    // Every message taken in one turn of the loop goes into one transaction:
    // its publishers' acknowledgements wait for it.
    void schedule_commit() {
        if (commit_posted) return;
        commit_posted = true;
        asio::post(io, [this] {
            commit_posted = false;
            commit();
        });
    }

    // Under push-back, how many of the staged messages the queue has room for.
    std::size_t admissible() const {
        if (config.queue_full != QueueFullPolicy::PushBack) return staged.size();
        uint64_t bytes = outbox->bytes();
        std::size_t n = 0;
        for (const Staged& s : staged) {
            const uint64_t size = s.topic_len + s.payload_len;
            if (bytes + size > config.max_queue_bytes) break;
            bytes += size;
            ++n;
        }
        return n;
    }

    void commit() {
        // Whatever this commit does with them, the messages taken so far have
        // had their turn: in the file, or (push-back, a failed write) waiting in
        // memory while `holding` keeps the durable gate closed.
        struct CompleteTickets {
            Impl& b;
            ~CompleteTickets() {
                b.holding.store(b.running && b.config.queue_full == QueueFullPolicy::PushBack && !b.staged.empty(),
                                std::memory_order_relaxed);
                b.tickets.clear();
            }
        } complete{*this};
        if (staged.empty() && acked.empty()) return;
        const std::size_t take_n = admissible();
        records.clear();
        for (std::size_t i = 0; i < take_n; ++i) {
            const Staged& s = staged[i];
            OutboxRecord r;
            r.topic = std::string_view(arena).substr(s.off, s.topic_len);
            r.payload = as_bytes(std::string_view(arena).substr(s.off + s.topic_len, s.payload_len));
            r.qos = s.qos;
            r.retain = s.retain;
            r.ts_ms = s.ts_ms;
            records.push_back(r);
        }
        auto first = outbox->commit(records, acked);
        if (!first) {
            // Kept in memory and retried at the next tick: a full disk may clear.
            counters.store_errors += 1;
            if (first.error() != last_store_error) {
                log::error("bridge '{}': {}; {} messages wait in memory and are retried every second", config.name,
                           first.error(), staged.size());
                last_store_error = first.error();
            }
            return;
        }
        if (!last_store_error.empty()) {
            log::info("bridge '{}': the queue file accepts writes again", config.name);
            last_store_error.clear();
        }
        acked.clear();
        uint64_t seq = *first;
        for (std::size_t i = 0; i < take_n; ++i) {
            const Staged& s = staged[i];
            if (loaded_upto + 1 == seq && ready_bytes < kMaxReadyBytes) {
                OutboxEntry e;
                e.seq = seq;
                e.ts_ms = s.ts_ms;
                e.qos = s.qos;
                e.retain = s.retain;
                e.topic_len = s.topic_len;
                e.data.assign(arena, s.off, s.topic_len + s.payload_len);
                ready_bytes += e.size();
                ready.push_back(std::move(e));
                loaded_upto = seq;
            }
            ++seq;
        }
        if (take_n == staged.size()) {
            staged.clear();
            arena.clear();
            if (arena.capacity() > (1u << 20)) arena.shrink_to_fit();
        } else {
            // Push-back: the rest waits in memory, in order, for the room acks make.
            const uint32_t cut = take_n < staged.size() ? staged[take_n].off : 0;
            arena.erase(0, cut);
            staged.erase(staged.begin(), staged.begin() + static_cast<std::ptrdiff_t>(take_n));
            for (Staged& s : staged) s.off -= cut;
        }
        enforce_byte_cap();
        pump();
        // This commit's deletes made room that the held messages can use now,
        // rather than at the next tick.
        if (take_n > 0 && !staged.empty() && admissible() > 0) schedule_commit();
    }

    // Removes from memory what a cap removed from the file.
    void forget_dropped(uint64_t last_seq) {
        while (!ready.empty() && ready.front().seq <= last_seq) {
            ready_bytes -= ready.front().size();
            ready.pop_front();
        }
    }

    void enforce_byte_cap() {
        if (config.queue_full != QueueFullPolicy::DropOldest || outbox->bytes() <= config.max_queue_bytes) return;
        uint64_t last = 0;
        auto d = outbox->drop_oldest(sent_upto, outbox->bytes() - config.max_queue_bytes, last);
        if (!d) {
            counters.store_errors += 1;
            log::error("bridge '{}': {}", config.name, d.error());
            return;
        }
        drop(DropReason::QueueFull, d->messages);
        forget_dropped(last);
    }

    void enforce_age_cap() {
        if (config.max_queue_age.count() == 0) return;
        const int64_t cutoff = unix_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(config.max_queue_age).count();
        uint64_t last = 0;
        auto d = outbox->drop_older_than(sent_upto, cutoff, last);
        if (!d) {
            counters.store_errors += 1;
            log::error("bridge '{}': {}", config.name, d.error());
            return;
        }
        drop(DropReason::TooOld, d->messages);
        forget_dropped(last);
    }

    // ------------------------------------------------------------ sending
    uint16_t alloc_pid() {
        for (;;) {
            uint16_t pid = next_pid++;
            if (next_pid == 0) next_pid = 1;
            if (pid != 0 && pid != subscribe_pid && !inflight.contains(pid)) return pid;
        }
    }

    void send_publish(std::string_view topic, Bytes payload, uint8_t qos, bool retain, uint16_t pid, bool dup) {
        codec::Publish p;
        p.topic = topic;
        p.payload = payload;
        p.qos = qos;
        p.retain = retain;
        p.packet_id = pid;
        p.dup = dup;
        codec::encode(link->output(), p, link->version());
    }

    // Sends from the queue, oldest first, while the window and the socket allow.
    void pump() {
        if (!link || !link->connected()) return;
        bool wrote = false;
        while (inflight.size() < window && link->pending_output() < kMaxPendingOutput) {
            if (ready.empty() && !refill()) break;
            OutboxEntry e = std::move(ready.front());
            ready.pop_front();
            ready_bytes -= e.size();
            sent_upto = e.seq;
            counters.sent += 1;
            wrote = true;
            if (e.qos == 0) {
                send_publish(e.topic(), e.payload(), 0, e.retain, 0, false);
                acked.push_back(e.seq);
                counters.acked += 1;
                schedule_delete();
                continue;
            }
            const uint16_t pid = alloc_pid();
            send_publish(e.topic(), e.payload(), e.qos, e.retain, pid, false);
            inflight.emplace(pid, Inflight{std::move(e), false});
        }
        if (wrote) link->flush();
    }

    // Loads the next page from the file; false when nothing is left to send.
    bool refill() {
        if (loaded_upto + 1 >= outbox->next_seq()) return false;
        page.clear();
        if (auto r = outbox->load(loaded_upto, kLoadPage, page); !r) {
            counters.store_errors += 1;
            log::error("bridge '{}': {}", config.name, r.error());
            return false;
        }
        loaded_upto = page.size() < kLoadPage ? outbox->next_seq() - 1 : page.back().seq;
        for (auto& e : page) {
            ready_bytes += e.size();
            ready.push_back(std::move(e));
        }
        page.clear();
        return !ready.empty();
    }

    void finish(uint16_t pid, uint8_t reason) {
        auto it = inflight.find(pid);
        if (it == inflight.end()) return;  // a late or duplicate ack
        if (reason >= 0x80) {
            // The upstream refused it (not authorized, say): retrying would block the
            // queue forever, so it leaves, counted and logged.
            drop(DropReason::Rejected);
            log::warn("bridge '{}': the upstream refused a message on '{}' with reason 0x{:02X}", config.name,
                      it->second.entry.topic(), reason);
        } else {
            counters.acked += 1;
        }
        acked.push_back(it->second.entry.seq);
        inflight.erase(it);
        schedule_delete();
    }

    // ------------------------------------------------------------ link events
    void on_connected(bool session_present, const codec::Connack& ack) {
        window = std::min<uint32_t>(config.inflight, ack.properties.receive_maximum.value_or(65535));
        max_packet = ack.properties.maximum_packet_size.value_or(0);
        counters.connects += 1;
        if (!config.subscriptions.empty()) {
            codec::Subscribe s;
            subscribe_pid = alloc_pid();
            s.packet_id = subscribe_pid;
            for (const auto& r : config.subscriptions) s.topics.push_back(codec::SubscribeTopic{r.remote, r.qos});
            codec::encode(link->output(), s, link->version());
        }
        // [MQTT-4.4.0-1] Unacknowledged PUBLISH and PUBREL go again, oldest first,
        // with their packet ids. Without a session the upstream has forgotten the
        // flows: every one is sent again as a PUBLISH (a duplicate at worst).
        std::vector<std::pair<uint64_t, uint16_t>> order;
        for (const auto& [pid, f] : inflight) order.emplace_back(f.entry.seq, pid);
        std::sort(order.begin(), order.end());
        for (const auto& [seq, pid] : order) {
            Inflight& f = inflight.at(pid);
            if (f.released && session_present) {
                codec::encode(link->output(), codec::Ack{codec::PacketType::Pubrel, pid, 0, {}}, link->version());
                continue;
            }
            f.released = false;
            send_publish(f.entry.topic(), f.entry.payload(), f.entry.qos, f.entry.retain, pid, true);
            counters.resent += 1;
        }
        link->flush();
        pump();
    }

    void on_packet(const codec::Packet& p) {
        if (const auto* a = std::get_if<codec::Ack>(&p)) {
            switch (a->type) {
                case codec::PacketType::Puback: finish(a->packet_id, a->reason_code); break;
                case codec::PacketType::Pubrec: {
                    auto it = inflight.find(a->packet_id);
                    if (it == inflight.end()) break;
                    if (a->reason_code >= 0x80) {
                        finish(a->packet_id, a->reason_code);
                        break;
                    }
                    it->second.released = true;
                    codec::encode(link->output(), codec::Ack{codec::PacketType::Pubrel, a->packet_id, 0, {}},
                                  link->version());
                    link->flush();
                    break;
                }
                case codec::PacketType::Pubcomp: finish(a->packet_id, 0); break;
                case codec::PacketType::Pubrel:
                    incoming_qos2.erase(a->packet_id);
                    codec::encode(link->output(), codec::Ack{codec::PacketType::Pubcomp, a->packet_id, 0, {}},
                                  link->version());
                    link->flush();
                    break;
                default: break;
            }
            return;  // the sender refills once per read: read_done
        }
        if (const auto* pub = std::get_if<codec::Publish>(&p)) return on_remote_publish(*pub);
        if (const auto* s = std::get_if<codec::Suback>(&p)) {
            for (std::size_t i = 0; i < s->reason_codes.size() && i < config.subscriptions.size(); ++i) {
                if (s->reason_codes[i] >= 0x80) {
                    log::error("bridge '{}': the upstream refused the subscription '{}' (reason 0x{:02X})", config.name,
                               config.subscriptions[i].remote, s->reason_codes[i]);
                }
            }
            if (s->packet_id == subscribe_pid) subscribe_pid = 0;
        }
    }

    void on_remote_publish(const codec::Publish& p) {
        const bool first_time = p.qos < 2 || incoming_qos2.insert(p.packet_id).second;
        if (first_time) {
            std::size_t rule = 0;
            while (rule < config.subscriptions.size() &&
                   !mqtt::broker::topic_matches(config.subscriptions[rule].remote, p.topic)) {
                ++rule;
            }
            if (rule < config.subscriptions.size() && subscription_topics[rule].expand(p.topic, topic_buf)) {
                mqtt::broker::PublishOptions o;
                o.qos = p.qos;
                o.retain = p.retain;
                if (auto r = router.publish(topic_buf, p.payload, o); !r) {
                    log::warn("bridge '{}': message from '{}' not published locally: {}", config.name, p.topic, r.error());
                } else {
                    counters.received += 1;
                }
            } else {
                log::warn("bridge '{}': message on '{}' matches no subscription of this bridge; ignored", config.name,
                          p.topic);
            }
        }
        if (p.qos == 1) {
            codec::encode(link->output(), codec::Ack{codec::PacketType::Puback, p.packet_id, 0, {}}, link->version());
        } else if (p.qos == 2) {
            codec::encode(link->output(), codec::Ack{codec::PacketType::Pubrec, p.packet_id, 0, {}}, link->version());
        }
        link->flush();
    }

    void on_tick() {
        if (!running) return;
        if (!staged.empty() || !acked.empty()) commit();  // a commit that failed is retried here
        enforce_age_cap();
        if (++ticks % kDropLogEveryTicks == 0) log_drops();
        pump();
        tick.expires_after(kTick);
        tick.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) on_tick();
        });
    }

    // One summary line for what was dropped since the last one, never one per message.
    void log_drops() {
        std::string text;
        uint64_t total = 0;
        for (int i = 0; i < static_cast<int>(DropReason::Count); ++i) {
            const uint64_t n = counters.dropped[i] - dropped_logged[i];
            if (n == 0) continue;
            total += n;
            if (!text.empty()) text += ", ";
            text += std::to_string(n) + " " + std::string(drop_reason_name(static_cast<DropReason>(i)));
            dropped_logged[i] = counters.dropped[i];
        }
        if (total) log::warn("bridge '{}': dropped {} messages in the last {} s ({})", config.name, total, kDropLogEveryTicks, text);
    }
};

Bridge::Bridge(asio::io_context& io, BridgeConfig config, mqtt::broker::Router& router, std::string data_dir)
    : impl_(std::make_unique<Impl>(io, std::move(config), router, std::move(data_dir))) {}

Bridge::~Bridge() { stop(); }

const BridgeConfig& Bridge::config() const { return impl_->config; }

std::expected<void, std::string> Bridge::start() {
    Impl& b = *impl_;
    for (const auto& f : b.config.forwards) {
        auto t = TopicTemplate::parse(f.remote);
        if (!t) return std::unexpected("bridge '" + b.config.name + "': forward remote '" + f.remote + "': " + t.error());
        b.forward_topics.push_back(std::move(*t));
    }
    for (const auto& s : b.config.subscriptions) {
        auto t = TopicTemplate::parse(s.local);
        if (!t) return std::unexpected("bridge '" + b.config.name + "': subscription local '" + s.local + "': " + t.error());
        b.subscription_topics.push_back(std::move(*t));
    }
    auto box = store::Outbox::open(b.data_dir + "/bridge-" + b.config.name + ".db");
    if (!box) return std::unexpected("bridge '" + b.config.name + "': cannot open its queue: " + box.error());
    b.outbox = std::move(*box);
    if (!b.outbox->recovered_from().empty()) {
        log::error("bridge '{}': the queue file was unreadable and has been moved aside to {}; starting with an empty queue",
                   b.config.name, b.outbox->recovered_from());
    }
    if (b.outbox->messages() > 0) {
        log::info("bridge '{}': {} messages ({} bytes) waiting in the queue from an earlier run", b.config.name,
                  b.outbox->messages(), b.outbox->bytes());
    }
    b.counters.name = b.config.name;
    b.counters.enabled = b.config.enabled;
    if (!b.config.enabled) return {};
    LinkEvents events;
    events.connected = [&b](bool present, const codec::Connack& ack) { b.on_connected(present, ack); };
    events.packet = [&b](const codec::Packet& p) { b.on_packet(p); };
    events.disconnected = [&b](const std::string& why, bool was_connected) {
        b.counters.last_error = why;
        if (was_connected) {
            b.counters.last_disconnect = why;
            b.counters.last_disconnect_ms = unix_ms();
        }
    };
    events.writable = [&b] { b.pump(); };
    events.read_done = [&b] { b.pump(); };
    b.link = std::make_unique<MqttLink>(b.io, b.config, std::move(events));
    for (std::size_t i = 0; i < b.config.forwards.size(); ++i) {
        auto id = b.router.subscribe_durable(b.config.forwards[i].local, b.io, [&b, i](const Message& m, mqtt::broker::DurableTicket t) {
            b.take(m, i, std::move(t));
        });
        if (!id) return std::unexpected("bridge '" + b.config.name + "': " + id.error());
        b.local_subs.push_back(*id);
    }
    b.running = true;
    b.link->start();
    b.on_tick();
    return {};
}

void Bridge::stop() {
    IB_ASSERT_ON_LOOP(impl_->io);
    Impl& b = *impl_;
    if (!b.running) return;
    b.running = false;
    for (SubscriberId id : b.local_subs) b.router.unsubscribe(id);
    b.local_subs.clear();
    b.tick.cancel();
    b.delete_timer.cancel();
    b.commit();
    if (b.link) b.link->stop();
}

bool Bridge::holding_back() const {
    return impl_->holding.load(std::memory_order_relaxed);
}

BridgeStatus Bridge::status() const {
    IB_ASSERT_ON_LOOP(impl_->io);
    const Impl& b = *impl_;
    BridgeStatus s = b.counters;
    s.held_messages = b.config.queue_full == QueueFullPolicy::PushBack ? b.staged.size() : 0;
    s.pushing_back = holding_back();
    s.connected = b.link && b.link->connected();
    s.server = b.link ? b.link->server() : "";
    if (b.outbox) {
        s.backlog_messages = b.outbox->messages() + b.staged.size();
        s.backlog_bytes = b.outbox->bytes() + b.staged_bytes();
        s.queue_file_bytes = b.outbox->file_bytes();
        std::optional<int64_t> oldest = b.outbox->oldest_ts();
        if (!oldest && !b.staged.empty()) oldest = b.staged.front().ts_ms;
        if (oldest) s.oldest_age_s = std::max<double>(0, static_cast<double>(unix_ms() - *oldest) / 1000.0);
    }
    s.inflight = b.inflight.size();
    return s;
}

void Bridge::collect_metrics(MetricSink& sink) const {
    IB_ASSERT_ON_LOOP(impl_->io);
    const BridgeStatus s = status();
    const std::string label = "bridge=\"" + s.name + "\"";
    auto add = [&](const char* name, const char* help, MetricType type, double v, const std::string& labels) {
        sink.push_back(MetricSample{name, help, type, labels, v});
    };
    const auto G = MetricType::Gauge;
    const auto C = MetricType::Counter;
    add("ib_bridge_connected", "1 while the bridge's link to its upstream broker is up", G, s.connected ? 1 : 0, label);
    add("ib_bridge_pushing_back", "1 while a full queue withholds local publishers' acknowledgements (push-back)", G,
        s.pushing_back ? 1 : 0, label);
    add("ib_bridge_held_messages", "Messages held in memory until the queue has room (push-back)", G,
        static_cast<double>(s.held_messages), label);
    add("ib_bridge_backlog_messages", "Messages in the bridge's disk queue, not yet acknowledged upstream", G,
        static_cast<double>(s.backlog_messages), label);
    add("ib_bridge_backlog_bytes", "Topic and payload bytes in the bridge's disk queue", G,
        static_cast<double>(s.backlog_bytes), label);
    add("ib_bridge_oldest_backlog_age_seconds", "Age of the oldest message in the bridge's queue", G, s.oldest_age_s,
        label);
    add("ib_bridge_queue_file_bytes", "Size of the bridge's queue file and its WAL", G,
        static_cast<double>(s.queue_file_bytes), label);
    add("ib_bridge_inflight", "Messages sent upstream and not yet acknowledged", G, static_cast<double>(s.inflight),
        label);
    add("ib_bridge_messages_taken_total", "Messages appended to the bridge's queue", C, static_cast<double>(s.taken),
        label);
    add("ib_bridge_messages_sent_total", "Messages sent upstream (first attempts)", C, static_cast<double>(s.sent), label);
    add("ib_bridge_messages_acked_total", "Messages acknowledged by the upstream", C, static_cast<double>(s.acked),
        label);
    add("ib_bridge_messages_resent_total", "Messages sent again after a reconnect (possible duplicates)", C,
        static_cast<double>(s.resent), label);
    add("ib_bridge_messages_received_total", "Messages received from the upstream and published locally", C,
        static_cast<double>(s.received), label);
    for (int i = 0; i < static_cast<int>(DropReason::Count); ++i) {
        add("ib_bridge_messages_dropped_total", "Messages selected for forwarding that will not reach the upstream", C,
            static_cast<double>(s.dropped[i]),
            label + ",reason=\"" + std::string(drop_reason_name(static_cast<DropReason>(i))) + "\"");
    }
    add("ib_bridge_connects_total", "Successful connections to the upstream", C, static_cast<double>(s.connects), label);
    add("ib_bridge_store_errors_total", "Failed writes or reads of the bridge's queue file", C,
        static_cast<double>(s.store_errors), label);
}

}  // namespace ib::bridge
