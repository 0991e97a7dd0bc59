// One client connection: batched non-blocking I/O and the handling of every
// packet a client sends. Reads drain the socket into the shard's shared buffer
// and parse every complete packet it holds; output is appended to one buffer and
// written once per loop turn (Shard::flush).
#include <algorithm>
#include <boost/asio/post.hpp>
#include <random>

#include "core/log.hpp"
#include "mqtt/broker/broker_core.hpp"
#include "mqtt/broker/topic_match.hpp"
#include "mqtt/broker/transport.hpp"
#include "net/ws_handshake.hpp"

namespace ib::mqtt::broker {

namespace {
// Reads per readiness event before yielding to other connections.
constexpr int kMaxReadsPerTurn = 16;

using codec::Version;
namespace rc = codec::reason;

uint8_t clamp_qos(uint8_t qos, uint8_t max) { return qos < max ? qos : max; }

// The protocol level of a CONNECT body, read without decoding the rest, so a
// CONNECT that fails to decode is answered in the client's own version.
Version peek_connect_version(Bytes body) {
    if (body.size() < 2) return Version::V311;
    std::size_t name_len = (static_cast<std::size_t>(body[0]) << 8) | static_cast<std::size_t>(body[1]);
    if (body.size() < 2 + name_len + 1) return Version::V311;
    auto level = static_cast<uint8_t>(body[2 + name_len]);
    return level == 5 ? Version::V5 : Version::V311;
}
}  // namespace

Connection::Connection(Shard& shard, Socket socket, ListenerState& listener, std::unique_ptr<Transport> transport)
    : shard_(shard), socket_(std::move(socket)), listener_(listener), tx_(std::move(transport)) {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("unknown") : ep.address().to_string() + ":" + std::to_string(ep.port());
    accepted_at_ = last_rx_ = Clock::now();
    const TransportKind kind = listener_.transport;
    if (!tx_ && kind != TransportKind::Tcp) {
        tx_ = std::make_unique<Transport>();
        tx_->ws = kind == TransportKind::Ws || kind == TransportKind::Wss;
        if ((kind == TransportKind::Tls || kind == TransportKind::Wss) && listener_.tls) {
            if (ssl_st* ssl = listener_.tls->new_session(socket_.native_handle()))
                tx_->tls = std::make_unique<net::TlsStream>(ssl);
        }
    }
}

Connection::~Connection() = default;

void Connection::start(std::vector<std::byte> already_read) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    // Latency never waits for Nagle; throughput comes from our own batching.
    socket_.set_option(tcp::no_delay(true), ec);
    const TransportKind kind = listener_.transport;
    if ((kind == TransportKind::Tls || kind == TransportKind::Wss) && !tx_->tls) {
        log::warn("mqtt: {}: cannot create a TLS session on listener '{}': closing", peer_, listener_.config.name);
        close("no TLS session");
        return;
    }
    if (!already_read.empty()) {
        partial_ = std::move(already_read);
        std::size_t used = process(partial_);
        if (closed()) return;
        partial_.erase(partial_.begin(), partial_.begin() + static_cast<std::ptrdiff_t>(used));
    }
    // Drain whatever arrived meanwhile; the reactor is edge-triggered, so the
    // first wait must follow a read that found the socket empty.
    on_readable();
}

void Connection::wait_readable() {
    if (reading_ || closed()) return;
    reading_ = true;
    socket_.async_wait(Socket::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
        self->reading_ = false;
        if (ec) {
            if (ec != asio::error::operation_aborted) self->close("wait failed");
            self->shard_.flush();
            return;
        }
        self->on_readable();
    });
}

void Connection::wait_writable_to_read() {
    if (reading_ || closed()) return;
    reading_ = true;
    socket_.async_wait(Socket::wait_write, [self = shared_from_this()](const boost::system::error_code& ec) {
        self->reading_ = false;
        if (ec) {
            if (ec != asio::error::operation_aborted) self->close("wait failed");
            self->shard_.flush();
            return;
        }
        self->on_readable();
    });
}

std::string_view Connection::peer_cert_cn() const {
    return tx_ && tx_->tls ? tx_->tls->peer_cn() : std::string_view{};
}

std::size_t Connection::wire_pending() const { return tx_->wire.size() - tx_->wire_offset; }

void Connection::feed(Bytes data) {
    if (partial_.empty()) {
        std::size_t used = process(data);
        if (!closed() && used < data.size())
            partial_.assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
    } else {
        partial_.insert(partial_.end(), data.begin(), data.end());
        std::size_t used = process(partial_);
        if (!closed()) partial_.erase(partial_.begin(), partial_.begin() + static_cast<std::ptrdiff_t>(used));
    }
}

net::TlsIo Connection::read_tx(std::byte* buf, std::size_t len, std::size_t& n) {
    Transport& t = *tx_;
    n = 0;
    if (!t.tls) {
        boost::system::error_code ec;
        n = socket_.read_some(asio::buffer(buf, len), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) return net::TlsIo::WantRead;
        if (ec || n == 0) {
            close(ec == asio::error::eof || n == 0 ? "closed by peer" : "read error");
            return net::TlsIo::Closed;
        }
        return net::TlsIo::Ok;
    }
    if (!t.tls->handshake_done()) {
        const net::TlsIo h = t.tls->handshake();
        if (h == net::TlsIo::WantRead || h == net::TlsIo::WantWrite) return h;
        if (h == net::TlsIo::Closed) {
            // A port probe, or a client gone before its hello: not a failed handshake.
            log::debug("mqtt: {} closed before completing a TLS handshake", peer_);
            close("closed during TLS handshake");
            return net::TlsIo::Closed;
        }
        if (h != net::TlsIo::Ok) {
            listener_.tls_handshake_failures.add();
            log::info("mqtt: {} TLS handshake failed on listener '{}': {}: closing", peer_, listener_.config.name,
                      t.tls->error());
            close("TLS handshake failed");
            return net::TlsIo::Error;
        }
    }
    const net::TlsIo r = t.tls->read(buf, len, n);
    if (r == net::TlsIo::Closed) {
        close("closed by peer");
    } else if (r == net::TlsIo::Error) {
        log::info("mqtt: {} TLS error: {}: closing", peer_, t.tls->error());
        close("TLS error");
    }
    return r;
}

net::TlsIo Connection::write_raw(const std::byte* buf, std::size_t len, std::size_t& n) {
    if (tx_->tls) return tx_->tls->write(buf, len, n);
    boost::system::error_code ec;
    n = socket_.write_some(asio::buffer(buf, len), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return net::TlsIo::WantWrite;
    return ec ? net::TlsIo::Error : net::TlsIo::Ok;
}

void Connection::ws_input(std::span<std::byte> data) {
    Transport& t = *tx_;
    if (t.ws_open) {
        ws_frames(data);
        return;
    }
    t.http_in.append(reinterpret_cast<const char*>(data.data()), data.size());
    const std::size_t end = net::ws::request_head_end(t.http_in);
    if (end == 0 && t.http_in.size() <= net::ws::kMaxRequestHead) return;  // need more
    // Without its end in sight the head is too large, which accept_upgrade refuses.
    const std::string_view head = end == 0 ? std::string_view(t.http_in) : std::string_view(t.http_in).substr(0, end);
    const net::ws::UpgradeReply reply = net::ws::accept_upgrade(head, listener_.config.ws_path);
    const auto* resp = reinterpret_cast<const std::byte*>(reply.response.data());
    t.wire.insert(t.wire.end(), resp, resp + reply.response.size());
    mark_dirty();
    if (reply.status != 101) {
        shard_.counters.protocol_errors.add();
        log::info("mqtt: {} WebSocket upgrade refused with {} on listener '{}': {}: closing", peer_, reply.status,
                  listener_.config.name, reply.reason);
        close("WebSocket upgrade refused");
        return;
    }
    t.ws_open = true;
    // Frames the client sent right behind its request.
    std::vector<std::byte> rest(reinterpret_cast<const std::byte*>(t.http_in.data()) + end,
                                reinterpret_cast<const std::byte*>(t.http_in.data()) + t.http_in.size());
    t.http_in = std::string();
    if (!rest.empty()) ws_frames(rest);
}

void Connection::ws_frames(std::span<std::byte> data) {
    Transport& t = *tx_;
    namespace ws = net::ws;
    auto r = t.decoder.feed(
        data,
        [this](Bytes b) {
            if (!closed()) feed(b);
        },
        [this, &t](ws::Opcode op, Bytes payload) {
            if (op == ws::Opcode::Ping) {
                // §5.5.2: a Pong carries the Ping's payload.
                if (!t.ws_close_sent) ws::encode_frame(t.wire, ws::Opcode::Pong, payload);
                mark_dirty();
            } else if (op == ws::Opcode::Close) {
                // §5.5.1: answer with a Close, echoing the status; MQTT-wise the
                // network connection ends without DISCONNECT.
                if (payload.size() >= 2)
                    t.ws_close_code = static_cast<uint16_t>((std::to_integer<unsigned>(payload[0]) << 8) |
                                                            std::to_integer<unsigned>(payload[1]));
                close("WebSocket closed by peer");
            }
        });
    if (!r && !closed()) {
        shard_.counters.malformed_packets.add();
        log::info("mqtt: {} sent a bad WebSocket frame: {} (offset {}): closing", peer_, r.error().message,
                  r.error().offset);
        t.ws_close_code = r.error().close_code;
        close("bad WebSocket frame");
    }
}

void Connection::ws_frame_output() {
    Transport& t = *tx_;
    if (!t.ws_open || t.ws_close_sent) return;
    if (out_offset_ < out_.size()) {
        net::ws::encode_header(t.wire, net::ws::Opcode::Binary, true, out_.size() - out_offset_);
        t.wire.insert(t.wire.end(), out_.begin() + static_cast<std::ptrdiff_t>(out_offset_), out_.end());
        out_.clear();
        out_offset_ = 0;
    }
}

void Connection::pause_reading(Clock::time_point until) {
    paused_ = true;
    if (until > paused_until_) paused_until_ = until;
}

void Connection::on_readable() {
    auto self = shared_from_this();
    auto retry_after = [&](std::chrono::microseconds delay) {
        if (!backoff_timer_) backoff_timer_ = std::make_unique<asio::steady_timer>(shard_.ctx);
        backoff_timer_->expires_after(delay);
        backoff_timer_->async_wait([self](const boost::system::error_code& ec) {
            if (!ec && !self->closed()) self->on_readable();
        });
    };
    if (paused_) {
        const auto now = Clock::now();
        if (now < paused_until_) {
            // A subscriber of this publisher is behind: its bytes wait in the
            // kernel, and TCP slows the publisher down.
            retry_after(std::chrono::duration_cast<std::chrono::microseconds>(paused_until_ - now));
            return;
        }
        paused_ = false;
    }
    if (shard_.core.shards_congested() && shard_.core.shard_count() > 1) {
        // Another shard is behind on deliveries: leave the bytes in the kernel,
        // which slows the publisher down, and look again shortly.
        retry_after(std::chrono::microseconds(200));
        return;
    }
    if (!partial_.empty()) {
        // Complete packets may have been left here when reading was paused.
        std::size_t used = process(partial_);
        if (!closed()) partial_.erase(partial_.begin(), partial_.begin() + static_cast<std::ptrdiff_t>(used));
        if (closed() || paused_ || migrate_to_) {
            if (migrate_to_ && !closed()) migrate();
            shard_.flush();
            if (paused_ && !closed()) on_readable();
            return;
        }
    }
    std::vector<std::byte>& buf = shard_.read_buf;
    bool drained = false;
    bool want_write = false;  // TLS must write before it can read on
    for (int i = 0; i < kMaxReadsPerTurn && !closed() && !migrate_to_ && !paused_; ++i) {
        std::size_t n = 0;
        if (!tx_) {
            boost::system::error_code ec;
            n = socket_.read_some(asio::buffer(buf.data(), buf.size()), ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) {
                drained = true;
                break;
            }
            if (ec || n == 0) {
                close(ec == asio::error::eof || n == 0 ? "closed by peer" : "read error");
                break;
            }
        } else {
            const net::TlsIo io = read_tx(buf.data(), buf.size(), n);
            if (io == net::TlsIo::WantRead) {
                drained = true;
                break;
            }
            if (io == net::TlsIo::WantWrite) {
                want_write = true;
                break;
            }
            if (io != net::TlsIo::Ok) break;  // read_tx closed the connection
            if (n == 0) continue;             // the handshake advanced
        }
        shard_.counters.bytes_in.add(n);
        last_rx_ = Clock::now();
        if (tx_ && tx_->ws) {
            ws_input(std::span<std::byte>(buf.data(), n));
        } else {
            feed(Bytes(buf.data(), n));
        }
    }
    if (migrate_to_ && !closed()) {
        migrate();
        shard_.flush();
        return;
    }
    shard_.flush();
    if (closed()) return;
    if (paused_) {
        on_readable();  // schedules the retry for the end of the pause
        return;
    }
    if (drained) {
        wait_readable();
    } else if (want_write) {
        wait_writable_to_read();
    } else {
        // Budget spent with data still waiting: let other connections run first.
        asio::post(shard_.ctx, [self] {
            if (!self->closed()) self->on_readable();
        });
    }
}

std::size_t Connection::process(Bytes data) {
    std::size_t used = 0;
    const uint32_t max_packet = shard_.core.config.max_packet_size;
    while (!closed() && !migrate_to_ && !paused_) {
        Bytes rest = data.subspan(used);
        auto header = codec::decode_frame_header(rest);
        if (!header) {
            on_decode_error(header.error());
            break;
        }
        if (!*header) break;  // need more bytes
        const codec::FrameHeader& h = **header;
        if (h.total_size() > max_packet) {
            // Refused before its body is buffered.
            shard_.counters.packets_too_large.add();
            log::info("mqtt: {} sent a packet of {} bytes, above max_packet_size {}: closing", peer_,
                      h.total_size(), max_packet);
            disconnect_with(rc::kPacketTooLarge, "packet too large");
            break;
        }
        if (rest.size() < h.total_size()) break;
        handle_packet(h, rest.subspan(h.header_size, h.remaining_length));
        if (migrate_to_) break;  // the CONNECT is handled again on its own shard
        used += h.total_size();
    }
    return used;
}

void Connection::on_decode_error(const Error& e) {
    if (e.code == rc::kProtocolError)
        shard_.counters.protocol_errors.add();
    else
        shard_.counters.malformed_packets.add();
    log::info("mqtt: {} sent a bad packet: {} (reason 0x{:02x}, offset {}): closing", peer_, e.message,
              e.code, e.offset);
    if (state_ == State::AwaitConnect) {
        if (e.code == rc::kUnsupportedProtocolVersion) {
            refuse_connect(rc::kUnsupportedProtocolVersion, codec::v3_connack::kUnacceptableProtocolVersion,
                           e.message);
        } else {
            refuse_connect(e.code, 0xFF, e.message);
        }
        return;
    }
    disconnect_with(e.code, e.message);
}

void Connection::handle_packet(const codec::FrameHeader& h, Bytes body) {
    if (state_ == State::AwaitConnect) {
        if (h.type() != codec::PacketType::Connect) {
            // [MQTT-3.1.0-1] The first packet from the client MUST be CONNECT.
            shard_.counters.protocol_errors.add();
            log::info("mqtt: {} sent packet type {} before CONNECT: closing", peer_,
                      static_cast<int>(h.type()));
            close("first packet not CONNECT");
            return;
        }
        version_ = peek_connect_version(body);
    } else if (h.type() == codec::PacketType::Connect) {
        // [MQTT-3.1.0-2] A second CONNECT is a protocol error.
        on_decode_error(Error{rc::kProtocolError, 0, "second CONNECT"});
        return;
    } else {
        refresh_acl();  // one atomic load unless users and ACL were reloaded
    }
    auto decoded = codec::decode_packet(h, body, version_);
    if (!decoded) {
        on_decode_error(decoded.error());
        return;
    }
    std::visit(
        [&](auto& p) {
            using T = std::decay_t<decltype(p)>;
            if constexpr (std::is_same_v<T, codec::Connect>) {
                if (listener_.config.tls_cn_as_username) {
                    // The verified certificate names the user; whatever the
                    // client put in CONNECT does not.
                    const std::string_view cn = peer_cert_cn();
                    if (cn.empty()) {
                        refuse_connect(rc::kNotAuthorized, codec::v3_connack::kNotAuthorized,
                                       "no client certificate CN to take the username from");
                        return;
                    }
                    p.username = cn;
                }
                handle_connect(p);
                if (listener_.config.tls_cn_as_username && connected())
                    log::info("mqtt: {} connected as '{}' with username '{}' from its client certificate", peer_,
                              session_ ? session_->client_id() : std::string(), peer_cert_cn());
            } else if constexpr (std::is_same_v<T, codec::Publish>) {
                handle_publish(p);
            } else if constexpr (std::is_same_v<T, codec::Ack>) {
                handle_ack(p);
            } else if constexpr (std::is_same_v<T, codec::Subscribe>) {
                handle_subscribe(p);
            } else if constexpr (std::is_same_v<T, codec::Unsubscribe>) {
                handle_unsubscribe(p);
            } else if constexpr (std::is_same_v<T, codec::Pingreq>) {
                codec::encode(out_, codec::Pingresp{});
                mark_dirty();
            } else if constexpr (std::is_same_v<T, codec::Disconnect>) {
                handle_disconnect(p);
            } else if constexpr (std::is_same_v<T, codec::Auth>) {
                // Enhanced authentication is not offered (no method is accepted
                // in CONNECT), so an AUTH packet is a protocol error.
                on_decode_error(Error{rc::kProtocolError, 0, "AUTH without an authentication method"});
            } else {
                // CONNACK, SUBACK, UNSUBACK, PINGRESP go server → client only.
                on_decode_error(Error{rc::kProtocolError, 0, "packet type not sent by clients"});
            }
        },
        *decoded);
}

void Connection::refuse_connect(uint8_t v5_reason, uint8_t v3_code, const char* why) {
    codec::Connack ack;
    if (version_ == Version::V5) {
        ack.reason_code = v5_reason;
        ack.properties.reason_string = std::string_view(why);
        codec::encode(out_, ack, Version::V5);
    } else if (v3_code != 0xFF) {
        ack.reason_code = v3_code;
        codec::encode(out_, ack, version_);
    }
    mark_dirty();
    close(why);
}

void Connection::handle_connect(const codec::Connect& c) {
    const BrokerConfig& cfg = shard_.core.config;
    version_ = c.version;
    std::string client_id(c.client_id);
    bool assigned = false;
    if (client_id.empty()) {
        // [MQTT-3.1.3-8] 3.1.1: an empty id with CleanSession 0 is rejected.
        if (version_ != Version::V5 && !c.clean_start) {
            refuse_connect(rc::kClientIdentifierNotValid, codec::v3_connack::kIdentifierRejected,
                           "empty client id with a persistent session");
            return;
        }
        // [MQTT-3.1.3-6] Assign a unique id, chosen so it belongs to this shard
        // and the connection need not move.
        static thread_local std::mt19937_64 rng{std::random_device{}()};
        do {
            client_id = fmt::format("ib-{:016x}", rng());
        } while (shard_.core.shard_for_client(client_id) != shard_.index);
        assigned = true;
    }
    if (shard_.core.auth == nullptr && !listener_.config.allow_anonymous.value_or(cfg.allow_anonymous) &&
        !c.username) {
        refuse_connect(rc::kNotAuthorized, codec::v3_connack::kNotAuthorized, "anonymous clients not allowed");
        return;
    }
    if (c.properties.authentication_method) {
        refuse_connect(rc::kBadAuthenticationMethod, 0xFF, "enhanced authentication is not supported");
        return;
    }
    if (c.will) {
        if (c.will->retain && !cfg.retain_available) {
            refuse_connect(rc::kRetainNotSupported, codec::v3_connack::kNotAuthorized, "retain not available");
            return;
        }
        if (c.will->qos > cfg.maximum_qos) {
            refuse_connect(rc::kQosNotSupported, codec::v3_connack::kNotAuthorized, "will QoS not supported");
            return;
        }
    }
    const std::size_t target = shard_.core.shard_for_client(client_id);
    if (target != shard_.index) {
        migrate_to_ = target + 1;
        return;
    }
    // Checked on the session's shard only, so a password is verified once.
    if (auth::Auth* a = shard_.core.auth) {
        std::optional<std::string_view> password;
        if (c.password) password = std::string_view(reinterpret_cast<const char*>(c.password->data()), c.password->size());
        // On a tls_cn_as_username listener the user name is the CN of a certificate
        // the handshake verified: that is the authentication, no password is asked.
        const bool by_certificate = listener_.config.tls_cn_as_username && c.username.has_value();
        switch (by_certificate ? auth::LoginResult::Ok
                               : a->login(listener_.config.name, c.username.has_value(), c.username.value_or(""),
                                          password, peer_address())) {
            case auth::LoginResult::Ok:
                username_ = std::string(*c.username);
                break;
            case auth::LoginResult::Anonymous:
                break;
            case auth::LoginResult::BadCredentials:
                refuse_connect(rc::kBadUserNameOrPassword, codec::v3_connack::kBadUserNameOrPassword,
                               "bad user name or password");
                return;
            case auth::LoginResult::NotAuthorized:
                refuse_connect(rc::kNotAuthorized, codec::v3_connack::kNotAuthorized, "anonymous clients not allowed");
                return;
            case auth::LoginResult::RateLimited:
                refuse_connect(rc::kNotAuthorized, codec::v3_connack::kNotAuthorized,
                               "too many failed logins from this address");
                return;
        }
        acl_generation_ = a->generation();
        acl_ = a->compile(auth::ClientIdentity{username_, client_id, peer_address()});
        if (acl_ && c.will && !acl_->may_publish(c.will->topic)) {
            a->count_publish_denied();
            refuse_connect(rc::kNotAuthorized, codec::v3_connack::kNotAuthorized, "will topic not authorized");
            return;
        }
    }

    state_ = State::Connected;
    keep_alive_s_ = c.keep_alive;
    bool keep_alive_overridden = false;
    if (version_ == Version::V5 && cfg.server_keep_alive != 0 && cfg.server_keep_alive != c.keep_alive) {
        keep_alive_s_ = cfg.server_keep_alive;
        keep_alive_overridden = true;
    }
    const auto& props = c.properties;
    send_quota_ = cfg.max_inflight;
    if (version_ == Version::V5) {
        if (props.receive_maximum) send_quota_ = std::min<uint16_t>(send_quota_, *props.receive_maximum);
        if (props.maximum_packet_size) client_max_packet_size_ = *props.maximum_packet_size;
        if (props.topic_alias_maximum.value_or(0) > 0) {
            aliases_ = std::make_unique<Aliases>();
            aliases_->client_max = *props.topic_alias_maximum;
        }
    }
    uint32_t expiry = 0;
    bool expiry_capped = false;
    if (version_ == Version::V5) {
        expiry = props.session_expiry_interval.value_or(0);
        if (expiry > cfg.max_session_expiry && expiry != UINT32_MAX) {
            expiry = cfg.max_session_expiry;
            expiry_capped = true;
        }
    } else {
        // 3.1.1: CleanSession 0 keeps the session until the client ends it.
        expiry = c.clean_start ? 0 : UINT32_MAX;
    }

    if (c.will) {
        MessageInit w;
        w.topic = c.will->topic;
        w.payload = c.will->payload;
        w.qos = c.will->qos;
        w.retain = c.will->retain;
        w.forward_properties(c.will->properties);
        will_ = WillMessage{Message::make(w, Clock::now()),
                            c.will->properties.will_delay_interval.value_or(0)};
    }

    // Session take-over ([MQTT-3.1.4-3]): the existing connection is closed
    // first, which may end its session when that session does not outlive it.
    if (auto it = shard_.sessions_by_client.find(client_id); it != shard_.sessions_by_client.end()) {
        if (Connection* old = it->second->connection()) {
            old->disconnect_with(rc::kSessionTakenOver, "session taken over");
        }
    }
    Session* session = nullptr;
    if (auto it = shard_.sessions_by_client.find(client_id); it != shard_.sessions_by_client.end()) {
        session = it->second;
        if (c.clean_start) {
            shard_.destroy_session(session);
            session = nullptr;
        }
    }
    const bool session_present = session != nullptr;
    if (!session) {
        SubscriberId id = shard_.new_session_id(expiry > 0);
        auto s = std::make_unique<Session>(shard_, id, client_id);
        session = s.get();
        shard_.sessions.emplace(id, std::move(s));
        shard_.sessions_by_client.emplace(session->client_id(), session);
        shard_.core.sessions_current.add();
    }
    session->expiry_interval_s = expiry;
    session->attach(this);
    session_ = session;

    codec::Connack ack;
    ack.session_present = session_present;
    ack.reason_code = 0;
    if (version_ == Version::V5) {
        auto& ap = ack.properties;
        if (expiry_capped) ap.session_expiry_interval = expiry;
        ap.receive_maximum = cfg.receive_maximum;
        if (cfg.maximum_qos < 2) ap.maximum_qos = cfg.maximum_qos;
        if (!cfg.retain_available) ap.retain_available = 0;
        ap.maximum_packet_size = cfg.max_packet_size;
        if (assigned) ap.assigned_client_identifier = std::string_view(session->client_id());
        ap.topic_alias_maximum = cfg.topic_alias_maximum;
        if (keep_alive_overridden) ap.server_keep_alive = keep_alive_s_;
    }
    codec::encode(out_, ack, version_);
    mark_dirty();
    log::debug("mqtt: {} connected as '{}' (MQTT {}, keep-alive {} s, session {})", peer_, session->client_id(),
               version_ == Version::V5 ? "5.0" : version_ == Version::V311 ? "3.1.1" : "3.1", keep_alive_s_,
               session_present ? "resumed" : "new");
    if (session_present) {
        revoke_denied_subscriptions();
        session->resend_inflight();
    }
    session->pump();
}

void Connection::handle_publish(codec::Publish& p) {
    const BrokerConfig& cfg = shard_.core.config;
    if (p.qos > cfg.maximum_qos) {
        // [MQTT-3.2.2-11] QoS above the announced Maximum QoS.
        disconnect_with(rc::kQosNotSupported, "QoS not supported");
        return;
    }
    if (p.retain && !cfg.retain_available) {
        disconnect_with(rc::kRetainNotSupported, "retain not available");
        return;
    }
    if (p.properties.subscription_id_count > 0) {
        // [MQTT-3.3.4-6] A PUBLISH from a client carries no Subscription Identifier.
        disconnect_with(rc::kProtocolError, "subscription identifier in a client PUBLISH");
        return;
    }
    if (p.properties.payload_format_indicator == 1 && !codec::valid_utf8(as_string_view(p.payload))) {
        // [MQTT-3.3.2-4] A payload announced as UTF-8 that is not: 0x99.
        if (p.qos == 0) {
            disconnect_with(rc::kPayloadFormatInvalid, "payload is not UTF-8 as its format indicator says");
            return;
        }
        ack_publish(p.qos == 1 ? codec::PacketType::Puback : codec::PacketType::Pubrec, p.packet_id,
                    rc::kPayloadFormatInvalid, false);
        return;
    }
    if (version_ == Version::V5 && p.properties.topic_alias) {
        const uint16_t alias = *p.properties.topic_alias;
        // [MQTT-3.3.2-9] 0 or above our Topic Alias Maximum is an error.
        if (alias == 0 || alias > cfg.topic_alias_maximum) {
            disconnect_with(rc::kTopicAliasInvalid, "topic alias out of range");
            return;
        }
        if (!aliases_) aliases_ = std::make_unique<Aliases>();
        auto& in_aliases = aliases_->incoming;
        if (in_aliases.size() <= alias) in_aliases.resize(std::size_t{cfg.topic_alias_maximum} + 1);
        if (!p.topic.empty()) {
            in_aliases[alias].assign(p.topic);
        } else if (in_aliases[alias].empty()) {
            disconnect_with(rc::kProtocolError, "unknown topic alias");
            return;
        }
        p.topic = in_aliases[alias];
    }
    if (p.topic.empty()) {
        disconnect_with(rc::kProtocolError, "empty topic without an alias");
        return;
    }
    auto ack = [&](codec::PacketType type, uint8_t reason, bool hold = false) {
        ack_publish(type, p.packet_id, reason, hold);
    };
    if (p.qos == 2) {
        auto& pending = session_->incoming_qos2;
        if (std::find(pending.begin(), pending.end(), p.packet_id) != pending.end()) {
            // [MQTT-4.3.3-10] A duplicate is acknowledged again, not routed again.
            ack(codec::PacketType::Pubrec, 0);
            return;
        }
        if (pending.size() >= cfg.receive_maximum) {
            // [MQTT-3.3.4-9] More unacknowledged QoS 2 than our Receive Maximum.
            disconnect_with(rc::kReceiveMaximumExceeded, "receive maximum exceeded");
            return;
        }
    }
    shard_.counters.messages_in[p.qos].add();
    if (topic_depth(p.topic) > cfg.max_topic_depth) {
        shard_.counters.dropped_topic_too_deep.add();
        IB_LOG_LIMITED_WARN("mqtt: {} published to a topic deeper than max_topic_depth {}: dropped", peer_,
                            cfg.max_topic_depth);
        if (p.qos == 1) ack(codec::PacketType::Puback, rc::kTopicNameInvalid);
        if (p.qos == 2) ack(codec::PacketType::Pubrec, rc::kTopicNameInvalid);
        return;
    }
    if (p.topic.front() == '$') {
        // $-topics belong to the broker ($SYS); clients cannot publish there.
        if (p.qos == 1) ack(codec::PacketType::Puback, rc::kNotAuthorized);
        if (p.qos == 2) ack(codec::PacketType::Pubrec, rc::kNotAuthorized);
        return;
    }
    if (publish_denied(p)) return;
    MessageInit init;
    init.topic = p.topic;
    init.payload = p.payload;
    init.qos = p.qos;
    init.retain = p.retain;
    init.origin = session_->id();
    if (version_ == Version::V5) init.forward_properties(p.properties);
    // The time of the read that brought the packet: one clock read per batch.
    MessageRef msg = Message::make(init, last_rx_);
    const std::size_t matched = shard_.route(msg);
    const uint8_t reason = matched == 0 ? rc::kNoMatchingSubscribers : rc::kSuccess;
    // A persistent session's QoS 2 receive state is on disk before its PUBREC.
    const bool durable = shard_.last_route_durable() || (p.qos == 2 && session_->persistent());
    if (p.qos == 1) {
        ack(codec::PacketType::Puback, reason, durable);
    } else if (p.qos == 2) {
        session_->add_incoming_qos2(p.packet_id);
        ack(codec::PacketType::Pubrec, reason, durable);
    }
}

void Connection::ack_publish(codec::PacketType type, uint16_t packet_id, uint8_t reason, bool hold) {
    if (version_ != Version::V5) reason = 0;
    // [MQTT-4.6.0-2] PUBACKs go in the order of their PUBLISHes: once one is
    // held, the ones behind it wait too.
    if (hold || !held_acks_.empty()) {
        held_acks_.push_back(HeldAck{type, packet_id, reason});
        ++held_total_;
        if (!held_registered_) {
            held_registered_ = true;
            shard_.hold_acks(shared_from_this());
        }
        return;
    }
    codec::encode(out_, codec::Ack{type, packet_id, reason, {}}, version_);
    mark_dirty();
}

void Connection::release_held_acks(uint64_t upto) {
    if (closed()) return;  // the client resends what it has no ack for
    bool any = false;
    while (released_total_ < upto && !held_acks_.empty()) {
        const HeldAck& a = held_acks_.front();
        codec::encode(out_, codec::Ack{a.type, a.packet_id, a.reason, {}}, version_);
        held_acks_.pop_front();
        ++released_total_;
        any = true;
    }
    if (any) mark_dirty();
}

void Connection::handle_ack(const codec::Ack& a) {
    switch (a.type) {
        case codec::PacketType::Puback:
            session_->on_puback(a.packet_id);
            break;
        case codec::PacketType::Pubrec:
            if (!session_->on_pubrec(a.packet_id, a.reason_code) && version_ == Version::V5) {
                // §4.3.3: answer an unknown PUBREC with PUBREL 0x92.
                codec::encode(out_,
                              codec::Ack{codec::PacketType::Pubrel, a.packet_id, rc::kPacketIdentifierNotFound, {}},
                              version_);
                mark_dirty();
            }
            break;
        case codec::PacketType::Pubrel: {
            const uint8_t reason =
                session_->remove_incoming_qos2(a.packet_id) ? rc::kSuccess : rc::kPacketIdentifierNotFound;
            codec::encode(out_,
                          codec::Ack{codec::PacketType::Pubcomp, a.packet_id,
                                     version_ == Version::V5 ? reason : uint8_t{0}, {}},
                          version_);
            mark_dirty();
            break;
        }
        case codec::PacketType::Pubcomp:
            session_->on_pubcomp(a.packet_id);
            break;
        default:
            break;
    }
}

void Connection::handle_subscribe(const codec::Subscribe& s) {
    const BrokerConfig& cfg = shard_.core.config;
    codec::Suback ack;
    ack.packet_id = s.packet_id;
    ack.reason_codes.reserve(s.topics.size());
    const uint32_t sub_id = s.properties.subscription_id_count ? s.properties.subscription_ids[0] : 0;
    struct RetainedRequest {
        std::string filter;
        SubscriptionOptions opts;
    };
    std::vector<RetainedRequest> retained_requests;
    std::vector<TreeChange> changes;
    const bool v5 = version_ == Version::V5;
    for (const auto& t : s.topics) {
        auto refuse = [&](uint8_t v5_reason) { ack.reason_codes.push_back(v5 ? v5_reason : uint8_t{0x80}); };
        auto shared = parse_shared(t.filter);
        if (!shared) {
            refuse(rc::kTopicFilterInvalid);
            continue;
        }
        std::string_view plain = *shared ? (*shared)->filter : t.filter;
        if (!codec::valid_topic_filter(plain) || topic_depth(plain) > cfg.max_topic_depth) {
            refuse(rc::kTopicFilterInvalid);
            continue;
        }
        if (*shared && t.no_local) {
            // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
            disconnect_with(rc::kProtocolError, "no-local on a shared subscription");
            return;
        }
        if (acl_ && !acl_->may_subscribe(plain)) {
            shard_.core.auth->count_subscribe_denied();
            IB_LOG_LIMITED_WARN("mqtt: '{}' ({}) may not subscribe to '{}': refused", session_->client_id(), peer_,
                                t.filter);
            refuse(rc::kNotAuthorized);
            continue;
        }
        const bool exists = session_->subscriptions.contains(std::string(t.filter));
        if (!exists && session_->subscriptions.size() >= cfg.max_subscriptions_per_client) {
            shard_.counters.subscriptions_refused_limit.add();
            IB_LOG_LIMITED_WARN("mqtt: '{}' reached max_subscriptions_per_client {}: '{}' refused",
                                session_->client_id(), cfg.max_subscriptions_per_client, t.filter);
            refuse(rc::kQuotaExceeded);
            continue;
        }
        SubscriptionOptions opts;
        opts.qos = clamp_qos(t.qos, cfg.maximum_qos);
        opts.no_local = t.no_local;
        opts.retain_as_published = t.retain_as_published;
        opts.retain_handling = t.retain_handling;
        opts.subscription_id = sub_id;
        TreeChange change{true, std::string(t.filter), Subscription{session_->id(), opts}};
        const bool is_new = shard_.apply(change);
        changes.push_back(std::move(change));
        session_->add_subscription(std::string(t.filter), opts);
        ack.reason_codes.push_back(opts.qos);
        // [MQTT-3.3.1-9..11] Retain Handling 0 sends retained messages on every
        // subscribe, 1 only on a new subscription, 2 never; shared subscriptions
        // never receive them.
        if (!*shared && (opts.retain_handling == 0 || (opts.retain_handling == 1 && is_new))) {
            retained_requests.push_back({std::string(t.filter), opts});
        }
    }
    // The SUBACK, and the retained messages after it, go out once every shard's
    // tree has the subscriptions, so that anything published after the SUBACK
    // reaches the client whichever shard its publisher is on.
    auto finish = [self = shared_from_this(), ack = std::move(ack), retained = std::move(retained_requests)] {
        if (self->closed() || !self->session_) return;
        codec::encode(self->out_, ack, self->version_);
        self->mark_dirty();
        for (const auto& r : retained) self->shard_.retained_to(*self->session_, r.filter, r.opts);
    };
    shard_.core.replicate(shard_.index, std::move(changes), std::move(finish));
}

void Connection::handle_unsubscribe(const codec::Unsubscribe& u) {
    codec::Unsuback ack;
    ack.packet_id = u.packet_id;
    std::vector<TreeChange> changes;
    for (auto filter : u.filters) {
        TreeChange change{false, std::string(filter), Subscription{session_->id(), {}}};
        const bool removed = shard_.apply(change);
        changes.push_back(std::move(change));
        session_->remove_subscription(std::string(filter));
        ack.reason_codes.push_back(removed ? rc::kSuccess : rc::kNoSubscriptionExisted);
    }
    auto finish = [self = shared_from_this(), ack = std::move(ack)] {
        if (self->closed()) return;
        codec::encode(self->out_, ack, self->version_);
        self->mark_dirty();
    };
    shard_.core.replicate(shard_.index, std::move(changes), std::move(finish));
}

void Connection::handle_disconnect(const codec::Disconnect& d) {
    if (version_ == Version::V5 && d.properties.session_expiry_interval) {
        // [MQTT-3.14.2-2] A session that was to end on disconnect cannot be
        // given an expiry now.
        if (session_->expiry_interval_s == 0 && *d.properties.session_expiry_interval != 0) {
            disconnect_with(rc::kProtocolError, "session expiry set on DISCONNECT after 0 in CONNECT");
            return;
        }
        session_->expiry_interval_s =
            std::min(*d.properties.session_expiry_interval, shard_.core.config.max_session_expiry);
    }
    // [MQTT-3.14.4-3] A normal DISCONNECT discards the will; 0x04 asks for it.
    clean_disconnect_ = d.reason_code != rc::kDisconnectWithWill;
    close("client disconnected");
}

uint16_t Connection::outgoing_alias(std::string_view topic, bool& already_known) {
    already_known = false;
    if (!aliases_ || aliases_->client_max == 0) return 0;
    auto& out_aliases = aliases_->outgoing;
    if (auto it = out_aliases.find(topic); it != out_aliases.end()) {
        already_known = true;
        return it->second;
    }
    // Aliases are given to the first topics sent until the client's maximum is
    // reached; later topics go out in full.
    if (out_aliases.size() >= aliases_->client_max) return 0;
    auto alias = static_cast<uint16_t>(out_aliases.size() + 1);
    out_aliases.emplace(std::string(topic), alias);
    return alias;
}

void Connection::mark_dirty() {
    if (dirty || state_ == State::Closed) return;
    dirty = true;
    shard_.mark_dirty(shared_from_this());
}

void Connection::flush() {
    if (writing_ || pending_output() == 0) return;
    write_some();
}

void Connection::write_some_tx() {
    Transport& t = *tx_;
    for (;;) {
        const std::byte* p = nullptr;
        std::size_t len = 0;
        if (t.ws) {
            ws_frame_output();
            p = t.wire.data() + t.wire_offset;
            len = t.wire.size() - t.wire_offset;
        } else {
            p = out_.data() + out_offset_;
            len = out_.size() - out_offset_;
        }
        if (len == 0) break;
        std::size_t n = 0;
        const net::TlsIo io = write_raw(p, len, n);
        if (io == net::TlsIo::WantWrite || io == net::TlsIo::WantRead) {
            writing_ = true;
            const auto wait = io == net::TlsIo::WantWrite ? Socket::wait_write : Socket::wait_read;
            socket_.async_wait(wait, [self = shared_from_this()](const boost::system::error_code& e) {
                self->writing_ = false;
                if (e) {
                    if (self->state_ == State::Closing) self->finish_close();
                    return;
                }
                self->write_some();
                self->shard_.flush();
            });
            return;
        }
        if (io != net::TlsIo::Ok) {
            out_.clear();
            out_offset_ = 0;
            t.wire.clear();
            t.wire_offset = 0;
            if (state_ == State::Closing)
                finish_close();
            else
                close("write error");
            return;
        }
        shard_.counters.bytes_out.add(n);
        if (t.ws)
            t.wire_offset += n;
        else
            out_offset_ += n;
    }
    t.wire.clear();
    t.wire_offset = 0;
    out_.clear();
    out_offset_ = 0;
    if (state_ == State::Closing) {
        finish_close();
        return;
    }
    if (session_ && session_->queued_count() > 0) session_->pump();
}

void Connection::write_some() {
    if (tx_) {
        write_some_tx();
        return;
    }
    while (out_offset_ < out_.size()) {
        boost::system::error_code ec;
        std::size_t n = socket_.write_some(asio::buffer(out_.data() + out_offset_, out_.size() - out_offset_), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            writing_ = true;
            socket_.async_wait(Socket::wait_write, [self = shared_from_this()](const boost::system::error_code& e) {
                self->writing_ = false;
                if (e) {
                    if (self->state_ == State::Closing) self->finish_close();
                    return;
                }
                self->write_some();
                self->shard_.flush();
            });
            return;
        }
        if (ec) {
            out_.clear();
            out_offset_ = 0;
            if (state_ == State::Closing)
                finish_close();
            else
                close("write error");
            return;
        }
        shard_.counters.bytes_out.add(n);
        out_offset_ += n;
    }
    out_.clear();
    out_offset_ = 0;
    if (state_ == State::Closing) {
        finish_close();
        return;
    }
    // The slow consumer caught up: queued messages may go now.
    if (session_ && session_->queued_count() > 0) session_->pump();
}

void Connection::disconnect_with(uint8_t reason_code, const char* why) {
    if (state_ == State::Closed || state_ == State::Closing) return;
    if (version_ == Version::V5 && state_ == State::Connected) {
        codec::Disconnect d;
        d.reason_code = reason_code;
        d.properties.reason_string = std::string_view(why);
        codec::encode(out_, d, Version::V5);
    }
    close(why);
}

void Connection::close(const char* reason) {
    if (state_ == State::Closed || state_ == State::Closing) return;
    log::debug("mqtt: {} closing: {}", peer_, reason);
    if (tx_ && tx_->ws_open && !tx_->ws_close_sent) {
        // The MQTT output still queued goes out first, then the Close frame (§5.5.1).
        ws_frame_output();
        net::ws::encode_close(tx_->wire, tx_->ws_close_code);
        tx_->ws_close_sent = true;
    }
    end_session_link(!clean_disconnect_);
    shard_.counters.connections_closed.add();
    shard_.core.connections_current.sub();
    listener_.connections.fetch_sub(1, std::memory_order_relaxed);
    // Whatever is queued (a CONNACK refusal, a DISCONNECT with its reason) is
    // written before the socket closes.
    state_ = State::Closing;
    closing_at_ = Clock::now();
    if (!writing_) {
        if (pending_output() > 0) write_some();  // finishes the close when all is written
        if (state_ == State::Closing && !writing_) finish_close();
    }
    // Otherwise the pending write completes and finishes the close; a peer that
    // never reads is cut off by the sweep.
}

void Connection::release_idle_memory() {
    // Called from the sweep, not after each write: a busy connection reuses its
    // grown buffers turn after turn, an idle one gives them back.
    if (pending_output() == 0 && out_.capacity() > 0) {
        out_.clear();
        out_offset_ = 0;
        out_.shrink_to_fit();
    }
    if (partial_.empty() && partial_.capacity() > 0) partial_.shrink_to_fit();
    if (tx_ && tx_->wire.empty() && tx_->wire.capacity() > 0) tx_->wire.shrink_to_fit();
    if (session_) session_->release_idle_memory();
}

bool Connection::stuck_closing(Clock::time_point now) const {
    return state_ == State::Closing && now - closing_at_ > std::chrono::seconds(5);
}

void Connection::finish_close() {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    if (tx_ && tx_->tls) tx_->tls->shutdown();
    boost::system::error_code ec;
    socket_.shutdown(Socket::shutdown_both, ec);
    socket_.close(ec);
    // Erased on a later turn: the caller may be iterating over the set or
    // running a handler of this connection.
    asio::post(shard_.ctx, [&shard = shard_, self = shared_from_this()] { shard.connections.erase(self.get()); });
}

void Connection::end_session_link(bool send_will) {
    Session* s = std::exchange(session_, nullptr);
    if (!s) return;
    s->detach();
    if (will_ && send_will) {
        // [MQTT-3.1.3-9] A delayed will waits for the delay or the end of the
        // session, whichever comes first.
        if (will_->delay_s > 0 && s->expiry_interval_s > 0) {
            s->will = std::move(will_);
        } else {
            shard_.route(will_->msg);
        }
    }
    will_.reset();
    if (s->expiry_interval_s == 0) {
        shard_.destroy_session(s);
    } else {
        shard_.schedule_expiry(*s);
    }
}

void Connection::migrate() {
    // The CONNECT and everything after it is handed, with the socket, to the
    // shard that owns this client id.
    const std::size_t target = migrate_to_ - 1;
    std::vector<std::byte> pending = std::move(partial_);
    // The TLS session and WebSocket state go with the descriptor they belong to.
    std::unique_ptr<Transport> transport = std::move(tx_);
    boost::system::error_code ec;
    const auto protocol = socket_.local_endpoint(ec).protocol();
    auto fd = socket_.release(ec);
    state_ = State::Closed;
    asio::post(shard_.ctx, [&shard = shard_, self = shared_from_this()] { shard.connections.erase(self.get()); });
    if (ec) {
        shard_.core.connections_current.sub();
        listener_.connections.fetch_sub(1, std::memory_order_relaxed);
        return;
    }
    Shard& dest = shard_.core.shard(target);
    ListenerState& listener = listener_;
    asio::post(dest.ctx, [&dest, &listener, protocol, fd, pending = std::move(pending),
                          transport = std::move(transport)]() mutable {
        Socket sock(dest.ctx);
        boost::system::error_code e;
        sock.assign(protocol, fd, e);
        auto conn = std::make_shared<Connection>(dest, std::move(sock), listener, std::move(transport));
        dest.connections.emplace(conn.get(), conn);
        conn->start(std::move(pending));
    });
}

}  // namespace ib::mqtt::broker
