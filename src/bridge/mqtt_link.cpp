#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "bridge/mqtt_link.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstring>
#include <random>

#include "core/log.hpp"
#include "mqtt/codec/codec.hpp"
#include "net/tls_client.hpp"

namespace ib::bridge {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
namespace codec = mqtt::codec;

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;

std::string connack_reason(uint8_t code, codec::Version v) {
    if (v != codec::Version::V5) {
        switch (code) {
            case 1: return "unacceptable protocol version";
            case 2: return "client identifier rejected";
            case 3: return "server unavailable";
            case 4: return "bad user name or password";
            case 5: return "not authorized";
        }
        return "return code " + std::to_string(code);
    }
    switch (code) {
        case 0x84: return "unsupported protocol version (0x84)";
        case 0x85: return "client identifier not valid (0x85)";
        case 0x86: return "bad user name or password (0x86)";
        case 0x87: return "not authorized (0x87)";
        case 0x88: return "server unavailable (0x88)";
        case 0x89: return "server busy (0x89)";
        case 0x8A: return "banned (0x8A)";
        case 0x8C: return "bad authentication method (0x8C)";
        case 0x9C: return "use another server (0x9C)";
        case 0x9D: return "server moved (0x9D)";
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%02X", code);
    return std::string("reason code ") + buf;
}
}  // namespace

enum class LinkState : uint8_t { Idle, Connecting, AwaitConnack, Connected, Stopped };

struct MqttLink::Impl : std::enable_shared_from_this<MqttLink::Impl> {
    Impl(asio::io_context& io, const BridgeConfig& c, LinkEvents e)
        : io(io), config(c), events(std::move(e)), resolver(io), timer(io), keepalive(io),
          rng(std::random_device{}()) {}

    asio::io_context& io;
    const BridgeConfig& config;
    LinkEvents events;
    tcp::resolver resolver;
    // One per connection attempt, shared with the operations pending on it: a
    // closed connection's completions still find their stream alive. The TLS
    // context is made anew each time, so changed certificate files are read at
    // the next reconnect.
    struct Conn {
        explicit Conn(asio::io_context& io) : socket(io) {}
        tcp::socket socket;
        std::unique_ptr<asio::ssl::context> context;
        std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
    };
    std::shared_ptr<Conn> conn;
    asio::steady_timer timer;      // connect timeout, then reconnect back-off
    asio::steady_timer keepalive;  // PINGREQ and silence detection
    std::mt19937 rng;

    LinkState state = LinkState::Idle;
    // Bumped at every close, so completions of an earlier connection are ignored.
    uint64_t generation = 0;
    std::size_t server_index = 0;
    uint32_t failures = 0;  // consecutive, for the back-off
    uint64_t connect_count = 0;
    bool ever_connected = false;
    codec::Version version = codec::Version::V5;

    std::vector<std::byte> rx;
    std::size_t rx_len = 0;
    std::vector<std::byte> out;      // being filled
    std::vector<std::byte> writing;  // being written
    bool write_busy = false;
    bool stopping = false;  // stop() waits for the write in flight to send its DISCONNECT
    Clock::time_point last_rx{}, last_tx{};

    std::string server_text() const {
        const auto& s = config.servers[server_index % config.servers.size()];
        return s.host + ":" + std::to_string(s.port);
    }

    void attempt() {
        if (state == LinkState::Stopped) return;
        state = LinkState::Connecting;
        stopping = false;  // a stop still waiting for its write lets that connection go
        conn = std::make_shared<Conn>(io);
        const uint64_t gen = generation;
        const auto& s = config.servers[server_index % config.servers.size()];
        auto self = shared_from_this();
        timer.expires_after(config.connect_timeout);
        timer.async_wait([self, gen](const boost::system::error_code& ec) {
            if (ec || gen != self->generation) return;
            self->close("no CONNACK from " + self->server_text() + " within " +
                        std::to_string(self->config.connect_timeout.count()) + " ms");
        });
        resolver.async_resolve(s.host, std::to_string(s.port),
                               [self, gen](const boost::system::error_code& ec, tcp::resolver::results_type r) {
                                   if (gen != self->generation || self->state != LinkState::Connecting) return;
                                   if (ec) return self->close("cannot resolve " + self->server_text() + ": " + ec.message());
                                   asio::async_connect(self->conn->socket, r,
                                                       [self, gen, c = self->conn](const boost::system::error_code& ec, const tcp::endpoint&) {
                                                           if (gen != self->generation) return;
                                                           if (ec) {
                                                               return self->close("cannot connect to " + self->server_text() +
                                                                                  ": " + ec.message());
                                                           }
                                                           if (self->config.tls.enabled) {
                                                               self->start_tls(gen);
                                                           } else {
                                                               self->on_tcp_connected();
                                                           }
                                                       });
                               });
    }

    // Both kinds of stream have the same async operations: one code path for each.
    template <typename F>
    void with_stream(F&& f) {
        if (conn->tls) f(*conn->tls);
        else f(conn->socket);
    }

    void start_tls(uint64_t gen) {
        const auto& host = config.servers[server_index % config.servers.size()].host;
        auto& tls_context = conn->context;
        tls_context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
        const auto& t = config.tls;
        if (auto ok = net::configure_tls_client(*tls_context, {t.ca_file, t.cert_file, t.key_file}); !ok) {
            return close("TLS: " + ok.error());
        }
        auto& tls = conn->tls;
        tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(conn->socket, *tls_context);
        if (t.verify) {
            tls->set_verify_mode(asio::ssl::verify_peer);
            tls->set_verify_callback(asio::ssl::host_name_verification(host));
        } else {
            tls->set_verify_mode(asio::ssl::verify_none);
        }
        // SNI, so a broker behind a TLS-terminating proxy picks the right certificate.
        SSL_set_tlsext_host_name(tls->native_handle(), host.c_str());
        auto self = shared_from_this();
        tls->async_handshake(asio::ssl::stream_base::client, [self, gen, c = conn](const boost::system::error_code& ec) {
            if (gen != self->generation) return;
            if (ec) return self->close("TLS handshake with " + self->server_text() + " failed: " + ec.message());
            self->on_tcp_connected();
        });
    }

    void on_tcp_connected() {
        boost::system::error_code ignored;
        conn->socket.set_option(tcp::no_delay(true), ignored);
        state = LinkState::AwaitConnack;
        version = config.protocol == 5 ? codec::Version::V5 : codec::Version::V311;
        codec::Connect c;
        c.version = version;
        c.protocol_name = "MQTT";
        // The first connection after a start is clean when QoS 2 is forwarded: the
        // packet ids of QoS 2 flows from before the restart are not known here, and
        // reusing one the upstream still holds would make it drop a new message.
        bool qos2 = false;
        for (const auto& f : config.forwards) qos2 = qos2 || f.qos == 2;
        c.clean_start = config.clean_start || (!ever_connected && qos2);
        c.keep_alive = static_cast<uint16_t>(config.keep_alive.count());
        c.client_id = config.client_id;
        if (!config.username.empty()) c.username = config.username;
        if (!config.password.empty()) c.password = as_bytes(config.password);
        if (!config.will_topic.empty()) {
            codec::Will w;
            w.topic = config.will_topic;
            w.payload = as_bytes(config.will_payload);
            w.qos = config.will_qos;
            w.retain = config.will_retain;
            c.will = w;
        }
        if (version == codec::Version::V5) {
            c.properties.session_expiry_interval = config.clean_start ? 0 : config.session_expiry_s;
            c.properties.receive_maximum = 65535;
        }
        if (events.will) c.will = events.will();
        out.clear();
        codec::encode(out, c);
        last_rx = Clock::now();
        flush();
        read();
    }

    void read() {
        if (rx.size() < rx_len + kReadChunk) rx.resize(rx_len + kReadChunk);
        const uint64_t gen = generation;
        auto self = shared_from_this();
        with_stream([&](auto& stream) {
        stream.async_read_some(asio::buffer(rx.data() + rx_len, rx.size() - rx_len),
                               [self, gen, c = conn](const boost::system::error_code& ec, std::size_t n) {
                                   if (gen != self->generation) return;
                                   if (ec) {
                                       return self->close(ec == asio::error::eof || ec == asio::ssl::error::stream_truncated
                                                              ? "the upstream " + self->server_text() + " closed the connection"
                                                              : "read from " + self->server_text() + ": " + ec.message());
                                   }
                                   self->rx_len += n;
                                   self->last_rx = Clock::now();
                                   if (self->process()) self->read();
                               });
        });
    }

    // Handles every complete packet in the buffer; false when the connection closed.
    bool process() {
        std::size_t pos = 0;
        const uint64_t gen = generation;
        while (pos < rx_len) {
            std::size_t consumed = 0;
            auto r = codec::decode_one(Bytes(rx.data() + pos, rx_len - pos), version, consumed);
            if (!r) {
                close(std::string("malformed packet from the upstream: ") + r.error().message);
                return false;
            }
            if (!*r) break;
            handle(**r);
            if (gen != generation) return false;
            pos += consumed;
        }
        if (pos > 0) {
            std::memmove(rx.data(), rx.data() + pos, rx_len - pos);
            rx_len -= pos;
        }
        if (state == LinkState::Connected && events.read_done) {
            events.read_done();
            if (gen != generation) return false;
        }
        // Give back a buffer a large packet grew, once it is done with.
        if (rx_len == 0 && rx.size() > 4 * kReadChunk) {
            rx.clear();
            rx.shrink_to_fit();
        }
        return true;
    }

    void handle(const codec::Packet& p) {
        if (state == LinkState::AwaitConnack) {
            const auto* ack = std::get_if<codec::Connack>(&p);
            if (ack == nullptr) return close("the upstream sent another packet before CONNACK");
            if (ack->reason_code != 0) {
                return close("the upstream " + server_text() + " refused the connection: " +
                             connack_reason(ack->reason_code, version));
            }
            timer.cancel();
            state = LinkState::Connected;
            ever_connected = true;
            failures = 0;
            ++connect_count;
            log::info("bridge '{}': connected to {} (MQTT {}, session {})", config.name, server_text(),
                      version == codec::Version::V5 ? "5.0" : "3.1.1", ack->session_present ? "resumed" : "new");
            start_keepalive();
            if (events.connected) events.connected(ack->session_present, *ack);
            return;
        }
        if (std::holds_alternative<codec::Pingresp>(p)) return;
        if (const auto* d = std::get_if<codec::Disconnect>(&p)) {
            std::string why = "the upstream sent DISCONNECT";
            if (d->reason_code) why += " with " + connack_reason(d->reason_code, codec::Version::V5);
            if (d->properties.reason_string) why += ": " + std::string(*d->properties.reason_string);
            return close(why);
        }
        if (events.packet) events.packet(p);
    }

    void start_keepalive() {
        const uint64_t gen = generation;
        auto self = shared_from_this();
        // Checked at a quarter of the interval: a PINGREQ goes out when nothing
        // was sent for a whole interval; silence for 1.5 intervals closes.
        keepalive.expires_after(config.keep_alive / 4 + std::chrono::milliseconds(1));
        keepalive.async_wait([self, gen](const boost::system::error_code& ec) {
            if (ec || gen != self->generation || self->state != LinkState::Connected) return;
            const auto now = Clock::now();
            const auto ka = std::chrono::duration_cast<Clock::duration>(self->config.keep_alive);
            if (now - self->last_rx > ka + ka / 2) {
                return self->close("no packet from the upstream " + self->server_text() + " for 1.5 x keep_alive_s");
            }
            if (now - self->last_tx >= ka - ka / 4) {
                codec::encode(self->out, codec::Pingreq{});
                self->flush();
            }
            self->start_keepalive();
        });
    }

    void flush() {
        if (write_busy || out.empty() || (state != LinkState::Connected && state != LinkState::AwaitConnack)) return;
        writing.clear();
        writing.swap(out);
        write_busy = true;
        last_tx = Clock::now();
        const uint64_t gen = generation;
        auto self = shared_from_this();
        with_stream([&](auto& stream) {
        asio::async_write(stream, asio::buffer(writing), [self, gen, c = conn](const boost::system::error_code& ec, std::size_t) {
            if (self->stopping && c == self->conn) {
                self->write_busy = false;
                return self->finish_stop(!ec);
            }
            if (gen != self->generation) return;
            self->write_busy = false;
            if (ec) return self->close("write to " + self->server_text() + ": " + ec.message());
            if (!self->out.empty()) {
                self->flush();
            } else if (self->writing.capacity() > 4 * kReadChunk) {
                self->writing = {};
            }
            if (self->state == LinkState::Connected && self->events.writable) self->events.writable();
        });
        });
    }

    // The end of stop(): what is left to send (the DISCONNECT) written at once, then the socket closed.
    void finish_stop(bool send_rest) {
        stopping = false;
        boost::system::error_code ignored;
        if (send_rest && conn && !out.empty()) {
            with_stream([&](auto& stream) { asio::write(stream, asio::buffer(out), ignored); });
        }
        out.clear();
        if (conn) conn->socket.close(ignored);
    }

    void close(const std::string& why) {
        if (state == LinkState::Stopped || state == LinkState::Idle) return;
        const bool was_connected = state == LinkState::Connected;
        ++generation;
        boost::system::error_code ignored;
        if (conn) conn->socket.close(ignored);
        timer.cancel();
        keepalive.cancel();
        resolver.cancel();
        rx_len = 0;
        out.clear();
        writing.clear();
        write_busy = false;
        state = LinkState::Idle;
        if (was_connected) {
            log::warn("bridge '{}': link to {} lost: {}", config.name, server_text(), why);
        } else if (failures == 0 || failures % 10 == 0) {
            // One line per outage, then one every ten attempts, not one per try.
            log::warn("bridge '{}': {} (attempt {})", config.name, why, failures + 1);
        }
        if (!was_connected) {
            ++failures;
            ++server_index;  // fail over to the next server
        } else {
            failures = 1;
        }
        if (events.disconnected) events.disconnected(why, was_connected);
        schedule_reconnect();
    }

    void schedule_reconnect() {
        if (state == LinkState::Stopped) return;
        // Exponential back-off with +-20 % jitter, so a fleet of nodes does not
        // reconnect in step after the upstream comes back.
        double base = static_cast<double>(config.reconnect_min.count());
        for (uint32_t i = 1; i < failures && base < config.reconnect_max.count(); ++i) base *= 2;
        base = std::min(base, static_cast<double>(config.reconnect_max.count()));
        std::uniform_real_distribution<double> jitter(0.8, 1.2);
        auto delay = std::chrono::milliseconds(static_cast<int64_t>(base * jitter(rng)));
        if (failures == 0) delay = std::chrono::milliseconds(0);
        const uint64_t gen = generation;
        auto self = shared_from_this();
        timer.expires_after(delay);
        timer.async_wait([self, gen](const boost::system::error_code& ec) {
            if (ec || gen != self->generation) return;
            self->attempt();
        });
    }
};

MqttLink::MqttLink(asio::io_context& io, const BridgeConfig& config, LinkEvents events)
    : impl_(std::make_shared<Impl>(io, config, std::move(events))) {}

MqttLink::~MqttLink() {
    if (impl_->state != LinkState::Stopped) stop();
    // Pending completions hold the Impl alive; they must not call back into a
    // bridge that is gone.
    impl_->events = {};
}

void MqttLink::start() { impl_->attempt(); }

void MqttLink::stop() {
    Impl& i = *impl_;
    const bool say_goodbye = i.state == LinkState::Connected && i.conn;
    if (say_goodbye) codec::encode(i.out, codec::Disconnect{}, i.version);
    i.state = LinkState::Stopped;
    ++i.generation;  // nothing read from here on is acted upon
    if (say_goodbye && i.write_busy) {
        // What is being written (a last state, say) goes first; the DISCONNECT
        // follows it when that write completes, so the upstream drops our will.
        i.stopping = true;
    } else {
        i.finish_stop(say_goodbye);
    }
    i.timer.cancel();
    i.keepalive.cancel();
    i.resolver.cancel();
}

bool MqttLink::connected() const { return impl_->state == LinkState::Connected; }
mqtt::codec::Version MqttLink::version() const { return impl_->version; }
std::vector<std::byte>& MqttLink::output() { return impl_->out; }
void MqttLink::flush() { impl_->flush(); }
std::size_t MqttLink::pending_output() const { return impl_->out.size() + (impl_->write_busy ? impl_->writing.size() : 0); }
void MqttLink::fail(const std::string& why) { impl_->close(why); }
std::string MqttLink::server() const { return impl_->server_text(); }
uint64_t MqttLink::connects() const { return impl_->connect_count; }

}  // namespace ib::bridge
