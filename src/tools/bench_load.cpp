// The load generator's Asio engine: publishers, subscribers and idle clients
// spread over one io_context per thread. The generator must never be what a
// benchmark measures, so every connection batches: a publisher fills one
// buffer with many PUBLISHes per write(), a subscriber parses every complete
// packet of a large read and answers all its acks with one write.
#include "tools/bench_load.hpp"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <cmath>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>
#include <vector>

#include <utility>  // before Asio: Boost 1.74's coroutine headers miss it
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "core/metrics.hpp"
#include "mqtt/codec/codec.hpp"

namespace ib::tools {
namespace {

namespace asio = boost::asio;
namespace codec = ib::mqtt::codec;
using tcp = asio::ip::tcp;

uint64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t cpu_ns() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto tv = [](const timeval& t) {
        return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(t.tv_usec) * 1000u;
    };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// Little-endian by hand so the payload means the same on any host.
void put_le(std::byte* at, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) at[i] = static_cast<std::byte>(v >> (8 * i));
}
uint64_t get_le(const std::byte* at, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(at[i]);
    return v;
}

// Per (subscriber, publisher) order tracking. A ring of recent sequence numbers
// tells a late arrival (out of order, first time seen) from a duplicate without
// allocating; anything older than the ring counts as out of order.
struct SeqTrack {
    static constexpr uint64_t kWindow = 256;
    uint64_t highest = 0;  // one past the largest sequence number seen
    uint64_t unique = 0;
    uint64_t out_of_order = 0;
    uint64_t duplicates = 0;
    bool touched = false;  // seen in the read being parsed
    std::array<uint64_t, kWindow / 64> seen{};

    bool test(uint64_t seq) const { return (seen[(seq % kWindow) / 64] >> (seq % 64)) & 1u; }
    void set(uint64_t seq) { seen[(seq % kWindow) / 64] |= uint64_t{1} << (seq % 64); }
    void clear(uint64_t seq) { seen[(seq % kWindow) / 64] &= ~(uint64_t{1} << (seq % 64)); }

    // Returns true when `seq` is delivered for the first time.
    bool on(uint64_t seq) {
        if (seq >= highest) {
            // Slots between the old and new highest now stand for newer numbers.
            if (seq - highest >= kWindow) {
                seen.fill(0);
            } else {
                for (uint64_t s = highest; s < seq; ++s) clear(s);
            }
            clear(seq);
            set(seq);
            highest = seq + 1;
            ++unique;
            return true;
        }
        if (highest - seq > kWindow) {
            ++out_of_order;
            ++unique;
            return true;
        }
        if (test(seq)) {
            ++duplicates;
            return false;
        }
        set(seq);
        ++out_of_order;
        ++unique;
        return true;
    }
};

class Client;

codec::Ack make_ack(codec::PacketType type, uint16_t packet_id) {
    codec::Ack a;
    a.type = type;
    a.packet_id = packet_id;
    return a;
}

struct Shared {
    Shared(const BenchOptions& o, tcp::endpoint e, tcp::endpoint sub_e, codec::Version v)
        : opts(o), endpoint(e), sub_endpoint(sub_e), version(v) {}

    const BenchOptions& opts;
    tcp::endpoint endpoint;      // publishers and idle connections
    tcp::endpoint sub_endpoint;  // subscribers (the same unless --sub-host/--sub-port)
    codec::Version version;
    std::atomic<bool> publishing{false};
    std::atomic<bool> measuring{false};
    std::atomic<uint64_t> publish_start_ns{0};
    uint64_t own_stamps_after_ns = 0;  // set before any connection; see on_publish
    double per_pub_rate = 0;  // msgs/s, 0 = unlimited
    // For --max-backlog, pubsub mode only: progress[sub * pubs + pub] is one
    // past the largest sequence number of `pub` that `sub` has received. Each
    // slot has one writer (the subscriber, once per read, not per message);
    // a publisher reads the slots of its own subscribers.
    uint32_t pubs = 0;
    std::unique_ptr<std::atomic<uint64_t>[]> progress;
    std::vector<std::vector<uint32_t>> subs_of_pub;
    std::mutex error_mutex;
    std::string first_error;

    void report_error(std::string e) {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = std::move(e);
    }
};

// One generator thread: its event loop, its clients and its own counters, so
// the hot path never writes a cache line another thread reads often.
struct Worker {
    // Concurrency hint 1: each loop is run by exactly one thread, so Asio
    // can drop its internal locking.
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
    asio::steady_timer ping_timer{io};
    std::thread thread;
    std::vector<Client*> clients;
    std::deque<Client*> connect_queue;
    uint32_t connecting = 0;

    LocalCounter sent;             // PUBLISHes written
    LocalCounter received;         // deliveries, duplicates included
    LocalCounter received_unique;  // first deliveries of a sequence number
    LocalCounter foreign;
    LocalCounter established;      // CONNACK (and SUBACK for subscribers) done
    LocalCounter failed;
    LatencyHistogram latency;      // touched only by this worker's thread

    void connect_next();
    void ping_all();
};

// Connect attempts in flight per worker: enough to overlap round trips, few
// enough not to overflow the broker's listen backlog (SYNs dropped there come
// back only after a one-second retransmit and would distort the connect rate).
constexpr uint32_t kMaxConnecting = 32;
// Ample for the run lengths used; a ping every minute keeps even long holds alive.
constexpr uint16_t kKeepAliveS = 600;
constexpr auto kPingEvery = std::chrono::seconds(60);
// One write carries up to this much; bigger batches do not make fewer syscalls
// matter more, and a smaller one keeps latency-rate runs responsive.
constexpr std::size_t kBatchBytes = 64 * 1024;
constexpr std::size_t kBusyReadBytes = 256 * 1024;
constexpr std::size_t kIdleReadBytes = 512;

enum class Role : uint8_t { Pub, Sub, Idle };

class Client {
public:
    Client(Worker& w, Shared& s, Role role, uint32_t index, std::string topic, uint32_t pubs)
        : w_(w), s_(s), role_(role), index_(index), topic_(std::move(topic)), sock_(w.io), timer_(w.io) {
        client_id_ = fmt_id(role, index);
        rbuf_.resize(role == Role::Idle ? kIdleReadBytes : kBusyReadBytes);
        if (role == Role::Sub) tracks_.resize(pubs);
        if (role == Role::Pub) {
            payload_.assign(s.opts.size, std::byte{'x'});
            if (s.opts.qos > 0) ids_used_.assign(65536, 0);
            inflight_max_ = std::clamp<uint32_t>(s.opts.inflight, 1, 65535);
        }
    }

    Role role() const { return role_; }
    uint32_t index() const { return index_; }
    uint64_t published() const { return published_.get(); }
    const std::vector<SeqTrack>& tracks() const { return tracks_; }
    bool ready() const { return state_ == State::Ready; }

    void start() {
        state_ = State::Connecting;
        sock_.async_connect(role_ == Role::Sub ? s_.sub_endpoint : s_.endpoint, [this](const boost::system::error_code& ec) {
            if (ec) return fail("connect: " + ec.message());
            boost::system::error_code ignored;
            // Latency must never wait for Nagle; throughput comes from our batches.
            sock_.set_option(tcp::no_delay(true), ignored);
            codec::Connect c;
            c.version = s_.version;
            c.protocol_name = "MQTT";
            c.clean_start = !(role_ == Role::Sub && s_.opts.persistent_subs);
            if (!c.clean_start && s_.version == codec::Version::V5) c.properties.session_expiry_interval = 3600;
            c.keep_alive = kKeepAliveS;
            c.client_id = client_id_;
            // Let the broker keep as many QoS 1/2 deliveries in flight to a
            // subscriber as MQTT 5 allows, so the window is the broker's choice.
            if (s_.version == codec::Version::V5 && role_ == Role::Sub) c.properties.receive_maximum = 65535;
            codec::encode(pending_, c);
            state_ = State::WaitConnack;
            flush();
            read();
        });
    }

    // Called on this client's worker once the run starts publishing.
    void pump() {
        if (state_ != State::Ready || writing_) return;
        if (role_ == Role::Pub && s_.publishing.load(std::memory_order_relaxed)) fill_batch();
        flush();
    }

    void send_ping() {
        if (state_ != State::Ready) return;
        codec::encode(pending_, codec::Pingreq{});
        flush();
    }

    void disconnect() {
        if (state_ != State::Ready) return;
        codec::encode(pending_, codec::Disconnect{}, s_.version);
        state_ = State::Closing;
        flush();
    }

    void close() {
        boost::system::error_code ignored;
        sock_.close(ignored);
        timer_.cancel();
        state_ = State::Closed;
    }

private:
    enum class State : uint8_t { Idle, Connecting, WaitConnack, WaitSuback, Ready, Closing, Closed };

    static std::string fmt_id(Role role, uint32_t index) {
        const char* r = role == Role::Pub ? "p" : role == Role::Sub ? "s" : "c";
        return "ib-bench-" + std::to_string(::getpid()) + "-" + r + std::to_string(index);
    }

    void fail(std::string why) {
        if (state_ == State::Closing || state_ == State::Closed) return;
        bool was_establishing = state_ != State::Ready;
        s_.report_error(client_id_ + ": " + why);
        w_.failed.add();
        close();
        if (was_establishing) {
            --w_.connecting;
            w_.connect_next();
        }
    }

    void established() {
        state_ = State::Ready;
        w_.established.add();
        --w_.connecting;
        w_.connect_next();
        if (role_ == Role::Pub && s_.publishing.load(std::memory_order_relaxed)) pump();
    }

    void read() {
        if (rlen_ == rbuf_.size()) rbuf_.resize(rbuf_.size() * 2);
        sock_.async_read_some(
            asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_),
            [this](const boost::system::error_code& ec, std::size_t n) {
                if (ec) {
                    if (state_ == State::Closing || state_ == State::Closed) return;
                    return fail("read: " + ec.message());
                }
                rlen_ += n;
                if (!parse()) return;
                if (role_ == Role::Pub) {
                    pump();  // acks may have opened the window; PUBRELs wait in pending_
                } else {
                    flush();
                }
                read();
            });
    }

    // Parses every complete packet in the read buffer; false when the
    // connection was failed.
    bool parse() {
        // One clock read per read() keeps latency accounting off the per-packet
        // path; the packets of one read arrived together anyway.
        const uint64_t now = role_ == Role::Sub ? mono_ns() : 0;
        const bool measuring = s_.measuring.load(std::memory_order_relaxed);
        std::size_t pos = 0;
        while (pos < rlen_) {
            Bytes avail(rbuf_.data() + pos, rlen_ - pos);
            auto header = codec::decode_frame_header(avail);
            if (!header) {
                fail(std::string("malformed packet from broker: ") + header.error().message);
                return false;
            }
            if (!*header) break;
            const codec::FrameHeader& h = **header;
            if (h.total_size() > avail.size()) {
                // Make room for the whole packet before the next read.
                if (h.total_size() > rbuf_.size()) rbuf_.resize(std::max(h.total_size(), rbuf_.size() * 2));
                break;
            }
            auto packet = codec::decode_packet(h, avail.subspan(h.header_size, h.remaining_length), s_.version);
            if (!packet) {
                fail(std::string("malformed packet from broker: ") + packet.error().message);
                return false;
            }
            if (!on_packet(*packet, now, measuring)) return false;
            pos += h.total_size();
        }
        publish_progress();
        if (pos > 0) {
            std::memmove(rbuf_.data(), rbuf_.data() + pos, rlen_ - pos);
            rlen_ -= pos;
        }
        return true;
    }

    bool on_packet(const codec::Packet& packet, uint64_t now, bool measuring) {
        if (const auto* p = std::get_if<codec::Publish>(&packet)) {
            on_publish(*p, now, measuring);
        } else if (const auto* a = std::get_if<codec::Ack>(&packet)) {
            on_ack(*a);
        } else if (const auto* c = std::get_if<codec::Connack>(&packet)) {
            if (state_ != State::WaitConnack) return fail_false("unexpected CONNACK");
            if (c->reason_code != 0) return fail_false("CONNACK refused, code " + std::to_string(c->reason_code));
            if (c->properties.receive_maximum) {
                inflight_max_ = std::min<uint32_t>(inflight_max_, *c->properties.receive_maximum);
            }
            if (role_ == Role::Sub) {
                codec::Subscribe sub;
                sub.packet_id = 1;
                sub.topics.push_back(codec::SubscribeTopic{.filter = topic_, .qos = s_.opts.qos});
                codec::encode(pending_, sub, s_.version);
                state_ = State::WaitSuback;
            } else {
                established();
            }
        } else if (const auto* sa = std::get_if<codec::Suback>(&packet)) {
            if (state_ != State::WaitSuback) return fail_false("unexpected SUBACK");
            if (sa->reason_codes.empty() || sa->reason_codes[0] >= 0x80) return fail_false("subscription refused");
            established();
        } else if (std::holds_alternative<codec::Disconnect>(packet)) {
            return fail_false("broker sent DISCONNECT");
        }
        // PINGRESP and anything else needs no answer.
        return true;
    }

    // Tells publishers how far delivery has got, once per read.
    void publish_progress() {
        for (uint32_t pub : touched_) {
            SeqTrack& t = tracks_[pub];
            t.touched = false;
            if (s_.progress && pub < s_.pubs) {
                s_.progress[std::size_t{index_} * s_.pubs + pub].store(t.highest, std::memory_order_relaxed);
            }
        }
        touched_.clear();
    }

    bool fail_false(std::string why) {
        fail(std::move(why));
        return false;
    }

    void on_publish(const codec::Publish& p, uint64_t now, bool measuring) {
        w_.received.add();
        if (p.qos == 1) {
            codec::encode(pending_, make_ack(codec::PacketType::Puback, p.packet_id), s_.version);
        } else if (p.qos == 2) {
            codec::encode(pending_, make_ack(codec::PacketType::Pubrec, p.packet_id), s_.version);
        }
        if (p.payload.size() < kMinPayload) {
            w_.foreign.add();
            return;
        }
        const std::byte* b = p.payload.data();
        uint64_t sent_at = get_le(b, 8);
        auto pub = static_cast<uint32_t>(get_le(b + 8, 4));
        uint64_t seq = get_le(b + 12, 8);
        // CLOCK_MONOTONIC is system-wide, so in pubsub mode a stamp older than
        // this run comes from an earlier run whose backlog the broker is still
        // forwarding: not ours to count. (In sub mode the publishers are
        // another process that may well have started first.)
        if (pub >= tracks_.size() || sent_at < s_.own_stamps_after_ns) {
            w_.foreign.add();
            return;
        }
        if (tracks_[pub].on(seq)) w_.received_unique.add();
        if (!tracks_[pub].touched) {
            tracks_[pub].touched = true;
            touched_.push_back(pub);
        }
        if (measuring && now >= sent_at) w_.latency.record(now - sent_at);
    }

    void on_ack(const codec::Ack& a) {
        switch (a.type) {
            case codec::PacketType::Pubrel:  // subscriber side of QoS 2
                codec::encode(pending_, make_ack(codec::PacketType::Pubcomp, a.packet_id),
                              s_.version);
                break;
            case codec::PacketType::Pubrec:  // publisher side of QoS 2
                codec::encode(pending_, make_ack(codec::PacketType::Pubrel, a.packet_id),
                              s_.version);
                break;
            case codec::PacketType::Puback:
            case codec::PacketType::Pubcomp:
                if (!ids_used_.empty() && ids_used_[a.packet_id]) {
                    ids_used_[a.packet_id] = 0;
                    --inflight_;
                }
                break;
            default:
                break;
        }
    }

    // Appends as many PUBLISHes as the rate, the inflight window and the batch
    // size allow; arms the rate timer when the rate is what holds us back.
    void fill_batch() {
        const uint64_t now = mono_ns();
        const std::size_t packet_size = approx_packet_size();
        uint64_t allow = std::max<std::size_t>(1, kBatchBytes / packet_size);
        if (s_.per_pub_rate > 0) {
            const uint64_t start = s_.publish_start_ns.load(std::memory_order_relaxed);
            // Message k is due at start + k / rate: a fixed schedule, so a late
            // wake-up catches up instead of lowering the rate.
            auto due_total = static_cast<uint64_t>(static_cast<double>(now - start) * 1e-9 * s_.per_pub_rate) + 1;
            uint64_t due = due_total > seq_ ? due_total - seq_ : 0;
            if (due == 0) {
                arm_timer(start + static_cast<uint64_t>(static_cast<double>(seq_) * 1e9 / s_.per_pub_rate));
                return;
            }
            allow = std::min(allow, due);
        }
        if (s_.progress && !s_.subs_of_pub[index_].empty()) {
            // Paced by the slowest of our subscribers: the fastest alone would
            // let the others' queues grow without bound.
            uint64_t upto = UINT64_MAX;
            for (uint32_t sub : s_.subs_of_pub[index_]) {
                upto = std::min(upto, s_.progress[std::size_t{sub} * s_.pubs + index_].load(std::memory_order_relaxed));
            }
            const uint64_t ahead = seq_ > upto ? seq_ - upto : 0;
            if (ahead >= s_.opts.max_backlog) {
                // Poll rather than be woken: a millisecond is short next to the
                // time a useful backlog takes to drain, and costs little CPU.
                arm_timer(now + 1'000'000);
                return;
            }
            allow = std::min<uint64_t>(allow, s_.opts.max_backlog - ahead);
        }
        if (s_.opts.qos > 0) allow = std::min<uint64_t>(allow, inflight_max_ - std::min(inflight_, inflight_max_));
        codec::Publish p;
        p.qos = s_.opts.qos;
        p.topic = topic_;
        for (uint64_t i = 0; i < allow; ++i) {
            put_le(payload_.data(), now, 8);
            put_le(payload_.data() + 8, index_, 4);
            put_le(payload_.data() + 12, seq_, 8);
            p.payload = Bytes(payload_.data(), payload_.size());
            if (p.qos > 0) {
                p.packet_id = next_packet_id();
                ++inflight_;
            }
            codec::encode(pending_, p, s_.version);
            ++seq_;
        }
        published_.add(allow);
        w_.sent.add(allow);
    }

    std::size_t approx_packet_size() const { return payload_.size() + topic_.size() + 8; }

    uint16_t next_packet_id() {
        // The window is at most 65535, so a free identifier always exists.
        do {
            next_id_ = static_cast<uint16_t>(next_id_ + 1);
        } while (next_id_ == 0 || ids_used_[next_id_]);
        ids_used_[next_id_] = 1;
        return next_id_;
    }

    // Wakes pump() at `due_ns` (CLOCK_MONOTONIC); one wake-up pending at most.
    void arm_timer(uint64_t due_ns) {
        if (timer_armed_) return;
        timer_armed_ = true;
        auto wait = std::chrono::nanoseconds(static_cast<int64_t>(due_ns - std::min(due_ns, mono_ns())));
        timer_.expires_after(wait);
        timer_.async_wait([this](const boost::system::error_code& ec) {
            timer_armed_ = false;
            if (!ec) pump();
        });
    }

    // Writes whatever is pending, unless a write is in flight: its completion
    // picks up what accumulated meanwhile, so there is one write per turn.
    void flush() {
        if (writing_ || pending_.empty() || state_ == State::Closed) return;
        out_.swap(pending_);
        pending_.clear();
        writing_ = true;
        asio::async_write(sock_, asio::buffer(out_), [this](const boost::system::error_code& ec, std::size_t) {
            writing_ = false;
            out_.clear();
            if (ec) {
                if (state_ == State::Closing || state_ == State::Closed) return;
                return fail("write: " + ec.message());
            }
            if (state_ == State::Closing) {
                flush();  // the DISCONNECT may have been queued behind this write
                return;
            }
            if (role_ == Role::Pub) {
                pump();
            } else {
                flush();
            }
        });
    }

    Worker& w_;
    Shared& s_;
    Role role_;
    uint32_t index_;
    std::string topic_;  // publish topic, or subscription filter
    std::string client_id_;
    tcp::socket sock_;
    asio::steady_timer timer_;
    State state_ = State::Idle;

    std::vector<std::byte> rbuf_;
    std::size_t rlen_ = 0;
    std::vector<std::byte> out_;      // the buffer being written
    std::vector<std::byte> pending_;  // what the next write will carry
    bool writing_ = false;

    // Publisher state.
    std::vector<std::byte> payload_;
    uint64_t seq_ = 0;
    LocalCounter published_;  // read by the main thread to know what to expect
    std::vector<uint8_t> ids_used_;
    uint16_t next_id_ = 0;
    uint32_t inflight_ = 0;
    uint32_t inflight_max_ = 0;
    bool timer_armed_ = false;

    // Subscriber state: one tracker per publisher index.
    std::vector<SeqTrack> tracks_;
    std::vector<uint32_t> touched_;  // publishers heard from in the current read
};

void Worker::connect_next() {
    while (connecting < kMaxConnecting && !connect_queue.empty()) {
        Client* c = connect_queue.front();
        connect_queue.pop_front();
        ++connecting;
        c->start();
    }
}

void Worker::ping_all() {
    ping_timer.expires_after(kPingEvery);
    ping_timer.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        for (Client* c : clients) c->send_ping();
        ping_all();
    });
}

// Polls `done` every millisecond until it holds or `timeout` passes.
template <typename F>
bool wait_until(F done, std::chrono::duration<double> timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

void sleep_s(double s) {
    if (s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

}  // namespace

std::string expand_topic(std::string_view pattern, uint32_t index) {
    std::string out;
    out.reserve(pattern.size() + 8);
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'i') {
            out += std::to_string(index);
            ++i;
        } else {
            out += pattern[i];
        }
    }
    return out;
}

bool topic_matches(std::string_view filter, std::string_view topic) {
    // §4.7.2: a filter starting with a wildcard does not match topics starting with '$'.
    if (!topic.empty() && topic[0] == '$' && !filter.empty() && (filter[0] == '+' || filter[0] == '#')) return false;
    while (true) {
        auto fcut = filter.find('/');
        std::string_view flevel = filter.substr(0, fcut);
        if (flevel == "#") return true;  // also matches the parent level (§4.7.1.2)
        auto tcut = topic.find('/');
        std::string_view tlevel = topic.substr(0, tcut);
        if (flevel != "+" && flevel != tlevel) return false;
        bool fend = fcut == std::string_view::npos;
        bool tend = tcut == std::string_view::npos;
        if (fend || tend) {
            // "a/#" matches "a": the filter's remaining level is a lone '#'.
            return (fend && tend) || (tend && filter.substr(fcut + 1) == "#");
        }
        filter.remove_prefix(fcut + 1);
        topic.remove_prefix(tcut + 1);
    }
}

LoadResult run_load(const BenchOptions& opts, const std::string& address, const std::string& sub_address) {
    LoadResult result;
    Shared shared(opts, tcp::endpoint(asio::ip::make_address(address), opts.port),
                  tcp::endpoint(asio::ip::make_address(sub_address), opts.sub_port != 0 ? opts.sub_port : opts.port),
                  opts.version == 5 ? codec::Version::V5 : codec::Version::V311);
    const bool with_pubs = opts.mode == BenchMode::Pub || opts.mode == BenchMode::PubSub;
    const bool with_subs = opts.mode == BenchMode::Sub || opts.mode == BenchMode::PubSub;
    const uint32_t pubs = with_pubs ? opts.pubs : 0;
    const uint32_t subs = with_subs ? opts.subs : 0;
    const uint32_t idle = opts.mode == BenchMode::Conn ? opts.conns : 0;
    if (opts.mode == BenchMode::PubSub) {
        shared.own_stamps_after_ns = mono_ns();
    }
    if (opts.total_rate > 0 && pubs > 0) {
        shared.per_pub_rate = opts.total_rate / pubs;
    } else {
        shared.per_pub_rate = opts.rate;
    }

    std::vector<std::unique_ptr<Worker>> workers;
    for (uint32_t i = 0; i < std::max<uint32_t>(1, opts.threads); ++i) {
        workers.push_back(std::make_unique<Worker>());
    }
    std::vector<std::unique_ptr<Client>> clients;
    auto add = [&](Role role, uint32_t index, std::string topic) {
        Worker& w = *workers[clients.size() % workers.size()];
        // Subscribers track every publisher index the options name: in sub mode
        // the publishers are another process started with the same --pubs.
        clients.push_back(std::make_unique<Client>(w, shared, role, index, std::move(topic), opts.pubs));
        w.clients.push_back(clients.back().get());
        w.connect_queue.push_back(clients.back().get());
    };
    // The publish side needs the subscription matrix to know what each
    // publisher's messages should produce: matches[p] subscribers see publisher p.
    std::vector<std::string> pub_topics;
    for (uint32_t p = 0; p < pubs; ++p) pub_topics.push_back(expand_topic(opts.topic, p));
    std::vector<uint64_t> matches(pubs, 0);
    shared.pubs = pubs;
    shared.subs_of_pub.resize(pubs);
    for (uint32_t s = 0; s < subs; ++s) {
        std::string filter = expand_topic(opts.sub_topic, s);
        for (uint32_t p = 0; p < pubs; ++p) {
            if (topic_matches(filter, pub_topics[p])) {
                ++matches[p];
                shared.subs_of_pub[p].push_back(s);
            }
        }
        add(Role::Sub, s, std::move(filter));
    }
    for (uint32_t p = 0; p < pubs; ++p) add(Role::Pub, p, pub_topics[p]);
    for (uint32_t c = 0; c < idle; ++c) add(Role::Idle, c, {});
    const uint64_t total_clients = clients.size();
    if (opts.mode == BenchMode::PubSub && opts.max_backlog > 0) {
        shared.progress = std::make_unique<std::atomic<uint64_t>[]>(std::size_t{subs} * pubs);
    }

    auto sum = [&](auto member) {
        uint64_t n = 0;
        for (auto& w : workers) n += ((*w).*member).get();
        return n;
    };

    const uint64_t t_connect = mono_ns();
    for (auto& w : workers) {
        asio::post(w->io, [wp = w.get()] {
            wp->connect_next();
            wp->ping_all();
        });
        w->thread = std::thread([wp = w.get()] { wp->io.run(); });
    }
    // Generous: 10,000 connections take well under a second on a healthy broker.
    const double connect_timeout = 30.0 + static_cast<double>(total_clients) / 500.0;
    wait_until([&] { return sum(&Worker::established) + sum(&Worker::failed) >= total_clients; },
               std::chrono::duration<double>(connect_timeout));
    result.connect_s = static_cast<double>(mono_ns() - t_connect) * 1e-9;
    result.connected = sum(&Worker::established);
    result.failed = sum(&Worker::failed);

    auto stop_all = [&] {
        for (auto& w : workers) {
            asio::post(w->io, [wp = w.get()] {
                for (Client* c : wp->clients) c->disconnect();
            });
        }
        // Let the DISCONNECTs leave before the sockets close, so brokers log a
        // clean disconnect rather than a reset.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        for (auto& w : workers) {
            asio::post(w->io, [wp = w.get()] {
                for (Client* c : wp->clients) c->close();
                wp->ping_timer.cancel();
                wp->guard.reset();
                wp->io.stop();
            });
        }
        for (auto& w : workers) w->thread.join();
    };

    bool usable = result.connected == total_clients || opts.mode == BenchMode::Conn;
    if (!usable || result.connected == 0) {
        if (shared.first_error.empty()) shared.report_error("timed out waiting for connections");
        stop_all();
        result.first_error = shared.first_error;
        return result;
    }

    uint64_t sent0 = 0, recv0 = 0, cpu0 = 0, t0 = 0;
    if (pubs > 0) {
        shared.publish_start_ns.store(mono_ns());
        shared.publishing.store(true);
        for (auto& w : workers) {
            asio::post(w->io, [wp = w.get()] {
                for (Client* c : wp->clients)
                    if (c->role() == Role::Pub) c->pump();
            });
        }
    }
    if (pubs > 0) sleep_s(opts.warmup_s);  // idle connections have nothing to warm up
    shared.measuring.store(true);
    sent0 = sum(&Worker::sent);
    recv0 = sum(&Worker::received);
    cpu0 = cpu_ns();
    t0 = mono_ns();
    sleep_s(opts.duration_s);
    shared.measuring.store(false);
    const uint64_t t1 = mono_ns();
    const uint64_t cpu1 = cpu_ns();
    result.sent = sum(&Worker::sent) - sent0;
    result.received = sum(&Worker::received) - recv0;
    result.window_s = static_cast<double>(t1 - t0) * 1e-9;
    result.cpu_percent = 100.0 * static_cast<double>(cpu1 - cpu0) / static_cast<double>(t1 - t0);

    if (pubs > 0) {
        shared.publishing.store(false);
        // Drain: what is still queued in the broker arrives now. Stop when all
        // expected deliveries are in, after one second with no progress, or
        // after ten seconds in all.
        auto expected_now = [&] {
            uint64_t e = 0;
            for (auto& c : clients)
                if (c->role() == Role::Pub) e += c->published() * matches[c->index()];
            return e;
        };
        if (subs > 0) {
            auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            uint64_t last = sum(&Worker::received_unique);
            auto last_progress = std::chrono::steady_clock::now();
            while (std::chrono::steady_clock::now() < drain_deadline) {
                uint64_t got = sum(&Worker::received_unique);
                if (got >= expected_now()) break;
                auto now = std::chrono::steady_clock::now();
                if (got != last) {
                    last = got;
                    last_progress = now;
                } else if (now - last_progress > std::chrono::seconds(1)) {
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let acks come back
        }
    }

    stop_all();

    // Every thread has joined: their state is ours to read.
    std::vector<uint64_t> sent_by_pub(pubs, 0);
    for (auto& c : clients)
        if (c->role() == Role::Pub) sent_by_pub[c->index()] = c->published();
    for (uint32_t p = 0; p < pubs; ++p) {
        result.sent_total += sent_by_pub[p];
        result.expected_total += sent_by_pub[p] * matches[p];
    }
    uint64_t unique = 0;
    for (auto& c : clients) {
        if (c->role() != Role::Sub) continue;
        for (const SeqTrack& t : c->tracks()) {
            unique += t.unique;
            result.out_of_order += t.out_of_order;
            result.duplicates += t.duplicates;
        }
    }
    result.received_total = sum(&Worker::received);
    result.lost = result.expected_total > unique ? result.expected_total - unique : 0;
    result.foreign = sum(&Worker::foreign);
    for (auto& w : workers) result.latency.merge(w->latency);
    result.failed = sum(&Worker::failed);
    result.first_error = shared.first_error;
    clients.clear();
    return result;
}

ConnackProbe probe_connack(const BenchOptions& opts, const std::string& address) {
    ConnackProbe probe;
    asio::io_context io{1};
    const tcp::endpoint endpoint(asio::ip::make_address(address), opts.port);
    const auto version = opts.version == 5 ? codec::Version::V5 : codec::Version::V311;
    const uint64_t deadline = mono_ns() + static_cast<uint64_t>(opts.timeout_s * 1e9);
    std::vector<std::byte> out;
    codec::Connect c;
    c.version = version;
    c.protocol_name = "MQTT";
    c.keep_alive = 10;
    const std::string id = "ib-bench-" + std::to_string(::getpid()) + "-probe";
    c.client_id = id;
    codec::encode(out, c);
    codec::Disconnect d;
    std::vector<std::byte> bye;
    codec::encode(bye, d, version);

    while (true) {
        ++probe.attempts;
        // Blocking calls are right here: one socket, and the answer is the wait.
        tcp::socket sock(io);
        boost::system::error_code ec;
        const uint64_t t0 = mono_ns();
        sock.connect(endpoint, ec);
        if (!ec) {
            sock.set_option(tcp::no_delay(true), ec);
            asio::write(sock, asio::buffer(out), ec);
        }
        std::vector<std::byte> in(256);
        std::size_t have = 0;
        while (!ec) {
            have += sock.read_some(asio::buffer(in.data() + have, in.size() - have), ec);
            if (ec) break;
            std::size_t consumed = 0;
            auto packet = codec::decode_one(Bytes(in.data(), have), version, consumed);
            if (!packet) {
                probe.error = std::string("malformed reply: ") + packet.error().message;
                break;
            }
            if (!*packet) {
                if (have == in.size()) in.resize(in.size() * 2);
                continue;
            }
            const uint64_t t1 = mono_ns();
            timespec real{};
            clock_gettime(CLOCK_REALTIME, &real);
            const auto* ack = std::get_if<codec::Connack>(&**packet);
            if (ack && ack->reason_code == 0) {
                probe.ok = true;
                probe.connack_us = static_cast<double>(t1 - t0) * 1e-3;
                probe.connack_unix_ns =
                    static_cast<uint64_t>(real.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(real.tv_nsec);
                asio::write(sock, asio::buffer(bye), ec);
                return probe;
            }
            probe.error = ack ? "CONNACK refused, code " + std::to_string(ack->reason_code) : "reply is not CONNACK";
            break;
        }
        if (ec) probe.error = ec.message();
        if (mono_ns() >= deadline) return probe;
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
}

}  // namespace ib::tools
