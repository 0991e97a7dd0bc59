// ib_forwarder: the smallest MQTT forwarder that the load generator
// (`ironbridge bench`) accepts, used by bench/compare.sh as a third column to
// show what this machine's loopback can do. It is a measuring instrument, not a
// broker: one thread, one epoll set, level-triggered, non-blocking sockets with
// TCP_NODELAY; every complete packet of one big read is handled, each
// connection's output is coalesced and written once per epoll turn, and a
// PUBLISH is encoded once per (protocol version, QoS) and copied to each
// subscriber's buffer.
//
// What it deliberately does not do (so it must never serve real clients):
// - no sessions: clean start is assumed, nothing survives a disconnect, session
//   present is always 0; no keep-alive timeouts, no wills, no authentication;
// - no wildcards: a filter with + or # is refused (SUBACK 0x80); topics match
//   byte for byte; no retained messages (the retain flag is dropped), no
//   persistence, no UNSUBSCRIBE, no QoS 2 (the connection is closed);
// - QoS 1 deliveries are not tracked: each gets the subscriber's next packet id,
//   the subscriber's PUBACK is ignored, nothing is redelivered, and Receive
//   Maximum is not enforced; MQTT 5 properties are skipped on input and never sent;
// - no flow control: output buffers grow until a connection has more than
//   kMaxOutput bytes unsent, and then it is closed (the generator's
//   --max-backlog keeps a run far below that);
// - malformed input is not diagnosed: the connection is closed, nothing more.
// It listens on 127.0.0.1 only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

using u8 = uint8_t;

// One read takes up to this much: at 64-byte payloads that is thousands of
// packets per syscall, which is the point of the exercise.
constexpr std::size_t kReadBytes = 1 << 20;
constexpr std::size_t kMaxPacket = 16 << 20;  // larger packets close the connection
constexpr std::size_t kMaxOutput = 256 << 20;

struct Conn;

struct Sub {
    Conn* conn;
    u8 qos;  // granted: 0 or 1
};

// Heterogeneous lookup, so a topic that is a view into the read buffer finds
// its subscribers without building a std::string per PUBLISH.
struct TopicHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Subscriptions = std::unordered_map<std::string, std::vector<Sub>, TopicHash, std::equal_to<>>;

struct Conn {
    int fd = -1;
    u8 version = 0;  // 0 until CONNECT; then 4 (3.1.1) or 5
    bool dirty = false;      // in the turn's write list
    bool want_out = false;   // EPOLLOUT registered: the last write was partial
    bool dead = false;       // closed at the end of the turn
    uint16_t next_id = 0;    // last packet id used for a QoS 1 delivery
    std::vector<u8> carry;   // an incomplete packet left by the previous read
    std::vector<u8> out;     // unsent output, from out_off
    std::size_t out_off = 0;
    std::vector<std::string> topics;  // what to remove from the subscriptions on close
};

// A big-endian 16-bit length or packet id.
uint16_t be16(const u8* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Reads an MQTT variable byte integer (§1.5.5) at p[0..n). Returns the number of
// bytes it took, 0 when incomplete, -1 when malformed (more than 4 bytes).
int varint(const u8* p, std::size_t n, uint32_t& value) {
    value = 0;
    for (int i = 0; i < 4; ++i) {
        if (static_cast<std::size_t>(i) >= n) return 0;
        value |= static_cast<uint32_t>(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) return i + 1;
    }
    return -1;
}

void put_varint(std::vector<u8>& out, uint32_t v) {
    do {
        u8 b = v & 0x7f;
        v >>= 7;
        out.push_back(v ? (b | 0x80) : b);
    } while (v);
}

void put16(std::vector<u8>& out, uint16_t v) {
    out.push_back(static_cast<u8>(v >> 8));
    out.push_back(static_cast<u8>(v));
}

class Forwarder {
public:
    explicit Forwarder(int listen_fd) : listen_fd_(listen_fd), rbuf_(kReadBytes) {
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) die("epoll_create1");
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = nullptr;  // nullptr stands for the listener
        if (epoll_ctl(ep_, EPOLL_CTL_ADD, listen_fd_, &ev) < 0) die("epoll_ctl listener");
    }

    [[noreturn]] void run() {
        std::vector<epoll_event> events(512);
        while (true) {
            int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), -1);
            if (n < 0) {
                if (errno == EINTR) continue;
                die("epoll_wait");
            }
            for (int i = 0; i < n; ++i) {
                auto* c = static_cast<Conn*>(events[i].data.ptr);
                if (c == nullptr) {
                    accept_all();
                    continue;
                }
                if (c->dead) continue;
                if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(*c);
                if ((events[i].events & EPOLLOUT) && !c->dead) mark_dirty(*c);
            }
            // Writes come after every read of the turn, so a subscriber fed by
            // many publishers in this turn gets all of it in one syscall.
            for (Conn* c : dirty_) flush(*c);
            dirty_.clear();
            reap();
        }
    }

private:
    [[noreturn]] static void die(const char* what) {
        std::perror(what);
        std::exit(1);
    }

    void accept_all() {
        while (true) {
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;  // EAGAIN, or a connection gone before we took it
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto c = std::make_unique<Conn>();
            c->fd = fd;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.ptr = c.get();
            if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) {
                ::close(fd);
                continue;
            }
            conns_.push_back(std::move(c));
        }
    }

    // One read per readiness event: level-triggered epoll brings us back if
    // more is waiting, after every other ready connection has had its turn.
    void on_readable(Conn& c) {
        const std::size_t have = c.carry.size();
        if (rbuf_.size() < have + kReadBytes) rbuf_.resize(have + kReadBytes);
        std::memcpy(rbuf_.data(), c.carry.data(), have);
        ssize_t n = ::read(c.fd, rbuf_.data() + have, rbuf_.size() - have);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) return kill(c);
        const std::size_t len = have + static_cast<std::size_t>(n);
        std::size_t pos = 0;
        while (!c.dead) {
            // Fixed header: type and flags, then the remaining length (§2.1).
            if (len - pos < 2) break;
            uint32_t rem = 0;
            int vb = varint(rbuf_.data() + pos + 1, len - pos - 1, rem);
            if (vb < 0 || rem > kMaxPacket) return kill(c);
            if (vb == 0 || len - pos - 1 - static_cast<std::size_t>(vb) < rem) break;
            const u8* body = rbuf_.data() + pos + 1 + vb;
            on_packet(c, rbuf_[pos], std::span<const u8>(body, rem));
            pos += 1 + static_cast<std::size_t>(vb) + rem;
        }
        if (!c.dead) c.carry.assign(rbuf_.data() + pos, rbuf_.data() + len);
    }

    void on_packet(Conn& c, u8 first, std::span<const u8> b) {
        const u8 type = first >> 4;
        if (c.version == 0 && type != 1) return kill(c);  // [MQTT-3.1.0-1] CONNECT comes first
        switch (type) {
            case 1: return on_connect(c, b);
            case 3: return on_publish(c, first, b);
            case 4: return;  // PUBACK of a delivery: not tracked
            case 8: return on_subscribe(c, b);
            case 12: return emit(c, {0xd0, 0x00});  // PINGRESP
            case 14: return kill(c);                // DISCONNECT
            default: return kill(c);                // UNSUBSCRIBE, QoS 2 flow, AUTH: not supported
        }
    }

    void on_connect(Conn& c, std::span<const u8> b) {
        // Protocol name "MQTT" (2 + 4 bytes), then the level: 4 = 3.1.1, 5 = 5.0.
        if (c.version != 0 || b.size() < 10 || be16(b.data()) != 4) return kill(c);
        const u8 level = b[6];
        if (level != 4 && level != 5) return kill(c);
        c.version = level;
        // CONNACK: session present 0, return / reason code 0; 5.0 adds an empty
        // property list.
        if (level == 5) return emit(c, {0x20, 0x03, 0x00, 0x00, 0x00});
        emit(c, {0x20, 0x02, 0x00, 0x00});
    }

    void on_subscribe(Conn& c, std::span<const u8> b) {
        if (b.size() < 2) return kill(c);
        const uint16_t id = be16(b.data());
        std::size_t pos = 2;
        if (c.version == 5) {
            uint32_t plen = 0;
            int vb = varint(b.data() + pos, b.size() - pos, plen);
            if (vb <= 0 || b.size() - pos - static_cast<std::size_t>(vb) < plen) return kill(c);
            pos += static_cast<std::size_t>(vb) + plen;
        }
        codes_.clear();
        while (pos < b.size()) {
            if (b.size() - pos < 2) return kill(c);
            const std::size_t n = be16(b.data() + pos);
            if (b.size() - pos - 2 < n + 1) return kill(c);  // the filter and its options byte
            std::string filter(reinterpret_cast<const char*>(b.data() + pos + 2), n);
            const u8 qos = std::min<u8>(b[pos + 2 + n] & 0x03, 1);
            pos += 2 + n + 1;
            if (filter.empty() || filter.find_first_of("+#") != std::string::npos) {
                codes_.push_back(0x80);  // no wildcards here: refused
                continue;
            }
            std::vector<Sub>& subs = subs_[filter];
            auto same = std::find_if(subs.begin(), subs.end(), [&](const Sub& s) { return s.conn == &c; });
            if (same != subs.end()) {
                same->qos = qos;  // [MQTT-3.8.4-3] a repeated filter replaces the subscription
            } else {
                subs.push_back(Sub{&c, qos});
                c.topics.push_back(std::move(filter));
            }
            codes_.push_back(qos);
        }
        if (codes_.empty()) return kill(c);  // [MQTT-3.8.3-3] at least one filter
        c.out.push_back(0x90);
        put_varint(c.out, static_cast<uint32_t>(2 + (c.version == 5 ? 1 : 0) + codes_.size()));
        put16(c.out, id);
        if (c.version == 5) c.out.push_back(0x00);  // no properties
        c.out.insert(c.out.end(), codes_.begin(), codes_.end());
        mark_dirty(c);
    }

    void on_publish(Conn& c, u8 first, std::span<const u8> b) {
        const u8 qos = (first >> 1) & 0x03;
        if (qos > 1 || b.size() < 2) return kill(c);
        const std::size_t tlen = be16(b.data());
        std::size_t pos = 2 + tlen + (qos ? 2 : 0);
        if (b.size() < pos) return kill(c);
        const std::string_view topic(reinterpret_cast<const char*>(b.data() + 2), tlen);
        if (qos == 1) {
            // PUBACK with the publisher's id; 5.0 may omit a success reason code
            // and properties, so both versions get the same four bytes.
            const u8* id = b.data() + 2 + tlen;
            emit(c, {0x40, 0x02, id[0], id[1]});
        }
        if (c.version == 5) {
            uint32_t plen = 0;
            int vb = varint(b.data() + pos, b.size() - pos, plen);
            if (vb <= 0 || b.size() - pos - static_cast<std::size_t>(vb) < plen) return kill(c);
            pos += static_cast<std::size_t>(vb) + plen;
        }
        auto it = subs_.find(topic);
        if (it == subs_.end()) return;
        const std::span<const u8> payload = b.subspan(pos);
        // Encode once per (version, delivered QoS): one of up to four variants,
        // built the first time a subscriber needs it.
        bool built[2][2] = {};
        for (const Sub& s : it->second) {
            Conn& to = *s.conn;
            if (to.dead) continue;
            const int v5 = to.version == 5 ? 1 : 0;
            const u8 q = std::min(qos, s.qos);
            std::vector<u8>& enc = enc_[v5][q];
            if (!built[v5][q]) {
                encode_publish(enc, topic, q, v5 != 0, payload);
                built[v5][q] = true;
            }
            const std::size_t at = to.out.size();
            to.out.insert(to.out.end(), enc.begin(), enc.end());
            if (q == 1) {
                // Patch this subscriber's own packet id into its copy; 0 is not
                // a valid id [MQTT-2.3.1-1].
                if (++to.next_id == 0) to.next_id = 1;
                u8* idp = to.out.data() + at + id_offset_[v5];
                idp[0] = static_cast<u8>(to.next_id >> 8);
                idp[1] = static_cast<u8>(to.next_id);
            }
            mark_dirty(to);
        }
    }

    // A PUBLISH without retain or dup, with a zero packet id to be patched per
    // subscriber when q == 1 (its offset kept in id_offset_).
    void encode_publish(std::vector<u8>& enc, std::string_view topic, u8 q, bool v5, std::span<const u8> payload) {
        enc.clear();
        enc.push_back(static_cast<u8>(0x30 | (q << 1)));
        put_varint(enc, static_cast<uint32_t>(2 + topic.size() + (q ? 2 : 0) + (v5 ? 1 : 0) + payload.size()));
        put16(enc, static_cast<uint16_t>(topic.size()));
        enc.insert(enc.end(), topic.begin(), topic.end());
        if (q) {
            id_offset_[v5] = enc.size();
            put16(enc, 0);
        }
        if (v5) enc.push_back(0x00);  // no properties
        enc.insert(enc.end(), payload.begin(), payload.end());
    }

    void emit(Conn& c, std::initializer_list<u8> bytes) {
        c.out.insert(c.out.end(), bytes);
        mark_dirty(c);
    }

    void mark_dirty(Conn& c) {
        if (c.dirty) return;
        c.dirty = true;
        dirty_.push_back(&c);
    }

    // One write per connection per turn; what the socket does not take stays
    // for the next turn, with EPOLLOUT asked for until it has all gone.
    void flush(Conn& c) {
        c.dirty = false;
        if (c.dead) return;
        if (c.out.size() > c.out_off) {
            // MSG_NOSIGNAL: a peer that has gone away is an error to handle
            // here, not a SIGPIPE that ends the process.
            ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EINTR) return kill(c);
            if (n > 0) c.out_off += static_cast<std::size_t>(n);
        }
        const bool pending = c.out.size() > c.out_off;
        if (!pending) {
            c.out.clear();  // keeps the capacity: steady state allocates nothing
            c.out_off = 0;
        } else if (c.out.size() - c.out_off > kMaxOutput) {
            return kill(c);  // a subscriber this far behind is not being measured any more
        }
        if (pending != c.want_out) {
            c.want_out = pending;
            epoll_event ev{};
            ev.events = EPOLLIN | (pending ? EPOLLOUT : 0u);
            ev.data.ptr = &c;
            epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
        }
    }

    // Closing is deferred to the end of the turn, so an event or a
    // subscription still pointing at the connection in this turn stays valid.
    void kill(Conn& c) {
        if (c.dead) return;
        c.dead = true;
        ::close(c.fd);  // also removes it from the epoll set
        for (const std::string& t : c.topics) {
            auto it = subs_.find(t);
            std::erase_if(it->second, [&](const Sub& s) { return s.conn == &c; });
            if (it->second.empty()) subs_.erase(it);
        }
        c.topics.clear();
        ++dead_count_;
    }

    void reap() {
        if (dead_count_ == 0) return;
        std::erase_if(conns_, [](const std::unique_ptr<Conn>& c) { return c->dead; });
        dead_count_ = 0;
    }

    int listen_fd_;
    int ep_ = -1;
    std::vector<u8> rbuf_;  // shared by every connection: only one is read at a time
    std::vector<std::unique_ptr<Conn>> conns_;
    std::vector<Conn*> dirty_;
    std::size_t dead_count_ = 0;
    Subscriptions subs_;
    std::vector<u8> codes_;  // SUBACK codes being built
    std::vector<u8> enc_[2][2];  // [v5][qos]: the PUBLISH being fanned out
    std::size_t id_offset_[2] = {};
};

}  // namespace

int main(int argc, char** argv) {
    int port = 1883;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--port" && i + 1 < argc) {
            port = std::atoi(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: %s [--port N]   (listens on 127.0.0.1 only)\n", argv[0]);
            return 2;
        }
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(fd, 4096) < 0) {
        std::perror("ib_forwarder: listen on 127.0.0.1");
        return 1;
    }
    std::fprintf(stderr, "ib_forwarder: listening on 127.0.0.1:%d\n", port);
    Forwarder(fd).run();
}
