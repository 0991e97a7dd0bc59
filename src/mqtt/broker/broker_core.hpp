// Internals of the broker, shared by its .cpp files only (it includes Asio).
//
// Threading: one Shard per event loop. A Session lives on the shard chosen by a
// hash of its client id, so a take-over or a resumed session is always handled on
// one thread, without locks. A connection is accepted on any shard and, once its
// CONNECT is read, its socket moves to the session's shard. The subscription
// tree is shared: publishes match under a shared lock, deliveries to sessions of
// other shards are batched per shard and posted once per loop turn. Each shard
// has its own replica of the subscription tree, so a publish matches without
// any lock; subscription changes are applied to every replica, and a SUBACK goes
// out once all replicas have the change.
#pragma once

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <array>
#include <deque>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/intrusive/list.hpp>
#include <boost/intrusive/unordered_set.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/auth.hpp"
#include "core/metrics.hpp"
#include "core/ring_buffer.hpp"
#include "mqtt/broker/broker_config.hpp"
#include "mqtt/broker/file_transfer_hook.hpp"
#include "mqtt/broker/match_cache.hpp"
#include "mqtt/broker/message.hpp"
#include "mqtt/broker/protocol_violation.hpp"
#include "mqtt/broker/retained_store.hpp"
#include "mqtt/broker/router.hpp"
#include "mqtt/broker/session_persistence.hpp"
#include "mqtt/broker/subscription.hpp"
#include "mqtt/broker/topic_match.hpp"
#include "mqtt/broker/topic_tree.hpp"
#include "mqtt/codec/codec.hpp"
#include "net/tls.hpp"

namespace ib::net {
class LoopPool;
}

namespace ib::mqtt::broker {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
// Sockets bound to an io_context's own executor: smaller than tcp::socket's
// type-erased executor, and so are the operations queued on them.
using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;

class BrokerCore;
class Shard;
class Session;
class Connection;
struct Transport;
// A counted reference to a Connection: the count lives in the connection, so a
// reference is one pointer (a shared_ptr is two, plus a control block and the
// weak pointer of enable_shared_from_this in every connection).
using ConnectionRef = boost::intrusive_ptr<Connection>;
void intrusive_ptr_add_ref(Connection* c);
void intrusive_ptr_release(Connection* c);

enum class TransportKind : uint8_t { Tcp, Tls, Ws, Wss };

// SubscriberId layout: the index of the loop that owns the subscriber in the
// top byte (a session's shard, or the loop an in-process subscriber's handler
// runs on), so a delivery finds its loop without a lookup; bit 55 marks
// in-process subscribers of the Router.
inline constexpr int kShardShift = 56;
inline constexpr SubscriberId kInProcessBit = SubscriberId{1} << 55;
// An in-process subscriber whose deliveries hold the publisher's acknowledgement
// (Router::subscribe_durable).
inline constexpr SubscriberId kDurableBit = SubscriberId{1} << 54;
inline std::size_t shard_of(SubscriberId id) { return static_cast<std::size_t>(id >> kShardShift); }


// One message on its way to one subscriber.
struct Delivery {
    SubscriberId to = 0;
    MessageRef msg;
    uint8_t qos = 0;
    bool retain = false;
    SubIds sub_ids;
    uint64_t seq = 0;  // its row in the session store (persistent sessions, QoS > 0), else 0
    DurableTicket ticket;  // for a durable in-process subscriber only
};

// Counters written by one shard's thread only.
struct ShardCounters {
    LocalCounter connections_accepted;
    LocalCounter connections_closed;
    LocalCounter connections_refused_limit;
    LocalCounter connect_timeouts;
    LocalCounter keepalive_timeouts;
    LocalCounter malformed_packets;
    LocalCounter protocol_errors;
    LocalCounter packets_too_large;
    std::array<LocalCounter, kViolationCount> protocol_violations;  // by Violation
    std::array<LocalCounter, 3> messages_in;   // by QoS
    std::array<LocalCounter, 3> messages_out;  // by QoS
    LocalCounter bytes_in;
    LocalCounter bytes_out;
    LocalCounter dropped_queue_full;
    LocalCounter dropped_qos12_queue_full;
    LocalCounter dropped_expired;
    LocalCounter dropped_too_large_for_client;
    LocalCounter dropped_topic_too_deep;
    LocalCounter subscriptions_refused_limit;
    LocalCounter retained_refused_limit;
    LocalCounter inflight_redelivered;
};

// One subscription change, applied to every shard's replica of the tree.
struct TreeChange {
    bool subscribe = true;
    std::string filter;
    Subscription sub;  // for unsubscribe only sub.subscriber is used
};

struct ListenerState {
    ListenerConfig config;
    // One per broker shard, each on its shard's loop and sharing the port
    // (SO_REUSEPORT), so the kernel spreads new connections over the shards and
    // accepting loads no shard more than another.
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    uint16_t port = 0;
    std::atomic<uint32_t> connections{0};
    SharedCounter accepted;  // written by every shard's accept loop
    TransportKind transport = TransportKind::Tcp;
    uint16_t index = 0;  // in BrokerCore::listener(i): what a Connection keeps of its listener
    std::unique_ptr<net::TlsServerContext> tls;  // tls and wss
    SharedCounter tls_handshake_failures;        // written by every shard
};

struct QueuedMessage {
    MessageRef msg;
    uint8_t qos = 0;
    bool retain = false;
    SubIds sub_ids;
    uint64_t seq = 0;  // as Delivery::seq
};

struct InflightMessage {
    enum class State : uint8_t { AwaitPuback, AwaitPubrec, AwaitPubcomp };
    uint16_t packet_id = 0;
    State state = State::AwaitPuback;
    QueuedMessage m;
};

struct WillMessage {
    MessageRef msg;
    uint32_t delay_s = 0;
};

// Links a Session into its shard's SessionTable (one per index).
using SessionHook = boost::intrusive::unordered_set_member_hook<
    boost::intrusive::link_mode<boost::intrusive::normal_link>>;

// Session state (§4.1): lives on its shard, survives its connection while the
// session expiry interval runs.
class Session {
public:
    // The client id is stored right behind the session, in the same allocation.
    static std::unique_ptr<Session> make(Shard& shard, SubscriberId id, std::string_view client_id);
    ~Session();
    static void* operator new(std::size_t) = delete;  // make() only
    static void operator delete(void* p) { ::operator delete(p); }

    SubscriberId id() const { return id_; }
    std::string_view client_id() const { return {reinterpret_cast<const char*>(this + 1), client_id_size_}; }
    Connection* connection() const { return conn_; }

    // Entry point for every message routed to this session.
    // `msg` by value: a caller done with its reference moves it in, which saves
    // the atomic count's increment and decrement.
    void deliver(MessageRef msg, uint8_t qos, bool retain, const SubIds& sub_ids, uint64_t seq = 0);
    // A QoS 0 message without properties, written to the connection now when
    // deliver() would do that too (nothing queued before it, room in the
    // output); false when it must be delivered as a Message.
    bool send_in_place(std::string_view topic, Bytes payload);

    // Kept in the session store (broker.persistence, and an expiry above 0 when created).
    bool persistent() const { return (id_ & kPersistentBit) != 0; }
    // Appends a change of this session to its shard's batch for the store.
    void persist(PersistOp op);
    // Subscriptions and received QoS 2 ids, changed through here so the store follows.
    void add_subscription(const std::string& filter, const SubscriptionOptions& opts);
    void remove_subscription(const std::string& filter);
    // `store` false: not written to the session store (a 3.1.1 publish refused by the ACL).
    void add_incoming_qos2(uint16_t packet_id, bool store = true);
    // False when the id was not pending.
    bool remove_incoming_qos2(uint16_t packet_id);
    bool incoming_qos2_pending(uint16_t packet_id) const;
    // Kept beside the session's hot state: every QoS 1/2 PUBLISH counts these
    // against the Receive Maximum, while the ids themselves are cold.
    std::size_t incoming_qos2_count() const { return incoming_qos2_count_; }
    // At start-up, from the session store.
    void restore_incoming_qos2(std::vector<uint16_t> ids);

    void attach(Connection* conn);
    void detach();
    // Sends what the window allows from the queue.
    void pump();
    // Gives queue arrays back once they are empty (called from the sweep).
    void release_idle_memory();
    // After a reconnect: resend unacknowledged PUBLISH (DUP) and PUBREL (§4.4).
    void resend_inflight();

    // Acknowledgements from the client; false when the packet id is unknown.
    bool on_puback(uint16_t id);
    bool on_pubrec(uint16_t id, uint8_t reason);
    bool on_pubcomp(uint16_t id);

    // Subscriptions, kept so the session can drop them when it ends (changed
    // through add_subscription / remove_subscription, or subscriptions_mut()).
    using SubscriptionMap = std::unordered_map<std::string, SubscriptionOptions>;
    const SubscriptionMap& subscriptions() const;
    SubscriptionMap& subscriptions_mut() { return cold().subscriptions; }
    // The connection's delayed will, moved here on close; null without one.
    WillMessage* will() const { return cold_ && cold_->will ? &*cold_->will : nullptr; }
    void set_will(WillMessage w) { cold().will = std::move(w); }
    void clear_will() {
        if (cold_) cold_->will.reset();
    }
    // Created when first armed (Shard::schedule_expiry).
    asio::steady_timer& expiry_timer();
    asio::steady_timer& will_timer();
    std::size_t queued_bytes() const { return queued_bytes_; }
    std::size_t queued_count() const { return queue_.size(); }
    std::size_t inflight_count() const { return inflight_.size(); }

    // The shard's SessionTable: by subscriber id, and by client id.
    SessionHook by_id_hook;
    SessionHook by_client_hook;

private:
    Session(Shard& shard, SubscriberId id, std::string_view client_id);
    void enqueue(QueuedMessage m);
    void restore_stored();
    // The message leaves the session without being acknowledged (expired, too
    // large, queue full) or was acknowledged: its stored row goes.
    void forget_stored(const QueuedMessage& m);
    bool send_now(QueuedMessage& m);
    // A packet id for `m`, which becomes inflight under it (QoS 1 and 2).
    uint16_t take_inflight_id(const QueuedMessage& m);
    uint16_t next_packet_id();
    // Index of the inflight message with this packet id, or inflight_.size().
    std::size_t find_inflight(uint16_t id) const;
    void remove_inflight(std::size_t i);

    // What a session needs only once it subscribes, has a delayed will or an
    // expiry, or throttles a publisher: allocated at first use, so an idle
    // session carries one null pointer for all of it (BENCHMARKS.md, (f)).
    struct Cold {
        SubscriptionMap subscriptions;
        // QoS 2 messages received and answered with PUBREC, awaiting PUBREL.
        std::vector<uint16_t> incoming_qos2;
        std::optional<WillMessage> will;
        std::unique_ptr<asio::steady_timer> expiry_timer;
        std::unique_ptr<asio::steady_timer> will_timer;
        // The publisher this session last asked to slow down, and when: repeated
        // requests for the same one within a pause are skipped.
        OriginId last_throttled = 0;
        Clock::time_point last_throttle{};
    };
    Cold& cold() {
        if (!cold_) cold_ = std::make_unique<Cold>();
        return *cold_;
    }

    Shard& shard_;
    SubscriberId id_;
    Connection* conn_ = nullptr;
    RingBuffer<QueuedMessage> queue_;
    std::size_t queued_bytes_ = 0;
    RingBuffer<InflightMessage> inflight_;  // in send order
    std::unique_ptr<Cold> cold_;
    uint16_t last_packet_id_ = 0;
    uint16_t incoming_qos2_count_ = 0;  // at most our Receive Maximum
    uint16_t client_id_size_ = 0;       // [MQTT-1.5.4] a UTF-8 string is at most 65,535 bytes

public:
    // (Declared here, beside last_packet_id_, to fill what would be padding.)
    // Loaded from the store at start-up: its queue is read from the file at the
    // first attach (so start-up does not read every queued message).
    bool restore_pending = false;
    uint32_t expiry_interval_s = 0;  // session expiry after disconnect
};

// The sessions of one shard, found by subscriber id (deliveries, timers, flow
// control) and by client id (CONNECT: take-over and resume). Both indexes are
// intrusive, their links inside the Session: a session costs no allocation
// beyond its own and 16 bytes of buckets, where two unordered_maps cost two
// nodes (about 100 bytes with malloc's overhead; BENCHMARKS.md, (f)).
class SessionTable {
public:
    SessionTable();
    ~SessionTable();  // destroys every session
    SessionTable(const SessionTable&) = delete;
    SessionTable& operator=(const SessionTable&) = delete;

    Session* find(SubscriberId id) const;
    Session* find(std::string_view client_id) const;
    // Takes the session; its id and client id must not be in the table yet.
    Session& insert(std::unique_ptr<Session> s);
    // Removes the session and destroys it.
    void erase(Session* s);
    std::size_t size() const { return by_id_.size(); }
    template <typename F>
    void for_each(F&& visit) const {
        for (const Session& s : by_id_) visit(s);
    }

private:
    struct IdHash {
        std::size_t operator()(const Session& s) const { return (*this)(s.id()); }
        std::size_t operator()(SubscriberId id) const { return std::hash<SubscriberId>{}(id); }
    };
    struct IdEqual {
        bool operator()(const Session& a, const Session& b) const { return a.id() == b.id(); }
        bool operator()(SubscriberId id, const Session& s) const { return id == s.id(); }
    };
    struct ClientHash {
        std::size_t operator()(const Session& s) const { return (*this)(std::string_view(s.client_id())); }
        std::size_t operator()(std::string_view c) const { return std::hash<std::string_view>{}(c); }
    };
    struct ClientEqual {
        bool operator()(const Session& a, const Session& b) const { return a.client_id() == b.client_id(); }
        bool operator()(std::string_view c, const Session& s) const { return c == s.client_id(); }
    };
    // Power-of-two bucket counts: a mask instead of a division per lookup.
    using ById = boost::intrusive::unordered_set<
        Session, boost::intrusive::member_hook<Session, SessionHook, &Session::by_id_hook>,
        boost::intrusive::hash<IdHash>, boost::intrusive::equal<IdEqual>, boost::intrusive::power_2_buckets<true>>;
    using ByClient = boost::intrusive::unordered_set<
        Session, boost::intrusive::member_hook<Session, SessionHook, &Session::by_client_hook>,
        boost::intrusive::hash<ClientHash>, boost::intrusive::equal<ClientEqual>,
        boost::intrusive::power_2_buckets<true>>;
    static constexpr std::size_t kInitialBuckets = 64;
    // Declared before the sets, which are built on them.
    std::vector<ById::bucket_type> id_buckets_;
    std::vector<ByClient::bucket_type> client_buckets_;
    ById by_id_;
    ByClient by_client_;
};

// One network connection. Owned by the ConnectionRefs held by its pending async
// operations and by its shard (Shard::add: the connection is linked into the
// shard's list and holds the shard's reference itself, shard_ref_). Its code is in three files:
// connection_io.cpp (socket, TLS, WebSocket, reading, writing, closing, moving
// to another shard), connection_protocol.cpp (one handler per packet type,
// protocol violations) and connect_policy.cpp (CONNECT: checks, login, session
// take-over or resume, CONNACK); connection_auth.cpp holds its ACL.
class Connection {
public:
    // `transport` comes with a connection that changes shard; a new one gets
    // its listener's.
    Connection(Shard& shard, Socket socket, ListenerState& listener, std::unique_ptr<Transport> transport = nullptr);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ConnectionRef ref() { return ConnectionRef(this); }

    void start(std::vector<std::byte> already_read = {});
    // Closes after flushing what is queued; `reason` is logged at debug level.
    void close(std::string_view reason);
    // Sends a 5.0 DISCONNECT with `reason_code` (nothing for 3.1.1), then
    // closes gracefully (close_gracefully).
    void disconnect_with(uint8_t reason_code, std::string_view why);
    bool closed() const { return state_ >= State::Closing; }

    // Output: packets are appended to one buffer and written once per loop turn.
    std::vector<std::byte>& out() { return out_; }
    void mark_dirty();
    void flush();
    std::size_t pending_output() const { return out_.size() - out_offset_ + (tx_ ? wire_pending() : 0); }

    codec::Version version() const { return version_; }
    uint32_t client_max_packet_size() const { return client_max_packet_size_; }
    uint16_t send_quota() const { return send_quota_; }
    // Topic alias for a topic we send (0: send the full topic).
    uint16_t outgoing_alias(std::string_view topic, bool& already_known);
    // Whether the client accepts topic aliases from us (then each PUBLISH to it
    // may differ from another client's by its alias).
    bool takes_topic_aliases() const;

    const std::string& peer() const { return peer_; }
    // The verified TLS client certificate's common name; empty without one.
    std::string_view peer_cert_cn() const;
    Clock::time_point last_rx() const { return last_rx_; }
    Clock::time_point accepted_at() const { return since_; }  // while awaiting_connect()
    uint16_t keep_alive_s() const { return keep_alive_s_; }
    bool awaiting_connect() const { return state_ == State::AwaitConnect; }
    bool connected() const { return state_ == State::Connected; }
    // A connection closing with output its peer never reads (5 s), or draining
    // a peer that keeps sending, is cut off here by the sweep.
    bool stuck_closing(Clock::time_point now) const;
    void release_idle_memory();
    void finish_close();
    // Stops reading from this client until `until` (flow control, see
    // Shard::throttle_publisher).
    void pause_reading(Clock::time_point until);
    bool paused() const { return paused_; }
    // Whether acknowledgements of this client's PUBLISHes wait for a durable
    // subscriber (the drain at stop waits for them).
    bool holding_acks() const { return holding_acks_; }
    // Sends the acknowledgements held for a durable subscriber (Shard::hold_acks)
    // up to the `upto`-th ever held.
    void release_held_acks(uint64_t upto);

private:
    // Ordered: every state from Closing on counts as closed (one comparison).
    // Closing: the session is gone, queued output (a CONNACK or DISCONNECT with
    // its reason) is written. Draining: after a close with a reason, our side is
    // shut for writing and what the client still sends is read and discarded,
    // so its kernel does not turn our close into a reset that loses the reason.
    enum class State : uint8_t { AwaitConnect, Connected, Closing, Draining, Closed };

    // ---- I/O (connection_io.cpp)
    // socket_.async_wait with the operation's memory from WaitBlocks.
    template <typename Handler>
    void async_wait(Socket::wait_type what, Handler&& handler);
    void wait_readable();
    // Waits for writability, then reads again (TLS needing to write to read).
    void wait_writable_to_read();
    // Waits for `what`, then reads (both waits above).
    void wait_then_read(Socket::wait_type what);
    void on_readable();
    // Reads through TLS and/or from the socket for a connection with a
    // Transport; closes the connection itself on Closed and Error.
    net::TlsIo read_tx(std::byte* buf, std::size_t len, std::size_t& n);
    net::TlsIo write_raw(const std::byte* buf, std::size_t len, std::size_t& n);
    void write_some();
    void write_some_tx();
    std::size_t wire_pending() const;
    // MQTT bytes from the transport: parsed at once, the incomplete rest kept.
    void feed(Bytes data);
    // Bytes from a WebSocket client: the upgrade request, then frames.
    void ws_input(std::span<std::byte> data);
    void ws_frames(std::span<std::byte> data);
    // Moves pending MQTT output into one binary frame (and the close frame when closing).
    void ws_frame_output();
    // close() that, once the output is written, half-closes and drains the
    // input for a bounded time instead of closing at once: for every close
    // that tells the client why (a CONNACK refusal, a DISCONNECT, an HTTP or
    // WebSocket error).
    void close_gracefully(std::string_view why);
    // Everything queued while Closing is written: drains or closes.
    void closing_output_written();
    // TLS close_notify, then shutdown(SHUT_WR), then drain_input().
    void half_close_and_drain();
    void drain_input();
    void migrate();

    // ---- protocol (connection_protocol.cpp)
    // Parses and handles every complete packet in `data`; returns bytes used.
    std::size_t process(Bytes data);
    void handle_packet(const codec::FrameHeader& h, Bytes body);
    void on_decode_error(const Error& e);
    // The one way out for a client that broke the protocol: counts it by
    // reason, logs one rate-limited warning naming the client, answers with the
    // reason code (CONNACK before CONNECT is done, else a 5.0 DISCONNECT) and
    // closes gracefully. `offset` is where a decode error was found.
    void protocol_violation(Violation reason, std::string_view why, std::optional<std::size_t> offset = std::nullopt);
    void handle_publish(codec::Publish& p);
    void handle_puback(const codec::Ack& a);
    void handle_pubrec(const codec::Ack& a);
    void handle_pubrel(const codec::Ack& a);
    void handle_pubcomp(const codec::Ack& a);
    void handle_subscribe(const codec::Subscribe& s);
    void handle_unsubscribe(const codec::Unsubscribe& u);
    void handle_pingreq();
    void handle_disconnect(const codec::Disconnect& d);
    // PUBACK / PUBREC for a received PUBLISH, in order: held while earlier ones are.
    void ack_publish(codec::PacketType type, uint16_t packet_id, uint8_t reason, bool hold,
                     std::shared_ptr<const AckOutcome> outcome = nullptr);
    // A PUBLISH to `$file/` or `$file-async/`, with a file-transfer hook set:
    // handed to the hook instead of being routed (file_transfer_hook.hpp).
    void handle_file_command(const codec::Publish& p);

    // ---- CONNECT (connect_policy.cpp)
    void handle_connect(codec::Connect& c);
    // tls_cn_as_username: the certificate's CN replaces the CONNECT's user name.
    bool take_username_from_certificate(codec::Connect& c);
    // What is refused before the connection moves to its session's shard.
    bool connect_acceptable(const codec::Connect& c, std::string& client_id, bool& assigned);
    // On the session's shard: the password, the ACL and the will topic.
    bool authenticate(const codec::Connect& c, std::string_view client_id);
    Session* take_over_or_resume(const std::string& client_id, bool clean_start, uint32_t expiry, bool& present);
    void refuse_connect(uint8_t v5_reason, uint8_t v3_code, std::string_view why);
    void end_session_link(bool send_will);

    // Hot state first: what reading, parsing and writing touch for every
    // connection. What only some connections need (a will, a paused read's
    // deadline, held acknowledgements, the login name, the compiled ACL's
    // ownership, the timer) is in Cold,
    // allocated at first use, so an idle connection carries one null pointer
    // for all of it (BENCHMARKS.md, scenario (f)).
    Shard& shard_;
    Socket socket_;
    std::unique_ptr<Transport> tx_;  // null for plain TCP: its path has no transport branch below the read
    std::string peer_;
    Session* session_ = nullptr;
    // Bytes of an incomplete packet, allocated at the first packet split across
    // reads and given back by the sweep once empty: most idle connections never
    // have one.
    std::unique_ptr<std::vector<std::byte>> partial_;
    bool has_partial() const { return partial_ && !partial_->empty(); }
    std::vector<std::byte>& partial() {
        if (!partial_) partial_ = std::make_unique<std::vector<std::byte>>();
        return *partial_;
    }
    std::vector<std::byte> out_;
    std::size_t out_offset_ = 0;
    // When the connection was accepted while AwaitConnect (the connect
    // timeout), then when Closing began, then when Draining began.
    Clock::time_point since_;
    Clock::time_point last_rx_;
    // Authorization (connection_auth.cpp): the client's rules compiled at CONNECT, and
    // again when a reload moves the Auth generation. Null: nothing to check.
    // Owned by Cold::acl; this copy saves a step on every PUBLISH.
    const auth::ClientAcl* acl_ = nullptr;
    uint64_t acl_generation_ = 0;
    // Topic aliases (5.0), allocated only for clients that use them.
    struct Aliases {
        uint16_t client_max = 0;  // aliases we may send
        LevelMap<uint16_t> outgoing;  // transparent: looked up by string_view
        std::vector<std::string> incoming;  // aliases the client set (index = alias)
    };
    std::unique_ptr<Aliases> aliases_;
    // Acknowledgements waiting for a durable subscriber's commit, in PUBLISH order.
    struct HeldAck {
        codec::PacketType type;
        uint16_t packet_id;
        uint8_t reason;
        // A file-transfer command's answer, known only once its ticket completes.
        std::shared_ptr<const AckOutcome> outcome;
    };
    struct Cold {
        std::optional<WillMessage> will;
        Clock::time_point paused_until{};
        // The retry of a read paused by flow control or a congested shard,
        // then the end of the drain once Draining.
        std::unique_ptr<asio::steady_timer> timer;
        RingBuffer<HeldAck> held_acks;  // (a std::deque allocates 576 bytes while empty)
        uint64_t held_total = 0;  // acks ever held; released_total of them sent
        uint64_t released_total = 0;
        bool held_registered = false;  // with the shard, for this turn's barrier
        std::string username;  // set only when the client authenticated
        std::shared_ptr<const auth::ClientAcl> acl;
    };
    Cold& cold() {
        if (!cold_) cold_ = std::make_unique<Cold>();
        return *cold_;
    }
    std::unique_ptr<Cold> cold_;
    uint32_t client_max_packet_size_ = codec::kMaxRemainingLength + 5;
    uint32_t drained_bytes_ = 0;  // read and discarded while Draining
    uint16_t keep_alive_s_ = 0;
    uint16_t send_quota_ = 0;
    // 5.0 PUBACKs held (Cold::held_acks) and so not yet sent: with the QoS 2
    // flows awaiting PUBREL they count against our Receive Maximum.
    uint16_t held_pubacks_ = 0;
    // 1 + index of the shard this connection moves to once its CONNECT is read.
    uint16_t migrate_to_ = 0;
    uint16_t listener_index_ = 0;  // ListenerState::index
    ListenerState& listener() const;
    State state_ = State::AwaitConnect;
    codec::Version version_ = codec::Version::V311;
    bool clean_disconnect_ = false;
    bool drain_on_close_ = false;  // set by close_gracefully
    bool paused_ = false;
    bool writing_ = false;
    bool reading_ = false;
    bool dirty = false;  // in the shard's list of connections to write this turn (Shard::flush)
    bool give_back_output_ = false;  // the CONNACK is queued: free out_ once it is written (write_some)
    // Cold::held_acks is not empty: kept here so that acknowledging a PUBLISH
    // does not read the cold part.
    bool holding_acks_ = false;
    // References (ConnectionRef). Atomic: a reference may be copied or dropped on
    // another thread (a SUBACK's completion crosses shards; a held ack's release
    // passes through the session store's writer thread).
    std::atomic<uint32_t> refs_{0};
    // The shard's list of its connections, and the reference it holds: an
    // intrusive list costs 24 bytes here instead of a hash node and a bucket
    // (about 56 bytes with malloc's overhead).
    boost::intrusive::list_member_hook<> shard_link_;
    ConnectionRef shard_ref_;
    friend void intrusive_ptr_add_ref(Connection* c);
    friend void intrusive_ptr_release(Connection* c);

    void compile_acl(std::string_view client_id);
    void refresh_acl();
    void revoke_denied_subscriptions();
    bool publish_denied(const codec::Publish& p);
    std::string_view peer_address() const;
    friend class Shard;
};

class Shard {
public:
    Shard(BrokerCore& core, std::size_t index, std::size_t shard_count, asio::io_context& ctx);
    ~Shard();

    BrokerCore& core;
    const std::size_t index;
    asio::io_context& ctx;
    ShardCounters counters;

    // Read buffer shared by all connections of this shard: an idle connection
    // holds no receive memory of its own.
    std::vector<std::byte>& read_buffer();
    std::vector<std::byte> scratch_out;
    // Every 3.1.1 PUBLISH read on this shard is decoded into this one
    // (codec::decode_publish_into): its 5.0 properties stay empty.
    codec::Publish publish_in_v311;

    SessionTable sessions;
    using ConnectionList = boost::intrusive::list<
        Connection, boost::intrusive::member_hook<Connection, boost::intrusive::list_member_hook<>,
                                                  &Connection::shard_link_>,
        boost::intrusive::constant_time_size<false>>;
    // Every connection of this shard, from accept (or arrival by migrate)
    // until remove(); the list owns them (through Connection::shard_ref_).
    ConnectionList connections;
    void add(ConnectionRef conn);
    // Drops the shard's reference; later, not from the connection's own handlers,
    // since this may destroy it.
    void remove(Connection& conn);


    // This shard's replica of the subscription tree: touched by its thread only.
    TopicTree tree;
    // Applies to this replica; returns whether the change did anything (a new
    // subscription, or one removed).
    bool apply(const TreeChange& change);

    // Routes a message published on this shard. Returns matching subscribers.
    std::size_t route(const MessageRef& msg);
    // Routes a message received on this shard, built into a Message only when
    // a receiver keeps it (send_in_place says when none does).
    std::size_t route(const MessageInit& init, Clock::time_point now);
    // Takes the delivery's message reference over.
    void deliver_local(Delivery&& d);
    // Sends a message that needs no Message to its only receiver at once and
    // returns the deliveries (0 or 1); nullopt when it must be built and routed.
    std::optional<std::size_t> send_in_place(const MessageInit& init, std::span<const Subscription> matches);
    void keep_retained(const MessageRef& msg);
    std::size_t deliver_matches(const MessageRef& msg, std::span<const Subscription> matches);
    // The subscriptions matching `topic`, sorted by subscriber: from the match
    // cache when `cached` and it has them for this tree, else found into `scratch`.
    std::span<const Subscription> match(std::string_view topic, std::vector<Subscription>& scratch, bool cached);
    void retained_to(Session& s, std::string_view filter, const SubscriptionOptions& opts);

    // In-process subscribers whose handlers run on this loop: touched by its
    // thread only (registered through a post when subscribed from elsewhere).
    struct InProcessHandler {
        std::shared_ptr<MessageHandler> plain;
        std::shared_ptr<DurableHandler> durable;
    };
    std::unordered_map<SubscriberId, InProcessHandler> handlers;

    // The last PUBLISH encoded for a subscriber, reused byte for byte by every
    // other subscriber that gets the same bytes (a fan-out): the same message,
    // QoS, retain flag and protocol version, and nothing per subscriber in it
    // (no subscription identifier, topic alias or remaining expiry). For QoS 1
    // and 2 only the packet identifier differs; it is written at packet_id_at.
    // The first delivery of a message's bytes is encoded straight into its
    // connection's output, since in 1→1 there is no second; the second encodes
    // them here once for itself and every one after it.
    struct EncodedPublish {
        uint64_t serial = 0;  // Message::serial(); 0: nothing encoded yet
        uint8_t qos = 0;
        bool retain = false;
        codec::Version version = codec::Version::V311;
        bool encoded = false;  // `bytes` hold them (else only their first delivery was seen)
        std::vector<std::byte> bytes;
        std::size_t packet_id_at = 0;
        // The packet encoded from, reused: a fresh codec::Publish zeroes its 5.0
        // Properties (a few hundred bytes) for every message, 3.1.1 ones too.
        codec::Publish packet;
    };
    // The bytes of a delivery that were delivered before (same message, QoS,
    // retain flag and version); nullptr for a first delivery, whose packet
    // publish_packet() fills for the caller to encode into the output.
    const EncodedPublish* repeated_publish(const MessageRef& msg, uint8_t qos, bool retain, codec::Version version);
    codec::Publish& publish_packet(const MessageRef& msg, uint8_t qos, bool retain, codec::Version version);
    // The same without properties, from bytes that are not a Message.
    codec::Publish& publish_packet(std::string_view topic, Bytes payload, uint8_t qos, bool retain);
    // Empties what publish_packet() filled in that only a 5.0 packet carries.
    void done_with_packet(codec::Version version) {
        if (version == codec::Version::V5) encoded_.packet.properties = {};
    }

    // Whether the last route() reached a durable in-process subscriber.
    bool last_route_durable() const { return last_route_durable_; }
    // The connection's held acknowledgements are released, in the order the
    // turns that held them ended, once (1) every durable subscriber completed
    // the ticket of this turn's deliveries, (2) the durable gate is open and
    // (3) the session store committed what this turn submitted.
    void hold_acks(ConnectionRef c) { held_.push_back(std::move(c)); }
    // End of a loop turn: write every dirty connection, post cross-shard batches.
    void flush();
    void mark_dirty(ConnectionRef c) { dirty_.push_back(std::move(c)); }

    SubscriberId new_subscriber_id(bool in_process);
    // A client session's id; a persistent one gets a store key (see kPersistentBit).
    SubscriberId new_session_id(bool persistent);
    // Changes for the session store made during this turn, submitted by flush().
    std::vector<PersistOp> persist_ops;
    void destroy_session(Session* s);
    void publish_will(Session& s);
    // Starts the session's expiry (and will delay) after its connection ended;
    // `remaining` for a session loaded from the store.
    void schedule_expiry(Session& s, std::optional<std::chrono::milliseconds> remaining = std::nullopt);

    void start_sweep();

    // Pauses reading from the connection of the session `origin` (a network
    // publisher, on any shard) for a moment, so a slow subscriber holds its
    // publishers back. `last_origin` / `last` skip a request repeated for the
    // same publisher within a pause. Returns false when the publisher cannot be
    // slowed (in-process origin).
    bool throttle_publisher(OriginId origin, OriginId& last_origin, Clock::time_point& last);
    void pause_publisher(OriginId origin);

    // This shard's loop only: runs `fn` now if the durable gate is open, else
    // once it opens, in the order the calls came.
    void when_durable_gate_open(std::function<void()> fn);

    // This loop only: the acks of batch `seq` are free of durable subscribers.
    void on_ticket_done(uint64_t seq);

private:
    void sweep();
    void release_after_durable_tasks();
    void recheck_durable_gate();
    void advance_ack_batches();
    // The ticket of this turn's durable deliveries (created by the first one).
    DurableTicket turn_ticket();
    friend class Connection;  // a file-transfer command holds its ack on the turn's ticket

    struct ShardTicket : TicketState {
        Shard* shard = nullptr;
        std::atomic<uint64_t> batch_seq{0};  // set when the turn ends with held acks, else 0
    };
    ShardTicket* turn_ticket_ = nullptr;  // this turn's, holding one ref of its own
    // Drops the shard's own ref of a turn's ticket; the last ref runs its done().
    static void drop_own_ref(ShardTicket* t);
    // Acknowledgements held by connections in one turn, in turn order.
    struct AckBatch {
        uint64_t seq = 0;
        // A connection closed meanwhile stays allocated until its batch is
        // released, which then sends nothing (release_held_acks).
        std::vector<std::pair<ConnectionRef, uint64_t>> upto;
        bool durable_done = false;
    };
    std::deque<AckBatch> ack_batches_;
    uint64_t next_batch_seq_ = 1;

    std::vector<std::byte> read_buf_;  // read_buffer()
    std::vector<ConnectionRef> dirty_;
    std::vector<ConnectionRef> flushing_;
    EncodedPublish encoded_;
    std::vector<std::vector<Delivery>> outbox_;  // per destination shard
    std::vector<Subscription> matches_;          // scratch for route()
    MatchCache match_cache_;                     // route()'s recent matches
    std::vector<ConnectionRef> held_;  // connections holding acks this turn
    bool last_route_durable_ = false;
    int route_depth_ = 0;  // route() re-entered by an in-process handler that publishes
    asio::steady_timer sweep_timer_;
    uint64_t next_id_ = 1;
    // Releases waiting for the durable gate, and the timer that re-asks it.
    std::deque<std::function<void()>> gated_;
    std::unique_ptr<asio::steady_timer> gate_timer_;
};

class BrokerCore : public Router {
public:
    // Loops [0, shard_loops) are broker shards (they accept and own network
    // sessions); every later loop of the pool is a service loop, which routes
    // what its in-process publishers publish and runs its in-process
    // subscribers' handlers. shard_loops 0: every loop is a shard.
    BrokerCore(const BrokerConfig& config, net::LoopPool& loops, std::size_t shard_loops, std::string version);
    ~BrokerCore() override;

    std::expected<void, std::string> start();
    // Closes listeners, stops reading from clients, waits (up to
    // kAckDrainLimit) until no acknowledgement is held for a durable subscriber
    // and those released are written, then disconnects the clients on every
    // shard and calls `done` once.
    void stop(std::function<void()> done);
    // Long enough for a writer thread's commit under load, well inside a
    // kubelet's default grace period of 30 s; an ack still held after it is
    // not sent (its client sends the message again).
    static constexpr std::chrono::seconds kAckDrainLimit{10};
    std::vector<uint16_t> ports() const;
    ListenerState& listener(std::size_t index) { return *listeners_[index]; }
    void collect_metrics(MetricSink& sink) const;

    // Router
    std::expected<void, std::string> publish(std::string_view topic, Bytes payload,
                                             const PublishOptions& options) override;
    std::expected<SubscriberId, std::string> subscribe(std::string_view filter, asio::io_context& loop,
                                                       MessageHandler handler) override;
    std::expected<SubscriberId, std::string> subscribe_durable(std::string_view filter, asio::io_context& loop,
                                                               DurableHandler handler) override;
    std::expected<SubscriberId, std::string> subscribe_in_process(std::string_view filter, asio::io_context& loop,
                                                                  Shard::InProcessHandler handler);
    void unsubscribe(SubscriberId id) override;
    void set_durable_gate(std::function<bool()> open) override { durable_gate = std::move(open); }
    // Set before start(); called from every shard (Shard::when_durable_gate_open).
    std::function<bool()> durable_gate;

    const BrokerConfig config;
    const std::string version;
    Clock::time_point started_at;

    // Broker shards: the loops that own network sessions.
    std::size_t shard_count() const { return network_shards_; }
    // Every loop of the pool, service loops included (each has a Shard, for routing).
    std::size_t loop_count() const { return shards_.size(); }
    Shard& shard(std::size_t i) { return *shards_[i]; }
    // The shard that owns the session of `client_id`.
    std::size_t shard_for_client(std::string_view client_id) const;

    // Applies `changes` to the replicas of every shard but `origin` (the caller
    // has applied them to its own), then runs `done` on `origin`.
    void replicate(std::size_t origin, std::vector<TreeChange> changes, std::function<void()> done);
    SharedCounter subscriptions_current;
    mutable std::mutex retained_mutex;
    RetainedStore retained;

    SharedCounter connections_current;
    SharedCounter sessions_current;

    std::atomic<bool> stopping{false};

    // Deliveries posted to each shard and not yet handled there. A shard that
    // falls behind makes the others pause reading from their clients (TCP
    // back-pressure to publishers) instead of queueing without bound.
    static constexpr int64_t kMaxCrossShardBacklog = 65536;
    std::unique_ptr<std::atomic<int64_t>[]> cross_shard_backlog;
    bool shards_congested() const;

    // The session store, or null (broker.persistence off). Set before start().
    SessionPersistence* persistence = nullptr;
    std::atomic<uint64_t> next_store_key{1};
    std::atomic<uint64_t> next_store_seq{1};
    // Stored queue rows below this seq were written by an earlier run.
    uint64_t restored_below_seq = 0;
    uint64_t retained_version = 0;  // under retained_mutex

    // In-process subscribers of the Router and their filters, for unsubscribe;
    // the handlers themselves live on their loop's Shard.
    std::mutex handlers_mutex;
    std::unordered_map<SubscriberId, std::string> in_process_filters;
    // Authentication and ACL (Broker::set_auth); null: anonymous check only.
    auth::Auth* auth = nullptr;
    // MQTT file transfer (Broker::set_file_transfer); null: `$file/` is a $-topic like any other.
    FileTransferHook* file_transfer = nullptr;
    // For in-process subscribers, from any thread.
    void apply_everywhere(TreeChange change);

private:
    void accept_next(ListenerState& l, std::size_t shard);
    // On shard `s`'s loop: disconnects its clients once none holds an ack or
    // `deadline` has passed, then calls `done`.
    void drain_then_disconnect(Shard& s, Clock::time_point deadline, std::function<void()> done);
    // Binds the listener's acceptors, one per broker shard.
    std::expected<void, std::string> bind_listener(ListenerState& l);
    std::expected<void, std::string> load_persisted();
    void publish_sys();
    // Reloads listeners' TLS files that changed on disk; runs every 2 s on loop 0.
    void check_tls_files();

    std::vector<std::unique_ptr<Shard>> shards_;  // one per loop
    std::size_t network_shards_ = 1;
    std::vector<std::unique_ptr<ListenerState>> listeners_;
    std::unique_ptr<asio::steady_timer> sys_timer_;
    std::unique_ptr<asio::steady_timer> tls_reload_timer_;
    std::atomic<uint64_t> next_in_process_id_{1};
};

}  // namespace ib::mqtt::broker
