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
#include "bridge/file_forwarder.hpp"
#include "bridge/mqtt_link.hpp"
#include "store/outbox_writer.hpp"
#include "bridge/topic_template.hpp"
#include "core/log.hpp"
#include "mqtt/broker/topic_match.hpp"
#include "mqtt/codec/codec.hpp"
#include "net/loop_check.hpp"

namespace ib::bridge {

namespace asio = boost::asio;
namespace codec = mqtt::codec;
using mqtt::broker::Message;
using mqtt::broker::SubscriberId;
using store::CommitResult;
using store::DropResult;
using store::LoadResult;
using store::OutboxEntry;
using store::OutboxWriter;
using store::QueueFacts;
using store::StagedBatch;

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
// Taken messages held in memory while the file refuses or delays writes (a
// full or stalled disk): beyond this new ones are dropped, counted.
constexpr std::size_t kMaxStagedBytes = 64u << 20;
constexpr auto kTick = std::chrono::seconds(1);
constexpr auto kDeleteDelay = std::chrono::milliseconds(50);
constexpr std::size_t kMaxAckedBeforeCommit = 8192;
constexpr std::size_t kMaxCommitsInFlight = 2;
constexpr int kDropLogEveryTicks = 10;

}  // namespace

struct Bridge::Impl {
    Impl(asio::io_context& io, BridgeConfig c, mqtt::broker::Router& r, std::string dir, std::string node)
        : io(io), config(std::move(c)), router(r), data_dir(std::move(dir)), node(std::move(node)), tick(io),
          delete_timer(io) {}

    asio::io_context& io;
    BridgeConfig config;
    mqtt::broker::Router& router;
    std::string data_dir;
    std::string node;
    // `config` as the upstream sees it (the client id filled in); the link and
    // the file forwarder keep a reference to it.
    BridgeConfig upstream;
    // Files received over MQTT, sent upstream on a link of their own (forward_files).
    std::unique_ptr<FileForwarder> files;
    asio::steady_timer tick;
    asio::steady_timer delete_timer;
    bool delete_timer_armed = false;
    // The disk queue, on its writer thread; the loop's view of it is below.
    std::unique_ptr<OutboxWriter> queue;
    std::unique_ptr<MqttLink> link;
    std::vector<SubscriberId> local_subs;
    std::vector<TopicTemplate> forward_topics;
    std::vector<TopicTemplate> subscription_topics;
    bool running = false;
    ControlChannel control;
    // Packet ids of control publishes not yet acknowledged.
    std::unordered_set<uint16_t> control_pids;

    // Taken, not yet submitted; `spare` is a committed batch's memory, reused.
    StagedBatch staged, spare;
    std::vector<uint64_t> acked;  // to delete at the next commit
    bool commit_posted = false;
    // Up to kMaxCommitsInFlight commits are with the writer: one running and
    // one queued behind it, which the writer starts as soon as the first has
    // returned (no round trip through this loop between them, which cost the
    // fill with the cloud down a hand-off per message). What is taken beyond
    // that waits in `staged` and goes in the next, so a slower disk makes bigger
    // transactions. Should a commit fail, the one behind it comes back untried;
    // both wait in `returned` until neither is with the writer, and go back
    // ahead of `staged`, keeping the order.
    struct InFlight {
        uint64_t messages = 0, bytes = 0;
        std::optional<int64_t> oldest_ts;
    };
    std::deque<InFlight> commits_in_flight;
    StagedBatch returned;
    std::vector<uint64_t> returned_acked;
    bool commit_wanted = false;  // asked for while the writer was full or failing
    uint64_t committing_messages = 0, committing_bytes = 0;
    bool load_in_flight = false;
    bool age_drop_in_flight = false;
    // Tickets of the messages taken since the last commit (Router::subscribe_durable).
    std::vector<mqtt::broker::DurableTicket> tickets;
    // Whether messages wait in memory for room under push-back: read by the
    // durable gate from the broker's loops, so an atomic.
    std::atomic<bool> holding{false};

    // Committed and not yet sent, in sequence order.
    std::deque<OutboxEntry> ready;
    std::size_t ready_bytes = 0;
    // Every entry up to this seq is in memory (ready), sent, or gone.
    uint64_t loaded_upto = 0;

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

    bool push_back() const { return config.queue_full == QueueFullPolicy::PushBack; }

    // In the file, or on the way there.
    uint64_t queued_bytes() const { return queue->facts().bytes + committing_bytes; }

    bool backlog_empty() const {
        return staged.empty() && commits_in_flight.empty() && ready.empty() &&
               loaded_upto + 1 >= queue->facts().next_seq;
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
            queued_bytes() + staged.bytes() + size > config.max_queue_bytes) {
            drop(DropReason::QueueFull);
            return;
        }
        if (push_back() && size > config.max_queue_bytes) {
            drop(DropReason::TooLarge);  // it would never fit: holding it would stall everything
            return;
        }
        if (staged.bytes() + committing_bytes + size > kMaxStagedBytes) {
            // Held back beyond what memory should keep: only QoS 0 publishers (whose
            // messages carry no acknowledgement to withhold) can get here under push-back.
            drop(push_back() ? DropReason::QueueFull : DropReason::StoreError);
            return;
        }
        staged.add(topic_buf, payload, qos, m.retain(), unix_ms());
        tickets.push_back(std::move(ticket));
        counters.taken += 1;
        // No room for it: the gate closes before its ticket can complete (commit()).
        if (push_back() && queued_bytes() + staged.bytes() > config.max_queue_bytes) {
            holding.store(true, std::memory_order_relaxed);
        }
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
        if (!push_back()) return staged.size();
        uint64_t bytes = queued_bytes();
        std::size_t n = 0;
        for (const StagedBatch::Item& i : staged.items) {
            const uint64_t size = i.topic_len + i.payload_len;
            if (bytes + size > config.max_queue_bytes) break;
            bytes += size;
            ++n;
        }
        return n;
    }

    // Hands what was taken (as much as the queue has room for under push-back)
    // and what was acknowledged to the writer as one transaction. The tickets go
    // with it: they complete once it has returned. Messages left in memory
    // (push-back) keep `holding` set, which keeps the durable gate closed, so
    // their publishers' acknowledgements stay withheld though the ticket completes.
    void commit() {
        // Behind a failing commit nothing is handed over: it would come back untried.
        if (commits_in_flight.size() >= kMaxCommitsInFlight || (!commits_in_flight.empty() && queue->failing())) {
            commit_wanted = true;
            return;
        }
        commit_wanted = false;
        const std::size_t take_n = admissible();
        holding.store(running && push_back() && take_n < staged.size(), std::memory_order_relaxed);
        if (take_n == 0 && acked.empty()) {
            tickets.clear();
            return;
        }
        StagedBatch batch;
        if (take_n == staged.size()) {
            batch = std::move(staged);
            staged = std::move(spare);
            staged.clear();
            spare = {};
        } else {
            staged.move_front_to(take_n, batch);
        }
        InFlight f;
        f.messages = batch.size();
        f.bytes = batch.bytes();
        if (!batch.empty()) f.oldest_ts = batch.items.front().ts_ms;
        committing_messages += f.messages;
        committing_bytes += f.bytes;
        const bool behind = !commits_in_flight.empty();
        commits_in_flight.push_back(f);
        queue->commit(std::move(batch), std::exchange(acked, {}), std::exchange(tickets, {}), behind);
    }

    // On the loop, once the writer has run a commit (the tickets are completing).
    void on_committed(CommitResult& r) {
        committing_messages -= commits_in_flight.front().messages;
        committing_bytes -= commits_in_flight.front().bytes;
        commits_in_flight.pop_front();
        if (!r.first) {
            // In the order they were taken; once none is with the writer, back
            // ahead of what was taken since, and retried at the next tick (or the
            // next message): a full disk may clear.
            r.batch.move_front_to(r.batch.size(), returned);
            returned_acked.insert(returned_acked.end(), r.acked.begin(), r.acked.end());
            if (!commits_in_flight.empty()) return;
            staged.prepend(std::move(returned));
            returned = {};
            acked.insert(acked.begin(), returned_acked.begin(), returned_acked.end());
            returned_acked.clear();
            counters.store_errors += 1;
            if (r.first.error() != last_store_error) {
                log::error("bridge '{}': {}; {} messages wait in memory and are retried every second", config.name,
                           r.first.error(), staged.size());
                last_store_error = r.first.error();
            }
            return;
        }
        if (!last_store_error.empty()) {
            log::info("bridge '{}': the queue file accepts writes again", config.name);
            last_store_error.clear();
        }
        uint64_t seq = *r.first;
        for (const StagedBatch::Item& i : r.batch.items) {
            // Straight into memory for sending when nothing before it waits in the
            // file; a page being loaded brings it along otherwise.
            if (!load_in_flight && loaded_upto + 1 == seq && ready_bytes < kMaxReadyBytes) {
                OutboxEntry e;
                e.seq = seq;
                e.ts_ms = i.ts_ms;
                e.qos = i.qos;
                e.retain = i.retain;
                e.topic_len = i.topic_len;
                e.data.assign(r.batch.arena, i.off, i.topic_len + i.payload_len);
                ready_bytes += e.size();
                ready.push_back(std::move(e));
                loaded_upto = seq;
            }
            ++seq;
        }
        spare = std::move(r.batch);
        spare.clear();
        if (!r.cap_error.empty()) store_error(r.cap_error);
        drop(DropReason::QueueFull, r.capped.messages);
        forget_dropped(r.capped_upto);
        pump();
        // Taken meanwhile, or room made by this commit's deletes for held messages.
        if (commit_wanted || !staged.empty()) commit();
    }

    void store_error(const std::string& what) {
        counters.store_errors += 1;
        log::error("bridge '{}': {}", config.name, what);
    }

    // Removes from memory what a cap removed from the file.
    void forget_dropped(uint64_t last_seq) {
        while (!ready.empty() && ready.front().seq <= last_seq) {
            ready_bytes -= ready.front().size();
            ready.pop_front();
        }
    }

    // The byte cap (drop-oldest) runs with each commit on the writer; the age
    // cap once a tick.
    void enforce_age_cap() {
        if (config.max_queue_age.count() == 0 || age_drop_in_flight) return;
        const int64_t cutoff = unix_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(config.max_queue_age).count();
        age_drop_in_flight = true;
        queue->drop_older_than(cutoff);
    }

    void on_aged(DropResult& r) {
        age_drop_in_flight = false;
        if (!r.dropped) return store_error(r.dropped.error());
        drop(DropReason::TooOld, r.dropped->messages);
        forget_dropped(r.upto);
    }

    // ------------------------------------------------------------ sending
    uint16_t alloc_pid() {
        for (;;) {
            uint16_t pid = next_pid++;
            if (next_pid == 0) next_pid = 1;
            if (pid != 0 && pid != subscribe_pid && !inflight.contains(pid) && !control_pids.contains(pid)) return pid;
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
        {
            auto sending = queue->sending();
            while (inflight.size() < window && link->pending_output() < kMaxPendingOutput && !ready.empty()) {
                OutboxEntry e = std::move(ready.front());
                ready.pop_front();
                ready_bytes -= e.size();
                if (sending.dropped(e.seq)) continue;  // a cap is taking it out of the file
                sending.sent(e.seq);
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
        }
        request_page();
        if (wrote) link->flush();
    }

    // Asks the writer for the next page of the file while less than a page is
    // left in memory, so the sender seldom waits for it (a load may wait behind
    // a commit on the writer).
    void request_page() {
        if (!running || load_in_flight || ready.size() >= kLoadPage || loaded_upto + 1 >= queue->facts().next_seq) {
            return;
        }
        load_in_flight = true;
        queue->load(loaded_upto, kLoadPage);
    }

    void on_loaded(LoadResult& r) {
        load_in_flight = false;
        if (!r.status) return store_error(r.status.error());
        for (auto& e : r.page) {
            ready_bytes += e.size();
            ready.push_back(std::move(e));
        }
        loaded_upto = std::max(loaded_upto, r.loaded_upto);
        pump();
    }

    void finish(uint16_t pid, uint8_t reason) {
        auto it = inflight.find(pid);
        if (it == inflight.end()) {
            control_pids.erase(pid);  // a control publish's, or a late or duplicate ack
            return;
        }
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
        if (!counters.disconnects.empty() && counters.disconnects.back().up_again_ms == 0) {
            counters.disconnects.back().up_again_ms = unix_ms();
        }
        control_pids.clear();  // a new connection: their acknowledgements will not come
        if (!config.subscriptions.empty() || !control.filters.empty()) {
            codec::Subscribe s;
            subscribe_pid = alloc_pid();
            s.packet_id = subscribe_pid;
            for (const auto& r : config.subscriptions) s.topics.push_back(codec::SubscribeTopic{r.remote, r.qos});
            for (const auto& f : control.filters) s.topics.push_back(codec::SubscribeTopic{f, 1});
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
        if (control.link) control.link(true, {});
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

    bool is_control(std::string_view topic) const {
        return std::any_of(control.filters.begin(), control.filters.end(),
                           [topic](const std::string& f) { return mqtt::broker::topic_matches(f, topic); });
    }

    void on_remote_publish(const codec::Publish& p) {
        const bool first_time = p.qos < 2 || incoming_qos2.insert(p.packet_id).second;
        if (first_time && control.message && is_control(p.topic)) {
            ControlMessage m;
            m.topic = p.topic;
            m.payload = std::string_view(reinterpret_cast<const char*>(p.payload.data()), p.payload.size());
            m.retain = p.retain;
            m.response_topic = p.properties.response_topic;
            m.correlation_data = p.properties.correlation_data;
            control.message(m);
        } else if (first_time) {
            std::size_t rule = 0;
            while (rule < config.subscriptions.size() &&
                   !mqtt::broker::topic_matches(config.subscriptions[rule].remote, p.topic)) {
                ++rule;
            }
            if (rule < config.subscriptions.size() && subscription_topics[rule].expand(p.topic, topic_buf)) {
                mqtt::broker::PublishOptions o;
                o.qos = p.qos;
                o.retain = p.retain;
                // A command's request/response properties reach the local responder.
                o.response_topic = p.properties.response_topic;
                o.correlation_data = p.properties.correlation_data;
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

std::string default_client_id(std::string_view node, std::string_view bridge) {
    return "ironbridge-" + std::string(node) + "-" + std::string(bridge);
}

Bridge::Bridge(asio::io_context& io, BridgeConfig config, mqtt::broker::Router& router, std::string data_dir,
               std::string node)
    : impl_(std::make_unique<Impl>(io, std::move(config), router, std::move(data_dir), std::move(node))) {}

Bridge::~Bridge() { stop(); }

const BridgeConfig& Bridge::config() const { return impl_->config; }

std::expected<void, std::string> Bridge::start() {
    IB_ASSERT_ON_LOOP(impl_->io);
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
    OutboxWriter::Events queue_events;
    queue_events.committed = [&b](CommitResult& r) { b.on_committed(r); };
    queue_events.loaded = [&b](LoadResult& r) { b.on_loaded(r); };
    queue_events.aged = [&b](DropResult& r) { b.on_aged(r); };
    const uint64_t cap = b.config.queue_full == QueueFullPolicy::DropOldest ? b.config.max_queue_bytes : 0;
    auto queue = OutboxWriter::open(b.data_dir + "/bridge-" + b.config.name + ".db", "ib-bridge-" + b.config.name, b.io,
                                    cap, std::move(queue_events));
    if (!queue) return std::unexpected("bridge '" + b.config.name + "': cannot open its queue: " + queue.error());
    b.queue = std::move(*queue);
    if (!b.queue->recovered_from().empty()) {
        log::error("bridge '{}': the queue file was unreadable and has been moved aside to {}; starting with an empty queue",
                   b.config.name, b.queue->recovered_from());
    }
    if (b.queue->facts().messages > 0) {
        log::info("bridge '{}': {} messages ({} bytes) waiting in the queue from an earlier run", b.config.name,
                  b.queue->facts().messages, b.queue->facts().bytes);
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
            auto& history = b.counters.disconnects;
            if (history.size() == kDisconnectHistory) history.pop_front();
            history.push_back({b.counters.last_disconnect_ms, why, 0});
        }
        if (b.control.link) b.control.link(false, why);
    };
    events.writable = [&b] { b.pump(); };
    events.read_done = [&b] { b.pump(); };
    b.upstream = b.config;
    if (b.upstream.client_id.empty()) b.upstream.client_id = default_client_id(b.node, b.config.name);
    b.link = std::make_unique<MqttLink>(b.io, b.upstream, std::move(events));
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
    if (b.config.forward_files) {
        b.files = std::make_unique<FileForwarder>(b.io, b.upstream, b.data_dir + "/files");
        b.files->start();
    }
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
    // What was taken is in the file when stop() returns (once, at shutdown): the
    // writer is drained, and a commit that had to wait for the one in flight
    // goes in after it. A failing disk submits nothing more, so this ends.
    b.commit();
    for (int round = 0; round < 4 && b.queue->jobs() > 0; ++round) b.queue->finish();
    if (b.link) b.link->stop();
    if (b.files) b.files->stop();
}

std::expected<void, std::string> Bridge::restart(BridgeConfig config) {
    IB_ASSERT_ON_LOOP(impl_->io);
    stop();
    auto fresh = std::make_unique<Impl>(impl_->io, std::move(config), impl_->router, impl_->data_dir, impl_->node);
    fresh->control = std::move(impl_->control);
    impl_->queue.reset();  // the file is the new one's now; its results find no owner
    retired_.push_back(std::exchange(impl_, std::move(fresh)));
    return start();
}

void Bridge::set_control(ControlChannel channel) { impl_->control = std::move(channel); }

bool Bridge::connected() const {
    IB_ASSERT_ON_LOOP(impl_->io);
    return impl_->link && impl_->link->connected();
}

bool Bridge::publish_control(std::string_view topic, std::string_view payload, bool retain,
                             std::optional<std::string_view> response_topic, std::optional<Bytes> correlation_data) {
    IB_ASSERT_ON_LOOP(impl_->io);
    Impl& b = *impl_;
    if (!b.link || !b.link->connected()) return false;
    codec::Publish p;
    p.topic = topic;
    p.payload = as_bytes(payload);
    p.qos = 1;
    p.retain = retain;
    p.packet_id = b.alloc_pid();
    if (b.link->version() == codec::Version::V5) {
        p.properties.response_topic = response_topic;
        p.properties.correlation_data = correlation_data;
    }
    b.control_pids.insert(p.packet_id);
    codec::encode(b.link->output(), p, b.link->version());
    b.link->flush();
    return true;
}

bool Bridge::holding_back() const {
    const Impl& b = *impl_;
    // A failed commit's messages wait in memory too, from before the loop hears of it.
    return b.holding.load(std::memory_order_relaxed) || (b.push_back() && b.queue && b.queue->failing());
}

BridgeStatus Bridge::status() const {
    IB_ASSERT_ON_LOOP(impl_->io);
    const Impl& b = *impl_;
    BridgeStatus s = b.counters;
    s.held_messages = b.push_back() ? b.staged.size() + b.returned.size() : 0;
    s.pushing_back = holding_back();
    s.connected = b.link && b.link->connected();
    s.subscribed = s.connected && b.subscribe_pid == 0;
    s.server = b.link ? b.link->server() : "";
    if (b.files) s.files = b.files->status();
    if (b.queue) {
        // The loop's mirror: the file as of the writer's last result, the commit
        // on its way there, and what waits for the next one.
        const QueueFacts& f = b.queue->facts();
        s.backlog_messages = f.messages + b.committing_messages + b.returned.size() + b.staged.size();
        s.backlog_bytes = f.bytes + b.committing_bytes + b.returned.bytes() + b.staged.bytes();
        s.queue_file_bytes = f.file_bytes;
        std::optional<int64_t> oldest = f.oldest_ts;
        if (!oldest && !b.returned.empty()) oldest = b.returned.items.front().ts_ms;
        for (const auto& c : b.commits_in_flight) {
            if (!oldest) oldest = c.oldest_ts;
        }
        if (!oldest && !b.staged.empty()) oldest = b.staged.items.front().ts_ms;
        if (oldest) s.oldest_age_s = std::max<double>(0, static_cast<double>(unix_ms() - *oldest) / 1000.0);
    }
    s.inflight = b.inflight.size();
    return s;
}

void Bridge::files_queued() {
    asio::post(impl_->io, [b = impl_.get()] {
        if (b->files) b->files->kick();
    });
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
    if (impl_->files) impl_->files->collect_metrics(sink, label);
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
