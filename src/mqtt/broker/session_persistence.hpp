// The broker's side of durable sessions (broker.persistence): what it hands to a
// store and what it gets back at start-up. The broker knows no file; the store
// (store/session_store) knows no Asio. Each shard appends PersistOps to its own
// vector while it handles a loop turn and submits them at the end of the turn, so
// the hot path takes no lock; the store commits what every shard submitted in one
// transaction and then runs the barriers that were waiting for it.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mqtt/broker/message.hpp"
#include "mqtt/broker/subscription.hpp"

namespace ib::mqtt::broker {

// Up to this many subscription identifiers travel with one delivery.
inline constexpr std::size_t kMaxSubIds = codec::Properties::kMaxSubscriptionIds;
struct SubIds {
    std::array<uint32_t, kMaxSubIds> ids{};
    uint8_t count = 0;
    void add(uint32_t id) {
        if (id != 0 && count < kMaxSubIds) ids[count++] = id;
    }
};

// A persistent session's id carries this bit, and its low 53 bits are the
// session's key in the store (stable across restarts, unlike the rest of the id),
// so a publisher's shard can queue a message on disk for a session of another
// shard without asking that shard.
inline constexpr SubscriberId kPersistentBit = SubscriberId{1} << 53;
inline constexpr SubscriberId kStoreKeyMask = kPersistentBit - 1;
inline uint64_t store_key(SubscriberId id) { return id & kStoreKeyMask; }

// State of a stored queued or inflight message.
enum class StoredState : uint8_t {
    Queued = 0,        // not sent, or a QoS 1 sent and not acknowledged (resent after a restart)
    AwaitPubrec = 1,   // QoS 2 sent with `packet_id`
    AwaitPubcomp = 2,  // PUBREC received, PUBREL due with `packet_id`
};

struct PersistOp {
    enum class Kind : uint8_t {
        Session,       // key, text = client id, expiry_s, expires_at_ms (-1: connected, 0: never)
        DropSession,   // key: the session, its subscriptions, queue and QoS 2 state
        Subscribe,     // key, text = filter, opts
        Unsubscribe,   // key, text = filter
        Enqueue,       // key, seq, qos, retain, sub_ids, msg
        Remove,        // key, seq: acknowledged, expired or dropped
        State,         // key, seq, state, packet_id
        IncomingAdd,   // key, packet_id: QoS 2 received, PUBREC sent
        IncomingDel,   // key, packet_id: PUBREL received
        RetainSet,     // msg
        RetainClear,   // text = topic
    };
    Kind kind = Kind::Session;
    StoredState state = StoredState::Queued;
    uint8_t qos = 0;
    bool retain = false;
    uint16_t packet_id = 0;
    uint32_t expiry_s = 0;
    uint64_t key = 0;
    uint64_t seq = 0;
    int64_t expires_at_ms = 0;
    SubIds sub_ids;
    SubscriptionOptions opts;
    MessageRef msg;
    std::string text;
};

struct StoredMessage {
    uint64_t seq = 0;
    uint8_t qos = 0;
    bool retain = false;
    StoredState state = StoredState::Queued;
    uint16_t packet_id = 0;
    SubIds sub_ids;
    MessageRef msg;
};

struct StoredSession {
    uint64_t key = 0;
    std::string client_id;
    uint32_t expiry_s = 0;
    int64_t expires_at_ms = 0;  // wall clock; -1: it was connected when the broker stopped; 0: never
    std::vector<std::pair<std::string, SubscriptionOptions>> subscriptions;
    std::vector<uint16_t> incoming_qos2;
};

struct LoadedState {
    std::vector<StoredSession> sessions;
    std::vector<MessageRef> retained;
    uint64_t next_key = 1;  // above every key in the file
    uint64_t next_seq = 1;  // above every seq in the file: rows below it are loaded lazily
    uint64_t retained_version = 0;  // the highest order of a stored retained message
};

class SessionPersistence {
public:
    virtual ~SessionPersistence() = default;

    // Called once, before the loops run.
    virtual std::expected<LoadedState, std::string> load() = 0;
    // From a shard's thread, at the end of its turn: takes the ops (leaving the
    // vector empty, its capacity kept where possible).
    virtual void submit(std::vector<PersistOp>& ops) = 0;
    // From any thread: `done` runs (on the store's thread) once everything
    // submitted before this call is committed.
    virtual void after_commit(std::function<void()> done) = 0;
    // From any shard's thread: the stored queue of a session, rows with a seq
    // below `below_seq` (those written by an earlier run), in order.
    virtual std::vector<StoredMessage> load_queue(uint64_t key, uint64_t below_seq) = 0;
};

}  // namespace ib::mqtt::broker
