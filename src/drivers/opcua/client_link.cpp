// The OPC UA client connection (OPC 10000-6 §7.1 UACP, §6.7 UASC with policy
// None; OPC 10000-4 §5.5 SecureChannel, §5.6 Session, §5.10 Read) on Asio.
#include "drivers/opcua/client_link.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <map>
#include <random>

#include "drivers/opcua/message_assembler.hpp"
#include "drivers/opcua/status_code.hpp"
#include "drivers/opcua/uacp.hpp"

namespace ib::drivers::opcua {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

ClientError error(StatusCode status, std::string message) { return ClientError{status, std::move(message)}; }

DateTime now() {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    return from_unix_ms(ms.count());
}

std::string decode_failure(const char* what, const Error& e) {
    return std::string(what) + " at byte " + std::to_string(e.offset) + ": " + e.message;
}

}  // namespace

class ClientLink::Impl : public std::enable_shared_from_this<Impl> {
public:
    enum class State : uint8_t { Idle, Connecting, AwaitAck, OpeningChannel, CreatingSession, ActivatingSession, Active, Closed };

    Impl(asio::io_context& io, ClientConfig config)
        : config_(std::move(config)),
          resolver_(io),
          socket_(io),
          connect_timer_(io),
          assembler_({config_.max_message_size, config_.max_chunk_count}) {
        // A chunk never exceeds the ReceiveBufferSize we announce, so a buffer of
        // that size always holds the frame being read.
        rx_.resize(std::max(config_.receive_buffer_size, kMinBufferSize));
    }

    void connect(std::function<void(ClientResult<void>)> done) {
        if (state_ != State::Idle) {
            asio::post(socket_.get_executor(), [done = std::move(done)] {
                done(std::unexpected(error(status::BadInternalError, "connect called twice on one link")));
            });
            return;
        }
        connect_done_ = std::move(done);
        state_ = State::Connecting;
        connect_timer_.expires_after(config_.timeout);
        connect_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec || self->state_ == State::Active || self->state_ == State::Closed) return;
            self->lost(status::BadTimeout, "no session within " + std::to_string(self->config_.timeout.count()) + " ms");
        });
        resolver_.async_resolve(
            config_.host, std::to_string(config_.port),
            [self = shared_from_this()](const boost::system::error_code& ec, tcp::resolver::results_type results) {
                if (self->state_ != State::Connecting) return;
                if (ec) return self->lost(status::BadConnectionRejected, "cannot resolve " + self->config_.host + ": " + ec.message());
                asio::async_connect(self->socket_, results,
                                    [self](const boost::system::error_code& c, const tcp::endpoint&) {
                                        if (self->state_ != State::Connecting) return;
                                        if (c) return self->lost(status::BadConnectionRejected, "cannot connect to " + self->peer() + ": " + c.message());
                                        self->connected();
                                    });
            });
    }

    void send(Encoder encode, std::function<void(ClientResult<Response>)> done,
              std::chrono::milliseconds timeout = std::chrono::milliseconds{0}) {
        if (state_ != State::CreatingSession && state_ != State::ActivatingSession && state_ != State::Active) {
            asio::post(socket_.get_executor(), [done = std::move(done)] {
                done(std::unexpected(error(status::BadServerNotConnected, "no secure channel to send on")));
            });
            return;
        }
        const uint32_t id = ++last_request_id_;
        RequestHeader header;
        header.authentication_token = authentication_token_;
        header.timestamp = now();
        header.request_handle = id;
        header.timeout_hint = static_cast<uint32_t>((timeout.count() > 0 ? timeout : config_.timeout).count());
        body_.clear();
        encode(body_, header);
        auto sent = encode_message(tx_, MessageType::Message, channel_id_, SymmetricSecurityHeader{token_id_}, id,
                                   Bytes(body_), send_limits(), sequence_number_);
        if (!sent) {
            asio::post(socket_.get_executor(), [done = std::move(done), why = std::string(sent.error().message)] {
                done(std::unexpected(error(status::BadRequestTooLarge, why)));
            });
            return;
        }
        expect(id, std::move(done), timeout);
        flush();
    }

    void set_on_lost(std::function<void(const ClientError&)> lost) { on_lost_ = std::move(lost); }

    void abort(const std::string& why) {
        on_lost_ = nullptr;
        lost(status::BadConnectionClosed, why);
    }

    void close() {
        if (state_ == State::Active) {
            state_ = State::Closed;  // no new requests from here on
            // P4 §5.6.4, then §5.5.3: the session first, then the channel; the
            // server answers CLO by closing the socket.
            CloseSessionRequest request;
            request.request_header.authentication_token = authentication_token_;
            request.request_header.timestamp = now();
            const uint32_t id = ++last_request_id_;
            request.request_header.request_handle = id;
            body_.clear();
            encode_message_body(body_, request);
            (void)encode_message(tx_, MessageType::Message, channel_id_, SymmetricSecurityHeader{token_id_}, id,
                                 Bytes(body_), send_limits(), sequence_number_);
            expect(id, [self = shared_from_this()](ClientResult<Response>) { self->close_channel(); });
            flush();
            return;
        }
        if (state_ != State::Closed) lost(status::BadConnectionClosed, "closed by the client");
    }

    void shutdown() {
        // The owner is gone: nothing may call back into it.
        connect_done_ = nullptr;
        on_lost_ = nullptr;
        for (auto& [id, p] : pending_) p.timer->cancel();
        pending_.clear();
        state_ = State::Closed;
        boost::system::error_code ignored;
        connect_timer_.cancel();
        resolver_.cancel();
        socket_.close(ignored);
    }

    bool session_active() const { return state_ == State::Active; }
    const TransportLimits& limits() const { return limits_; }

private:
    struct Pending {
        std::function<void(ClientResult<Response>)> done;
        std::unique_ptr<asio::steady_timer> timer;
    };

    std::string peer() const { return config_.host + ":" + std::to_string(config_.port); }

    SendLimits send_limits() const {
        return SendLimits{limits_.send_chunk_size, limits_.send_max_message, limits_.send_max_chunks};
    }

    void connected() {
        boost::system::error_code ignored;
        socket_.set_option(tcp::no_delay(true), ignored);
        // P6 §7.1.2.3: our buffers and limits; the server answers with its own.
        hello_.receive_buffer_size = static_cast<uint32_t>(rx_.size());
        hello_.send_buffer_size = static_cast<uint32_t>(rx_.size());
        hello_.max_message_size = config_.max_message_size;
        hello_.max_chunk_count = config_.max_chunk_count;
        hello_.endpoint_url = config_.endpoint_url;
        encode_hello(tx_, hello_);
        state_ = State::AwaitAck;
        flush();
        receive();
    }

    void receive() {
        socket_.async_read_some(asio::buffer(rx_.data() + rx_size_, rx_.size() - rx_size_),
                                [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                                    if (self->state_ == State::Closed && self->pending_.empty()) return;
                                    if (ec) {
                                        return self->lost(status::BadConnectionClosed,
                                                          ec == asio::error::eof ? self->peer() + " closed the connection"
                                                                                 : "cannot read from " + self->peer() + ": " + ec.message());
                                    }
                                    self->rx_size_ += n;
                                    if (self->consume()) self->receive();
                                });
    }

    // Every complete message in rx_; false when the link was dropped.
    bool consume() {
        std::size_t used = 0;
        while (used < rx_size_) {
            auto frame = next_frame(Bytes(rx_.data() + used, rx_size_ - used), hello_.receive_buffer_size);
            if (!frame) {
                lost(status::BadTcpMessageTypeInvalid, decode_failure("bad message header", frame.error()));
                return false;
            }
            if (!*frame) break;
            const std::size_t size = (*frame)->message.size();
            if (!handle(**frame)) return false;
            used += size;
        }
        if (used != 0) {
            std::memmove(rx_.data(), rx_.data() + used, rx_size_ - used);
            rx_size_ -= used;
        }
        return true;
    }

    bool handle(const Frame& frame) {
        const Bytes body = frame.message.subspan(kMessageHeaderSize);
        switch (frame.header.type) {
            case MessageType::Acknowledge: {
                if (state_ != State::AwaitAck) return protocol_error("Acknowledge out of turn");
                auto ack = decode_acknowledge(body);
                if (!ack) return protocol_error(decode_failure("bad Acknowledge", ack.error()));
                auto limits = negotiate(hello_, *ack);
                if (!limits) return protocol_error(limits.error().message);
                limits_ = *limits;
                open_channel();
                return true;
            }
            case MessageType::Error: {
                // P6 §7.1.2.5: the server says why, then closes the socket.
                BinaryReader r{body, kMessageHeaderSize};
                auto err = decode_error_message(r);
                if (!err) return protocol_error(decode_failure("bad Error message", err.error()));
                lost(err->error, "server error " + describe(err->error) + (err->reason.empty() ? "" : ": " + err->reason));
                return false;
            }
            case MessageType::Message:
            case MessageType::Open:
            case MessageType::Close: {
                auto chunk = decode_chunk(frame);
                if (!chunk) return protocol_error(decode_failure("bad chunk", chunk.error()));
                if (chunk->type == MessageType::Open &&
                    std::get<AsymmetricSecurityHeader>(chunk->security).security_policy_uri != kSecurityPolicyNone) {
                    // We asked for None (P6 §6.7.2.3): anything else is not our channel.
                    lost(status::BadSecurityChecksFailed, "OpenSecureChannel answered under another security policy");
                    return false;
                }
                if (chunk->type != MessageType::Open && chunk->secure_channel_id != channel_id_) {
                    lost(status::BadSecureChannelIdInvalid, "chunk for another secure channel");
                    return false;
                }
                auto event = assembler_.add(*chunk);
                if (!event) {
                    lost(event.error().code == static_cast<uint8_t>(DecodeErrc::TooLarge) ? status::BadResponseTooLarge
                                                                                          : status::BadSequenceNumberInvalid,
                         event.error().message);
                    return false;
                }
                if (const auto* m = std::get_if<AssembledMessage>(&*event)) dispatch(m->request_id, m->body);
                if (const auto* a = std::get_if<AbortedMessage>(&*event)) {
                    finish(a->request_id, std::unexpected(error(a->error.error, "response aborted: " + a->error.reason)));
                }
                return state_ != State::Closed || !pending_.empty();
            }
            default:
                return protocol_error("unexpected message type from a server");
        }
    }

    void dispatch(uint32_t request_id, Bytes body) {
        auto response = decode_response(body);
        if (!response) {
            return finish(request_id, std::unexpected(error(status::BadDecodingError,
                                                            decode_failure("cannot decode the response", response.error()))));
        }
        const StatusCode result = response_header(*response).service_result;
        if (std::holds_alternative<ServiceFault>(*response) || is_bad(result)) {
            return finish(request_id, std::unexpected(error(result, "service failed: " + describe(result))));
        }
        finish(request_id, std::move(*response));
    }

    void expect(uint32_t id, std::function<void(ClientResult<Response>)> done,
                std::chrono::milliseconds timeout = std::chrono::milliseconds{0}) {
        Pending p{std::move(done), std::make_unique<asio::steady_timer>(socket_.get_executor())};
        const auto wait = timeout.count() > 0 ? timeout : config_.timeout;
        p.timer->expires_after(wait);
        p.timer->async_wait([self = shared_from_this(), id, wait](const boost::system::error_code& ec) {
            if (ec) return;
            self->finish(id, std::unexpected(error(status::BadTimeout, "no response within " +
                                                                           std::to_string(wait.count()) + " ms")));
        });
        pending_.emplace(id, std::move(p));
    }

    void finish(uint32_t id, ClientResult<Response> result) {
        auto it = pending_.find(id);
        if (it == pending_.end()) return;  // timed out already, or not ours
        auto done = std::move(it->second.done);
        it->second.timer->cancel();
        pending_.erase(it);
        done(std::move(result));
    }

    void open_channel() {
        // P4 §5.5.2 with policy None: no nonce, no certificates.
        OpenSecureChannelRequest request;
        request.request_header.timestamp = now();
        const uint32_t id = ++last_request_id_;
        request.request_header.request_handle = id;
        request.security_mode = MessageSecurityMode::None;
        request.requested_lifetime = config_.requested_lifetime_ms;
        body_.clear();
        encode_message_body(body_, request);
        auto sent = encode_message(tx_, MessageType::Open, 0, AsymmetricSecurityHeader{}, id, Bytes(body_),
                                   send_limits(), sequence_number_);
        if (!sent) return fail_connect(status::BadRequestTooLarge, sent.error().message);
        state_ = State::OpeningChannel;
        expect(id, [self = shared_from_this()](ClientResult<Response> r) {
            if (!r) return self->fail_connect(r.error().status, "OpenSecureChannel: " + r.error().message);
            const auto* opened = std::get_if<OpenSecureChannelResponse>(&*r);
            if (opened == nullptr) return self->fail_connect(status::BadUnknownResponse, "OpenSecureChannel answered with another response");
            self->channel_id_ = opened->security_token.channel_id;
            self->token_id_ = opened->security_token.token_id;
            self->create_session();
        });
        flush();
    }

    void create_session() {
        state_ = State::CreatingSession;
        CreateSessionRequest request;
        request.client_description.application_uri = config_.application_uri;
        request.client_description.product_uri = config_.product_uri;
        request.client_description.application_name = LocalizedText{"en", config_.application_name};
        request.client_description.application_type = ApplicationType::Client;
        request.endpoint_url = config_.endpoint_url;
        request.session_name = config_.session_name;
        // P4 §5.6.2: 32 bytes at least; unused under None but servers check it.
        std::random_device random;
        request.client_nonce.resize(32);
        for (auto& b : request.client_nonce) b = static_cast<std::byte>(random());
        request.requested_session_timeout = config_.session_timeout_ms;
        request.max_response_message_size = config_.max_message_size;
        send(
            [request](std::vector<std::byte>& out, const RequestHeader& header) mutable {
                request.request_header = header;
                encode_message_body(out, request);
            },
            [self = shared_from_this()](ClientResult<Response> r) {
                if (!r) return self->fail_connect(r.error().status, "CreateSession: " + r.error().message);
                const auto* created = std::get_if<CreateSessionResponse>(&*r);
                if (created == nullptr) return self->fail_connect(status::BadUnknownResponse, "CreateSession answered with another response");
                self->authentication_token_ = created->authentication_token;
                self->activate_session(*created);
            });
    }

    // P4 §5.6.3 with the anonymous token (P4 §7.36.3): its policyId comes from the
    // None endpoint's UserTokenPolicy, as servers check it.
    void activate_session(const CreateSessionResponse& created) {
        std::string policy_id;
        bool found = false;
        for (const EndpointDescription& e : created.server_endpoints) {
            if (e.security_mode != MessageSecurityMode::None) continue;
            for (const UserTokenPolicy& p : e.user_identity_tokens) {
                if (p.token_type == UserTokenType::Anonymous && !found) {
                    policy_id = p.policy_id;
                    found = true;
                }
            }
        }
        if (!found) {
            return fail_connect(status::BadIdentityTokenInvalid, "the server offers no anonymous login on a None endpoint");
        }
        state_ = State::ActivatingSession;
        ActivateSessionRequest request;
        request.locale_ids = {"en"};
        request.user_identity_token = make_extension_object(AnonymousIdentityToken{policy_id});
        send(
            [request](std::vector<std::byte>& out, const RequestHeader& header) mutable {
                request.request_header = header;
                encode_message_body(out, request);
            },
            [self = shared_from_this()](ClientResult<Response> r) {
                if (!r) return self->fail_connect(r.error().status, "ActivateSession: " + r.error().message);
                const auto* activated = std::get_if<ActivateSessionResponse>(&*r);
                if (activated == nullptr) return self->fail_connect(status::BadUnknownResponse, "ActivateSession answered with another response");
                self->state_ = State::Active;
                self->connect_timer_.cancel();
                if (auto done = std::move(self->connect_done_)) done({});
            });
    }

    void close_channel() {
        // P4 §5.5.3: CLO, no response; the socket closes after the write.
        CloseSecureChannelRequest request;
        request.request_header.authentication_token = authentication_token_;
        request.request_header.timestamp = now();
        request.request_header.request_handle = ++last_request_id_;
        body_.clear();
        encode_message_body(body_, request);
        (void)encode_message(tx_, MessageType::Close, channel_id_, SymmetricSecurityHeader{token_id_},
                             request.request_header.request_handle, Bytes(body_), send_limits(), sequence_number_);
        closing_ = true;
        flush();
    }

    void flush() {
        if (writing_ || tx_.empty()) {
            if (!writing_ && closing_) lost(status::BadConnectionClosed, "closed by the client");
            return;
        }
        writing_ = true;
        tx_writing_.swap(tx_);
        asio::async_write(socket_, asio::buffer(tx_writing_),
                          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                              self->writing_ = false;
                              self->tx_writing_.clear();
                              if (ec) {
                                  if (ec != asio::error::operation_aborted) {
                                      self->lost(status::BadConnectionClosed, "cannot write to " + self->peer() + ": " + ec.message());
                                  }
                                  return;
                              }
                              self->flush();
                          });
    }

    bool protocol_error(const std::string& why) {
        lost(status::BadDecodingError, why);
        return false;
    }

    void fail_connect(StatusCode status, const std::string& why) { lost(status, why); }

    // The link is gone: every pending request and a pending connect fail.
    void lost(StatusCode status, const std::string& why) {
        const bool was_active = state_ == State::Active;
        state_ = State::Closed;
        closing_ = false;
        boost::system::error_code ignored;
        connect_timer_.cancel();
        socket_.close(ignored);
        auto pending = std::move(pending_);
        pending_.clear();
        for (auto& [id, p] : pending) {
            p.timer->cancel();
            p.done(std::unexpected(error(status, why)));
        }
        if (auto done = std::move(connect_done_)) done(std::unexpected(error(status, why)));
        connect_done_ = nullptr;
        if (auto hook = std::move(on_lost_); hook && was_active) hook(error(status, why));
    }

    ClientConfig config_;
    tcp::resolver resolver_;
    tcp::socket socket_;
    asio::steady_timer connect_timer_;
    MessageAssembler assembler_;
    State state_ = State::Idle;
    Hello hello_;
    TransportLimits limits_{kMinBufferSize, 0, 0, 0, 0, 0};
    uint32_t channel_id_ = 0;
    uint32_t token_id_ = 0;
    uint32_t sequence_number_ = 0;
    uint32_t last_request_id_ = 0;
    NodeId authentication_token_;
    std::function<void(ClientResult<void>)> connect_done_;
    std::function<void(const ClientError&)> on_lost_;
    std::map<uint32_t, Pending> pending_;
    std::vector<std::byte> rx_;
    std::size_t rx_size_ = 0;
    std::vector<std::byte> body_;        // the request being encoded
    std::vector<std::byte> tx_;          // chunks waiting for the socket
    std::vector<std::byte> tx_writing_;  // chunks being written
    bool writing_ = false;
    bool closing_ = false;
};

ClientLink::ClientLink(asio::io_context& io, ClientConfig config) : impl_(std::make_shared<Impl>(io, std::move(config))) {}

ClientLink::~ClientLink() { impl_->shutdown(); }

void ClientLink::connect(std::function<void(ClientResult<void>)> done) { impl_->connect(std::move(done)); }

void ClientLink::send(Encoder encode, std::function<void(ClientResult<Response>)> done,
                      std::chrono::milliseconds timeout) {
    impl_->send(std::move(encode), std::move(done), timeout);
}

void ClientLink::on_lost(std::function<void(const ClientError&)> lost) { impl_->set_on_lost(std::move(lost)); }

void ClientLink::abort(const std::string& why) { impl_->abort(why); }

void ClientLink::read(std::vector<ReadValueId> nodes, TimestampsToReturn timestamps,
                      std::function<void(ClientResult<std::vector<DataValue>>)> done) {
    const std::size_t count = nodes.size();
    ReadRequest request;
    request.max_age = 0;
    request.timestamps_to_return = timestamps;
    request.nodes_to_read = std::move(nodes);
    call(std::move(request), [count, done = std::move(done)](ClientResult<Response> r) {
        if (!r) return done(std::unexpected(std::move(r.error())));
        auto* read = std::get_if<ReadResponse>(&*r);
        if (read == nullptr) return done(std::unexpected(error(status::BadUnknownResponse, "Read answered with another response")));
        // P4 §5.10.2.2: one result per node read, in order.
        if (read->results.size() != count) {
            return done(std::unexpected(error(status::BadUnknownResponse, "Read returned " + std::to_string(read->results.size()) +
                                                                              " results for " + std::to_string(count) + " nodes")));
        }
        done(std::move(read->results));
    });
}

void ClientLink::close() { impl_->close(); }

bool ClientLink::session_active() const { return impl_->session_active(); }

const TransportLimits& ClientLink::limits() const { return impl_->limits(); }

}  // namespace ib::drivers::opcua
