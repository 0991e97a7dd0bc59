// A tiny blocking MQTT client for broker tests: a plain POSIX socket to
// 127.0.0.1 and the project's codec, nothing else. It acts exactly as a network
// client would, so tests see what a user's client sees. Every read takes a
// timeout; nothing here sleeps. Not for production use: no reconnects, no TLS.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mqtt/codec/codec.hpp"

namespace ib::mqtt::broker::test {

using namespace std::chrono_literals;

// What the client received, copied out of the receive buffer so it outlives it.
struct Received {
    codec::PacketType type = codec::PacketType::Connack;
    // PUBLISH
    std::string topic;
    std::string payload;
    uint8_t qos = 0;
    bool retain = false;
    bool dup = false;
    std::optional<uint32_t> message_expiry_interval;
    // PUBLISH, PUBACK..PUBCOMP, SUBACK, UNSUBACK
    uint16_t packet_id = 0;
    // CONNACK, acks, DISCONNECT
    uint8_t reason_code = 0;
    bool session_present = false;
    // SUBACK, UNSUBACK
    std::vector<uint8_t> reason_codes;
};

class TestClient {
public:
    explicit TestClient(uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) return;
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd_);
            fd_ = -1;
            return;
        }
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~TestClient() {
        if (fd_ >= 0) ::close(fd_);
    }
    TestClient(const TestClient&) = delete;
    TestClient& operator=(const TestClient&) = delete;

    bool ok() const { return fd_ >= 0 && !failed_; }
    // True once the broker closed the connection (a read returned end of stream).
    bool peer_closed() const { return eof_; }
    // True when that close was a reset rather than an orderly end of stream.
    bool peer_reset() const { return reset_; }

    // Sends CONNECT and waits for CONNACK; nullopt when none came in time.
    // `session_expiry` is sent as the 5.0 Session Expiry Interval when given.
    std::optional<Received> connect(codec::Version version, std::string_view client_id, bool clean_start,
                                    uint16_t keep_alive = 0, std::optional<uint32_t> session_expiry = {},
                                    std::chrono::milliseconds timeout = 5s) {
        version_ = version;
        codec::Connect c;
        c.version = version;
        c.protocol_name = "MQTT";
        c.clean_start = clean_start;
        c.keep_alive = keep_alive;
        c.client_id = client_id;
        if (version == codec::Version::V5) c.properties.session_expiry_interval = session_expiry;
        send([&](std::vector<std::byte>& out) { codec::encode(out, c); });
        return wait_for(codec::PacketType::Connack, 0, timeout);
    }

    // Sends SUBSCRIBE for one filter and waits for its SUBACK; returns the
    // reason codes (empty when no SUBACK came in time).
    std::vector<uint8_t> subscribe(std::string_view filter, uint8_t qos, std::chrono::milliseconds timeout = 5s) {
        codec::Subscribe s;
        s.packet_id = next_id();
        s.topics.push_back(codec::SubscribeTopic{filter, qos, false, false, 0});
        send([&](std::vector<std::byte>& out) { codec::encode(out, s, version_); });
        auto ack = wait_for(codec::PacketType::Suback, s.packet_id, timeout);
        return ack ? ack->reason_codes : std::vector<uint8_t>{};
    }

    // Sends PUBLISH. For QoS 1 waits for PUBACK, for QoS 2 completes the
    // PUBREC/PUBREL/PUBCOMP exchange; returns the reason code of PUBACK or
    // PUBREC (always 0 on 3.1.1), nullopt when an acknowledgement did not come.
    // Packets that arrive meanwhile are kept for next().
    std::optional<uint8_t> publish(std::string_view topic, std::string_view payload, uint8_t qos, bool retain = false,
                                   std::chrono::milliseconds timeout = 5s) {
        codec::Publish p;
        p.qos = qos;
        p.retain = retain;
        p.topic = topic;
        p.payload = as_bytes(payload);
        if (qos > 0) p.packet_id = next_id();
        send([&](std::vector<std::byte>& out) { codec::encode(out, p, version_); });
        if (qos == 0) return uint8_t{0};
        if (qos == 1) {
            auto ack = wait_for(codec::PacketType::Puback, p.packet_id, timeout);
            return ack ? std::optional<uint8_t>(ack->reason_code) : std::nullopt;
        }
        auto rec = wait_for(codec::PacketType::Pubrec, p.packet_id, timeout);
        if (!rec) return std::nullopt;
        send_ack(codec::PacketType::Pubrel, p.packet_id);
        if (!wait_for(codec::PacketType::Pubcomp, p.packet_id, timeout)) return std::nullopt;
        return rec->reason_code;
    }

    // Sends PUBLISH and returns at once: no acknowledgement is awaited or sent.
    // False when the send failed (the broker reset the connection).
    bool publish_no_wait(std::string_view topic, std::string_view payload, uint8_t qos, uint16_t packet_id) {
        codec::Publish p;
        p.qos = qos;
        p.topic = topic;
        p.payload = as_bytes(payload);
        p.packet_id = packet_id;
        send([&](std::vector<std::byte>& out) { codec::encode(out, p, version_); });
        return !failed_;
    }

    void send_ack(codec::PacketType type, uint16_t packet_id) {
        codec::Ack a{type, packet_id, 0, {}};
        send([&](std::vector<std::byte>& out) { codec::encode(out, a, version_); });
    }

    // Sends DISCONNECT (normal, will discarded) and waits until the broker
    // closes the socket, so the session is detached when this returns true.
    bool disconnect(std::chrono::milliseconds timeout = 5s) {
        codec::Disconnect d;
        send([&](std::vector<std::byte>& out) { codec::encode(out, d, version_); });
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!eof_ && !failed_) {
            if (!read_some(deadline)) break;
        }
        return eof_;
    }

    // The next packet, from those kept while waiting for an acknowledgement or
    // from the socket; nullopt on timeout, end of stream or a decode error.
    std::optional<Received> next(std::chrono::milliseconds timeout = 5s) {
        if (!backlog_.empty()) {
            Received r = std::move(backlog_.front());
            backlog_.pop_front();
            return r;
        }
        return read_packet(std::chrono::steady_clock::now() + timeout);
    }

    // The next PUBLISH; other packets met on the way are kept for next().
    std::optional<Received> next_publish(std::chrono::milliseconds timeout = 5s) {
        for (auto it = backlog_.begin(); it != backlog_.end(); ++it) {
            if (it->type == codec::PacketType::Publish) {
                Received r = std::move(*it);
                backlog_.erase(it);
                return r;
            }
        }
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto r = read_packet(deadline);
            if (!r) return std::nullopt;
            if (r->type == codec::PacketType::Publish) return r;
            backlog_.push_back(std::move(*r));
        }
    }

private:
    template <class Encode>
    void send(Encode&& encode) {
        if (fd_ < 0) return;
        std::vector<std::byte> out;
        encode(out);
        std::size_t off = 0;
        while (off < out.size()) {
            ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                failed_ = true;
                return;
            }
            off += static_cast<std::size_t>(n);
        }
    }

    uint16_t next_id() {
        if (++last_id_ == 0) last_id_ = 1;
        return last_id_;
    }

    // Waits for the packet of `type` (and `packet_id` when non-zero), keeping
    // every other packet for next().
    std::optional<Received> wait_for(codec::PacketType type, uint16_t packet_id, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto r = read_packet(deadline);
            if (!r) return std::nullopt;
            if (r->type == type && (packet_id == 0 || r->packet_id == packet_id)) return r;
            backlog_.push_back(std::move(*r));
        }
    }

    // Reads more bytes into in_; false on timeout, end of stream or error.
    bool read_some(std::chrono::steady_clock::time_point deadline) {
        if (fd_ < 0 || eof_) return false;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        int rc = ::poll(&p, 1, static_cast<int>(left.count()));
        if (rc < 0 && errno == EINTR) return true;
        if (rc <= 0) return false;
        std::byte buf[16 * 1024];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
        if (n <= 0) {
            // A reset counts as the broker closing the connection too.
            eof_ = true;
            reset_ = n < 0;
            return false;
        }
        in_.insert(in_.end(), buf, buf + n);
        return true;
    }

    std::optional<Received> read_packet(std::chrono::steady_clock::time_point deadline) {
        for (;;) {
            std::size_t consumed = 0;
            auto decoded = codec::decode_one(in_, version_, consumed);
            if (!decoded) {
                failed_ = true;
                return std::nullopt;
            }
            if (*decoded) {
                Received r = digest(**decoded);
                in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(consumed));
                return r;
            }
            if (!read_some(deadline)) return std::nullopt;
        }
    }

    static Received digest(const codec::Packet& packet) {
        Received r;
        if (auto* p = std::get_if<codec::Publish>(&packet)) {
            r.type = codec::PacketType::Publish;
            r.topic = std::string(p->topic);
            r.payload = std::string(as_string_view(p->payload));
            r.qos = p->qos;
            r.retain = p->retain;
            r.dup = p->dup;
            r.packet_id = p->packet_id;
            r.message_expiry_interval = p->properties.message_expiry_interval;
        } else if (auto* a = std::get_if<codec::Ack>(&packet)) {
            r.type = a->type;
            r.packet_id = a->packet_id;
            r.reason_code = a->reason_code;
        } else if (auto* c = std::get_if<codec::Connack>(&packet)) {
            r.type = codec::PacketType::Connack;
            r.reason_code = c->reason_code;
            r.session_present = c->session_present;
        } else if (auto* s = std::get_if<codec::Suback>(&packet)) {
            r.type = codec::PacketType::Suback;
            r.packet_id = s->packet_id;
            r.reason_codes = s->reason_codes;
        } else if (auto* u = std::get_if<codec::Unsuback>(&packet)) {
            r.type = codec::PacketType::Unsuback;
            r.packet_id = u->packet_id;
            r.reason_codes = u->reason_codes;
        } else if (auto* d = std::get_if<codec::Disconnect>(&packet)) {
            r.type = codec::PacketType::Disconnect;
            r.reason_code = d->reason_code;
        } else if (std::holds_alternative<codec::Pingresp>(packet)) {
            r.type = codec::PacketType::Pingresp;
        } else if (std::holds_alternative<codec::Auth>(packet)) {
            r.type = codec::PacketType::Auth;
        } else {
            // CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ: a broker never sends
            // them; reported as CONNECT so a test can fail on it.
            r.type = codec::PacketType::Connect;
        }
        return r;
    }

    int fd_ = -1;
    bool eof_ = false;
    bool reset_ = false;
    bool failed_ = false;
    codec::Version version_ = codec::Version::V311;
    uint16_t last_id_ = 0;
    std::vector<std::byte> in_;
    std::deque<Received> backlog_;
};

}  // namespace ib::mqtt::broker::test
