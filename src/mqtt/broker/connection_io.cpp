// The I/O of one client connection: the socket, the TLS and WebSocket
// transports, batched non-blocking reads and writes, the graceful close, and the
// move to another shard. Reads drain the socket into the shard's shared buffer
// and hand every byte to the parser (connection_protocol.cpp); output is
// appended to one buffer and written once per loop turn (Shard::flush).
#include <boost/asio/post.hpp>

#include "core/log.hpp"
#include "mqtt/broker/broker_core.hpp"
#include "mqtt/broker/transport.hpp"
#include "mqtt/broker/wait_allocator.hpp"
#include "net/ws_handshake.hpp"

namespace ib::mqtt::broker {

namespace {
// Reads per readiness event before yielding to other connections.
constexpr int kMaxReadsPerTurn = 16;
// A graceful close reads and discards what the client still sends for this
// long and at most this many bytes, then closes whatever the client does: long
// enough for the bytes it had in flight when it got our reason (a round trip),
// short enough that a client that keeps sending costs little.
constexpr auto kDrainTime = std::chrono::seconds(1);
constexpr uint32_t kMaxDrainBytes = 1024 * 1024;
// Output still unwritten this long after a close is given up.
constexpr auto kCloseFlushLimit = std::chrono::seconds(5);
}  // namespace

Connection::Connection(Shard& shard, Socket socket, ListenerState& listener, std::unique_ptr<Transport> transport)
    : shard_(shard), socket_(std::move(socket)), tx_(std::move(transport)), listener_index_(listener.index) {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("unknown") : ep.address().to_string() + ":" + std::to_string(ep.port());
    since_ = last_rx_ = Clock::now();
    const TransportKind kind = listener.transport;
    if (!tx_ && kind != TransportKind::Tcp) {
        tx_ = std::make_unique<Transport>();
        tx_->ws = kind == TransportKind::Ws || kind == TransportKind::Wss;
        if ((kind == TransportKind::Tls || kind == TransportKind::Wss) && listener.tls) {
            if (ssl_st* ssl = listener.tls->new_session(socket_.native_handle()))
                tx_->tls = std::make_unique<net::TlsStream>(ssl);
        }
    }
}

Connection::~Connection() = default;

ListenerState& Connection::listener() const { return shard_.core.listener(listener_index_); }

void intrusive_ptr_add_ref(Connection* c) { c->refs_.fetch_add(1, std::memory_order_relaxed); }

void intrusive_ptr_release(Connection* c) {
    if (c->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete c;
}

void Connection::start(std::vector<std::byte> already_read) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    // Latency never waits for Nagle; throughput comes from our own batching.
    socket_.set_option(tcp::no_delay(true), ec);
    const TransportKind kind = listener().transport;
    if ((kind == TransportKind::Tls || kind == TransportKind::Wss) && !tx_->tls) {
        log::warn("mqtt: {}: cannot create a TLS session on listener '{}': closing", peer_, listener().config.name);
        close("no TLS session");
        return;
    }
    if (!already_read.empty()) {
        partial_ = std::make_unique<std::vector<std::byte>>(std::move(already_read));
        std::size_t used = process(*partial_);
        if (closed()) return;
        partial_->erase(partial_->begin(), partial_->begin() + static_cast<std::ptrdiff_t>(used));
        if (partial_->empty()) partial_.reset();  // the usual case: the CONNECT alone
    }
    // Drain whatever arrived meanwhile; the reactor is edge-triggered, so the
    // first wait must follow a read that found the socket empty.
    on_readable();
}

template <typename Handler>
void Connection::async_wait(Socket::wait_type what, Handler&& handler) {
    // Every wait of a connection, an idle one's included, takes its operation's
    // memory from WaitBlocks: exactly its size, not the last block Asio freed.
    socket_.async_wait(what, with_wait_blocks(std::forward<Handler>(handler)));
}

void Connection::wait_readable() { wait_then_read(Socket::wait_read); }

void Connection::wait_writable_to_read() { wait_then_read(Socket::wait_write); }

void Connection::wait_then_read(Socket::wait_type what) {
    if (reading_ || closed()) return;
    reading_ = true;
    async_wait(what, [self = ref()](const boost::system::error_code& ec) {
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

namespace {

// How many more bytes the packet at the start of `held` needs: one at a time
// while its fixed header is incomplete, none when it is whole or malformed
// (process() reports that).
std::size_t bytes_missing(Bytes held) {
    auto header = codec::decode_frame_header(held);
    if (!header) return 0;
    if (!*header) return 1;
    const std::size_t total = (*header)->total_size();
    return total > held.size() ? total - held.size() : 0;
}

}  // namespace

void Connection::feed(Bytes data) {
    if (has_partial()) {
        // The packet split across reads takes only the bytes it lacks; the
        // rest of the read is handled where it lies. Appending the whole read
        // copied every byte once more whenever a read ended inside a packet,
        // which under load is nearly every read.
        std::vector<std::byte>& p = *partial_;
        for (std::size_t want; !data.empty() && (want = bytes_missing(p)) != 0;) {
            const std::size_t take = std::min(want, data.size());
            p.insert(p.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
            data = data.subspan(take);
        }
        const std::size_t used = process(p);
        if (closed()) return;
        p.erase(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(used));
        if (!p.empty()) {
            // Still incomplete, or reading paused or the connection is moving
            // to another shard: what follows waits behind it.
            p.insert(p.end(), data.begin(), data.end());
            return;
        }
    }
    const std::size_t used = process(data);
    if (!closed() && used < data.size())
        partial().assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
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
            listener().tls_handshake_failures.add();
            log::info("mqtt: {} TLS handshake failed on listener '{}': {}: closing", peer_, listener().config.name,
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
    const net::ws::UpgradeReply reply = net::ws::accept_upgrade(head, listener().config.ws_path);
    const auto* resp = reinterpret_cast<const std::byte*>(reply.response.data());
    t.wire.insert(t.wire.end(), resp, resp + reply.response.size());
    mark_dirty();
    if (reply.status != 101) {
        // The HTTP response queued above tells the client.
        protocol_violation(Violation::WebSocketUpgrade,
                           fmt::format("WebSocket upgrade refused with {} on listener '{}': {}", reply.status,
                                       listener().config.name, reply.reason));
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
        // The Close frame that close() sends carries the status (1002, or 1003 for text).
        t.ws_close_code = r.error().close_code;
        protocol_violation(Violation::WebSocketFrame, fmt::format("sent a bad WebSocket frame: {}", r.error().message),
                           r.error().offset);
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
    Cold& c = cold();
    if (until > c.paused_until) c.paused_until = until;
}

void Connection::on_readable() {
    auto self = ref();
    auto retry_after = [&](std::chrono::microseconds delay) {
        Cold& c = cold();
        if (!c.timer) c.timer = std::make_unique<asio::steady_timer>(shard_.ctx);
        c.timer->expires_after(delay);
        c.timer->async_wait([self](const boost::system::error_code& ec) {
            if (!ec && !self->closed()) self->on_readable();
        });
    };
    if (paused_) {
        const auto now = Clock::now();
        // pause_reading() allocated the cold part with the deadline.
        const auto until = cold_->paused_until;
        if (now < until) {
            // A subscriber of this publisher is behind: its bytes wait in the
            // kernel, and TCP slows the publisher down.
            retry_after(std::chrono::duration_cast<std::chrono::microseconds>(until - now));
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
    if (has_partial()) {
        // Complete packets may have been left here when reading was paused.
        std::vector<std::byte>& p = *partial_;
        std::size_t used = process(p);
        if (!closed()) p.erase(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(used));
        if (closed() || paused_ || migrate_to_) {
            if (migrate_to_ && !closed()) migrate();
            shard_.flush();
            if (paused_ && !closed()) on_readable();
            return;
        }
    }
    std::vector<std::byte>& buf = shard_.read_buffer();
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

void Connection::mark_dirty() {
    // Nothing can be written once our side is shut (Draining) or closed.
    if (dirty || state_ >= State::Draining) return;
    dirty = true;
    shard_.mark_dirty(ref());
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
            async_wait(wait, [self = ref()](const boost::system::error_code& e) {
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
    if (give_back_output_) {  // as in write_some
        give_back_output_ = false;
        out_.shrink_to_fit();
    }
    if (state_ == State::Closing) {
        closing_output_written();
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
            async_wait(Socket::wait_write, [self = ref()](const boost::system::error_code& e) {
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
    if (give_back_output_) {
        // The CONNACK's buffer: many clients are quiet after it (a connection
        // storm of idle devices), so it goes now rather than at the next sweep.
        // A busy connection pays one allocation for its next output, once.
        give_back_output_ = false;
        out_.shrink_to_fit();
    }
    if (state_ == State::Closing) {
        closing_output_written();
        return;
    }
    // The slow consumer caught up: queued messages may go now.
    if (session_ && session_->queued_count() > 0) session_->pump();
}

void Connection::close_gracefully(std::string_view why) {
    if (closed()) return;
    drain_on_close_ = true;
    close(why);
}

void Connection::close(std::string_view reason) {
    if (closed()) return;
    log::debug("mqtt: {} closing: {}", peer_, reason);
    if (tx_ && tx_->ws_open && !tx_->ws_close_sent) {
        // The MQTT output still queued goes out first, then the Close frame (§5.5.1).
        ws_frame_output();
        net::ws::encode_close(tx_->wire, tx_->ws_close_code);
        tx_->ws_close_sent = true;
    }
    // The session, the will and the connection's place under the limits go
    // now, not when the socket closes: writing and draining hold nothing else.
    end_session_link(!clean_disconnect_);
    shard_.counters.connections_closed.add();
    shard_.core.connections_current.sub();
    listener().connections.fetch_sub(1, std::memory_order_relaxed);
    // Whatever is queued (a CONNACK refusal, a DISCONNECT with its reason) is
    // written before the socket closes.
    state_ = State::Closing;
    since_ = Clock::now();
    if (!writing_) {
        if (pending_output() > 0) {
            write_some();  // ends in closing_output_written once all is written
        } else {
            closing_output_written();
        }
    }
    // Otherwise the pending write completes and goes on from there; a peer
    // that never reads is cut off by the sweep (stuck_closing).
}

void Connection::closing_output_written() {
    if (drain_on_close_) {
        half_close_and_drain();
    } else {
        finish_close();
    }
}

void Connection::half_close_and_drain() {
    // TLS: close_notify is the last thing we write (RFC 8446 §6.1).
    if (tx_ && tx_->tls) tx_->tls->shutdown();
    boost::system::error_code ec;
    // FIN after the reason: the client reads it, then end of stream. Closing
    // instead with its bytes unread (or still arriving) would make our kernel
    // answer with a reset, and the client's kernel may drop what it had not
    // yet read, the reason with it.
    socket_.shutdown(Socket::shutdown_send, ec);
    if (ec) {
        finish_close();
        return;
    }
    state_ = State::Draining;
    since_ = Clock::now();
    // A read wait still pending would run on_readable, whose flow-control
    // retry shares the timer below; drain_input waits for itself.
    socket_.cancel(ec);
    Cold& c = cold();
    if (!c.timer) c.timer = std::make_unique<asio::steady_timer>(shard_.ctx);
    c.timer->expires_after(kDrainTime);
    c.timer->async_wait([self = ref()](const boost::system::error_code& e) {
        if (!e) self->finish_close();
    });
    // Not from here: the caller may still be parsing the shard's read buffer,
    // which drain_input reads into.
    asio::post(shard_.ctx, [self = ref()] { self->drain_input(); });
}

void Connection::drain_input() {
    if (state_ != State::Draining) return;
    // Read until the socket is empty before waiting: the reactor is edge-triggered.
    std::vector<std::byte>& buf = shard_.read_buffer();
    for (;;) {
        boost::system::error_code ec;
        // Raw bytes, TLS records included: nothing read now is ever decoded.
        const std::size_t n = socket_.read_some(asio::buffer(buf.data(), buf.size()), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) break;
        if (ec || n == 0) {  // the client closed too (or reset): done
            finish_close();
            return;
        }
        drained_bytes_ += static_cast<uint32_t>(std::min<std::size_t>(n, kMaxDrainBytes));
        if (drained_bytes_ >= kMaxDrainBytes) {
            finish_close();
            return;
        }
    }
    async_wait(Socket::wait_read, [self = ref()](const boost::system::error_code& e) {
        if (e) {
            if (e != asio::error::operation_aborted) self->finish_close();
            return;
        }
        self->drain_input();
    });
}

void Connection::release_idle_memory() {
    // Called from the sweep, not after each write: a busy connection reuses its
    // grown buffers turn after turn, an idle one gives them back.
    if (pending_output() == 0 && out_.capacity() > 0) {
        out_.clear();
        out_offset_ = 0;
        out_.shrink_to_fit();
    }
    if (partial_ && partial_->empty()) partial_.reset();
    if (tx_ && tx_->wire.empty() && tx_->wire.capacity() > 0) tx_->wire.shrink_to_fit();
    if (session_) session_->release_idle_memory();
}

bool Connection::stuck_closing(Clock::time_point now) const {
    // The drain has its own timer; this is the bound on flushing, and a backstop.
    return (state_ == State::Closing && now - since_ > kCloseFlushLimit) ||
           (state_ == State::Draining && now - since_ > kDrainTime + kDrainTime);
}

void Connection::finish_close() {
    if (state_ == State::Closed) return;
    // A drained TLS session has sent its close_notify already.
    const bool notify = state_ != State::Draining;
    state_ = State::Closed;
    if (notify && tx_ && tx_->tls) tx_->tls->shutdown();
    if (cold_ && cold_->timer) cold_->timer->cancel();
    boost::system::error_code ec;
    socket_.shutdown(Socket::shutdown_both, ec);
    socket_.close(ec);
    // Erased on a later turn: the caller may be iterating over the set or
    // running a handler of this connection.
    asio::post(shard_.ctx, [&shard = shard_, self = ref()] { shard.remove(*self); });
}

void Connection::migrate() {
    // The CONNECT and everything after it is handed, with the socket, to the
    // shard that owns this client id.
    const std::size_t target = migrate_to_ - 1;
    std::vector<std::byte> pending = partial_ ? std::move(*partial_) : std::vector<std::byte>{};
    // The TLS session and WebSocket state go with the descriptor they belong to.
    std::unique_ptr<Transport> transport = std::move(tx_);
    boost::system::error_code ec;
    const auto protocol = socket_.local_endpoint(ec).protocol();
    auto fd = socket_.release(ec);
    state_ = State::Closed;
    asio::post(shard_.ctx, [&shard = shard_, self = ref()] { shard.remove(*self); });
    if (ec) {
        shard_.core.connections_current.sub();
        listener().connections.fetch_sub(1, std::memory_order_relaxed);
        return;
    }
    Shard& dest = shard_.core.shard(target);
    ListenerState& listener = this->listener();
    asio::post(dest.ctx, [&dest, &listener, protocol, fd, pending = std::move(pending),
                          transport = std::move(transport)]() mutable {
        Socket sock(dest.ctx);
        boost::system::error_code e;
        sock.assign(protocol, fd, e);
        ConnectionRef conn(new Connection(dest, std::move(sock), listener, std::move(transport)));
        dest.add(conn);
        conn->start(std::move(pending));
    });
}

}  // namespace ib::mqtt::broker
