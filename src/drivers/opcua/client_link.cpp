// The OPC UA client connection (OPC 10000-6 §7.1 UACP, §6.7 UASC; OPC 10000-4
// §5.4.4 GetEndpoints, §5.5 SecureChannel, §5.6 Session, §5.10 Read) on Asio.
#include "drivers/opcua/client_link.hpp"

#include <algorithm>
#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <map>

#include "core/room.hpp"
#include "drivers/opcua/endpoint_selection.hpp"
#include "drivers/opcua/message_assembler.hpp"
#include "drivers/opcua/pki.hpp"
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

// An encoder for send() from a request value.
template <typename Request>
auto encoder(Request request) {
    return [request = std::move(request)](std::vector<std::byte>& out, const RequestHeader& header) mutable {
        request.request_header = header;
        encode_message_body(out, request);
    };
}

}  // namespace

class ClientLink::Impl : public std::enable_shared_from_this<Impl> {
public:
    enum class State : uint8_t {
        Idle,
        Discovering,  // a second link asks for the endpoints
        Connecting,
        AwaitAck,
        OpeningChannel,
        GettingEndpoints,
        CreatingSession,
        ActivatingSession,
        Active,
        Closed
    };

    // A Discovery link opens a None channel, asks GetEndpoints and closes.
    enum class Purpose : uint8_t { Session, Discovery };

    Impl(asio::io_context& io, ClientConfig config, Purpose purpose = Purpose::Session)
        : io_(io),
          purpose_(purpose),
          config_(std::move(config)),
          resolver_(io),
          socket_(io),
          connect_timer_(io),
          renew_timer_(io),
          assembler_({config_.max_message_size, config_.max_chunk_count}) {
        // A chunk never exceeds the ReceiveBufferSize we announce, so a buffer of
        // that size always holds the frame being read.
        rx_.resize(std::max(config_.receive_buffer_size, kMinBufferSize));
    }

    void connect(std::function<void(ClientResult<void>)> done, std::optional<SessionHandle> resume) {
        resume_ = std::move(resume);
        if (state_ != State::Idle) {
            asio::post(socket_.get_executor(), [done = std::move(done)] {
                done(std::unexpected(error(status::BadInternalError, "connect called twice on one link")));
            });
            return;
        }
        connect_done_ = std::move(done);
        connect_timer_.expires_after(config_.timeout);
        connect_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec || self->state_ == State::Active || self->state_ == State::Closed) return;
            self->lost(status::BadTimeout, "no session within " + std::to_string(self->config_.timeout.count()) + " ms");
        });
        // P4 §5.4.4: the endpoints first, on a channel of their own with policy
        // None; the session then goes over the endpoint chosen from them.
        state_ = State::Discovering;
        ClientConfig plain = config_;
        plain.security = ClientSecurity{};
        discovery_ = std::make_shared<Impl>(io_, std::move(plain), Purpose::Discovery);
        discovery_->connect_done_ = [self = shared_from_this()](ClientResult<void> r) {
            if (!r) self->fail_connect(r.error().status, "GetEndpoints: " + r.error().message);
        };
        discovery_->endpoints_done_ = [self = shared_from_this()](std::vector<EndpointDescription> endpoints) {
            self->endpoints_received(std::move(endpoints));
        };
        discovery_->state_ = State::Connecting;
        discovery_->open_transport();
    }

    void open_transport() {
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
        if (state_ != State::GettingEndpoints && state_ != State::CreatingSession && state_ != State::ActivatingSession &&
            state_ != State::Active) {
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
        auto sent = seal(MessageType::Message, id);
        if (!sent) {
            const StatusCode why_status = sent.error().code == static_cast<uint8_t>(DecodeErrc::Security)
                                              ? status::BadSecurityChecksFailed
                                              : status::BadRequestTooLarge;
            asio::post(socket_.get_executor(), [done = std::move(done), why_status, why = std::string(sent.error().message)] {
                done(std::unexpected(error(why_status, why)));
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
            (void)seal(MessageType::Message, id);
            expect(id, [self = shared_from_this()](ClientResult<Response>) { self->close_channel(); });
            flush();
            return;
        }
        if (state_ != State::Closed) lost(status::BadConnectionClosed, "closed by the client");
    }

    void shutdown() {
        // The owner is gone: nothing may call back into it.
        connect_done_ = nullptr;
        endpoints_done_ = nullptr;
        stop_discovery();
        on_lost_ = nullptr;
        for (auto& [id, p] : pending_) p.timer->cancel();
        pending_.clear();
        state_ = State::Closed;
        boost::system::error_code ignored;
        connect_timer_.cancel();
        renew_timer_.cancel();
        resolver_.cancel();
        socket_.close(ignored);
    }

    bool session_active() const { return state_ == State::Active; }
    const TransportLimits& limits() const { return limits_; }
    uint64_t security_failures() const { return security_failures_; }
    const EndpointDescription& endpoint() const { return endpoint_; }
    uint64_t renewals() const { return renewals_; }
    SessionHandle session() const { return SessionHandle{authentication_token_, server_nonce_}; }
    bool resumed() const { return resumed_; }

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
                const ChannelSecurity* keys = channel_security_.get();
                if (frame.header.type != MessageType::Open) {
                    auto by_token = keys_for(frame);
                    if (!by_token) {
                        lost(by_token.error().status, by_token.error().message);
                        return false;
                    }
                    keys = *by_token;
                }
                auto chunk = decode_chunk(frame, keys, plain_);
                if (!chunk && chunk.error().code == static_cast<uint8_t>(DecodeErrc::Security)) {
                    // P6 §6.7.2.5: a chunk that fails its checks closes the channel.
                    ++security_failures_;
                    lost(status::BadSecurityChecksFailed, decode_failure("chunk refused", chunk.error()));
                    return false;
                }
                if (!chunk) return protocol_error(decode_failure("bad chunk", chunk.error()));
                if (chunk->type == MessageType::Open && channel_security_ == nullptr &&
                    std::get<AsymmetricSecurityHeader>(chunk->security).security_policy_uri != kSecurityPolicyNone) {
                    // We asked for None (P6 §6.7.2.3): anything else is not our channel.
                    ++security_failures_;
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

    // Under the endpoint's policy (P6 §6.7.2): OPN in asymmetric chunks, the rest
    // in symmetric ones; plain under None.
    Result<std::size_t> seal(MessageType type, uint32_t request_id) {
        Result<std::size_t> sealed;
        if (type == MessageType::Open) {
            const AsymmetricSecurityHeader header =
                channel_security_ ? channel_security_->asymmetric_header() : AsymmetricSecurityHeader{};
            // The channel id is 0 for Issue; a Renew names the channel (P6 §6.7.4).
            sealed = encode_message(tx_, type, channel_id_, header, request_id, Bytes(body_), send_limits(),
                                    sequence_number_, channel_security_.get());
        } else {
            sealed = encode_message(tx_, type, channel_id_, SymmetricSecurityHeader{token_id_}, request_id,
                                    Bytes(body_), send_limits(), sequence_number_, channel_security_.get());
        }
        empty_keeping_little(body_);
        return sealed;
    }

    void stop_discovery() {
        if (!discovery_) return;
        discovery_->shutdown();
        discovery_.reset();
    }

    // The session link: choose the endpoint, get its certificates ready, then
    // open the channel the session goes over.
    void endpoints_received(std::vector<EndpointDescription> endpoints) {
        if (state_ != State::Discovering) return;
        discovery_.reset();  // it closes its own channel
        const EndpointWanted wanted{config_.security.policy, config_.security.mode, config_.security.identity.type};
        auto chosen = select_endpoint(endpoints, wanted);
        if (!chosen) return fail_connect(status::BadSecurityPolicyRejected, chosen.error());
        endpoint_ = std::move(*chosen);
        if (auto ready = prepare_security(); !ready) return fail_connect(ready.error().status, ready.error().message);
        state_ = State::Connecting;
        open_transport();
    }

    // The security policy a user token travels under (P4 §7.37): its own, or
    // the channel's when it names none. Null: None.
    std::expected<const PolicyAlgorithms*, ClientError> token_security(const UserTokenPolicy& token) const {
        const std::string& uri = token.security_policy_uri.empty() ? endpoint_.security_policy_uri : token.security_policy_uri;
        if (uri == kSecurityPolicyNone) return nullptr;
        const PolicyAlgorithms* policy = policy_by_uri(uri);
        if (policy == nullptr) {
            return std::unexpected(error(status::BadSecurityPolicyRejected,
                                         "the server's " + std::string(policy_name(uri)) +
                                             " policy for the user token is not one we support"));
        }
        return policy;
    }

    // Our certificate (made at first use) and the server's (checked against the
    // trust list), when the channel or the user token needs them.
    ClientResult<void> prepare_security() {
        const PolicyAlgorithms* channel = policy_by_uri(endpoint_.security_policy_uri);
        const UserTokenPolicy* token = token_policy(endpoint_, config_.security.identity.type);
        auto token_policy_algorithms = token_security(*token);
        if (!token_policy_algorithms) return std::unexpected(token_policy_algorithms.error());
        token_algorithms_ = *token_policy_algorithms;
        if (channel == nullptr && token_algorithms_ == nullptr) return {};
        if (config_.security.pki_dir.empty()) {
            return std::unexpected(error(status::BadConfigurationError,
                                         "endpoint " + describe(endpoint_) + " needs certificates: set the pki folder"));
        }
        const Pki pki(config_.security.pki_dir);
        CertificateRequest request;
        request.application_uri = config_.application_uri;
        request.common_name = config_.application_name;
        auto own = pki.own_certificate(request);
        if (!own) return std::unexpected(error(own.error().status, own.error().message));
        auto server_key = pki.check_server_certificate(Bytes(endpoint_.server_certificate), endpoint_.server.application_uri,
                                                       config_.security.trust_on_first_use);
        if (!server_key) return std::unexpected(error(server_key.error().status, server_key.error().message));
        server_key_ = *server_key;
        own_ = std::move(*own);
        if (channel == nullptr) return {};
        channel_security_ = std::make_unique<ChannelSecurity>();
        channel_security_->policy = channel;
        channel_security_->mode = endpoint_.security_mode;
        channel_security_->own_key = own_.key;
        channel_security_->own_certificate = own_.certificate;
        channel_security_->peer_key = server_key_;
        channel_security_->peer_certificate = endpoint_.server_certificate;
        return {};
    }

    // P4 §5.5.2: Issue opens the channel, Renew replaces its token before it
    // expires (P4 §5.5.2.1). Under a policy a fresh nonce of ours (its length
    // the policy's) seeds the token's keys.
    void open_channel(SecurityTokenRequestType type = SecurityTokenRequestType::Issue) {
        const bool renewal = type == SecurityTokenRequestType::Renew;
        OpenSecureChannelRequest request;
        request.request_header.timestamp = now();
        const uint32_t id = ++last_request_id_;
        request.request_header.request_handle = id;
        request.request_type = type;
        request.security_mode = channel_security_ ? channel_security_->mode : MessageSecurityMode::None;
        ByteString client_nonce;
        if (channel_security_) {
            client_nonce = random_bytes(kSecureNonceSize);
            request.client_nonce = client_nonce;
        }
        request.requested_lifetime = config_.requested_lifetime_ms;
        body_.clear();
        encode_message_body(body_, request);
        auto sent = seal(MessageType::Open, id);
        if (!sent) return fail_connect(status::BadRequestTooLarge, sent.error().message);
        if (!renewal) state_ = State::OpeningChannel;
        expect(id, [self = shared_from_this(), renewal, client_nonce = std::move(client_nonce)](ClientResult<Response> r) {
            const std::string what = renewal ? "OpenSecureChannel (Renew): " : "OpenSecureChannel: ";
            if (!r) return self->fail_connect(r.error().status, what + r.error().message);
            const auto* opened = std::get_if<OpenSecureChannelResponse>(&*r);
            if (opened == nullptr) return self->fail_connect(status::BadUnknownResponse, what + "answered with another response");
            if (auto taken = self->take_token(*opened, client_nonce, renewal); !taken) {
                return self->fail_connect(taken.error().status, what + taken.error().message);
            }
            if (renewal) return;
            if (self->purpose_ == Purpose::Discovery) return self->get_endpoints();
            if (self->resume_) return self->reactivate_session();
            self->create_session();
        });
        flush();
    }

    // The server's token (P4 §5.5.2.2) and, under a policy, its keys from the
    // two nonces (P6 §6.7.5). After a Renew we send under the new token at once;
    // the old token's keys still open what the server secured with it (it
    // answers a request under the token the request came with) until the old
    // token is past the 125 % of its lifetime servers also allow (P6 §6.7.6).
    ClientResult<void> take_token(const OpenSecureChannelResponse& opened, const ByteString& client_nonce, bool renewal) {
        const ChannelSecurityToken& token = opened.security_token;
        if (renewal && token.channel_id != channel_id_) {
            return std::unexpected(error(status::BadSecureChannelIdInvalid, "the renewed token is for another channel"));
        }
        if (channel_security_) {
            if (opened.server_nonce.size() != kSecureNonceSize) {
                return std::unexpected(error(status::BadSecurityChecksFailed,
                                             "the server's nonce has " + std::to_string(opened.server_nonce.size()) +
                                                 " bytes, not 32"));
            }
            auto keys = std::make_unique<ChannelSecurity>(*channel_security_);
            keys->derive(Bytes(client_nonce), Bytes(opened.server_nonce));
            previous_security_ = renewal ? std::move(channel_security_) : nullptr;
            channel_security_ = std::move(keys);
        }
        const auto received = std::chrono::steady_clock::now();
        if (renewal) {
            previous_token_id_ = token_id_;
            previous_token_valid_until_ = token_valid_until_;
            ++renewals_;
        }
        channel_id_ = token.channel_id;
        token_id_ = token.token_id;
        const std::chrono::milliseconds lifetime{token.revised_lifetime};
        token_valid_until_ = received + lifetime * 5 / 4;
        if (purpose_ == Purpose::Session && lifetime.count() > 0) schedule_renewal(lifetime * 3 / 4);
        return {};
    }

    void schedule_renewal(std::chrono::milliseconds after) {
        renew_timer_.expires_after(after);
        renew_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec) return;
            const State s = self->state_;
            if (s == State::CreatingSession || s == State::ActivatingSession || s == State::Active) {
                self->open_channel(SecurityTokenRequestType::Renew);
            }
        });
    }

    // The keys that open a MSG or CLO chunk, by the token id in its clear
    // header: the current token's, or the previous one's while it lives.
    std::expected<const ChannelSecurity*, ClientError> keys_for(const Frame& frame) {
        if (frame.message.size() < kSecureMessageHeaderSize + 4) return channel_security_.get();  // decode_chunk says why
        BinaryReader r{frame.message.subspan(kSecureMessageHeaderSize), kSecureMessageHeaderSize};
        const uint32_t token = r.u32().value_or(0);
        if (token == token_id_) {
            return channel_security_.get();
        }
        if (token == previous_token_id_ && previous_token_id_ != 0 &&
            std::chrono::steady_clock::now() < previous_token_valid_until_) {
            return previous_security_.get();
        }
        return std::unexpected(error(status::BadSecureChannelTokenUnknown,
                                     "chunk under token " + std::to_string(token) + ", ours is " + std::to_string(token_id_)));
    }

    // The discovery link's one request; it hands the endpoints over and closes.
    void get_endpoints() {
        state_ = State::GettingEndpoints;
        GetEndpointsRequest request;
        request.endpoint_url = config_.endpoint_url;
        send(encoder(std::move(request)), [self = shared_from_this()](ClientResult<Response> r) {
            if (!r) return self->fail_connect(r.error().status, r.error().message);
            auto* got = std::get_if<GetEndpointsResponse>(&*r);
            if (got == nullptr) return self->fail_connect(status::BadUnknownResponse, "answered with another response");
            self->connect_done_ = nullptr;
            auto deliver = std::move(self->endpoints_done_);
            self->close_channel();
            if (deliver) deliver(std::move(got->endpoints));
        });
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
        // P4 §5.6.2: 32 bytes at least (servers check it even under None); the
        // server signs it with our certificate to prove it holds its key.
        session_nonce_ = random_bytes(kSecureNonceSize);
        request.client_nonce = session_nonce_;
        if (channel_security_) request.client_certificate = own_.certificate;
        request.requested_session_timeout = config_.session_timeout_ms;
        request.max_response_message_size = config_.max_message_size;
        send(encoder(std::move(request)), [self = shared_from_this()](ClientResult<Response> r) {
            if (!r) return self->fail_connect(r.error().status, "CreateSession: " + r.error().message);
            const auto* created = std::get_if<CreateSessionResponse>(&*r);
            if (created == nullptr) return self->fail_connect(status::BadUnknownResponse, "CreateSession answered with another response");
            if (auto proven = self->check_server_signature(*created); !proven) {
                return self->fail_connect(proven.error().status, "CreateSession: " + proven.error().message);
            }
            self->authentication_token_ = created->authentication_token;
            self->server_nonce_ = created->server_nonce;
            self->activate_session();
        });
    }

    // P4 §5.6.2: on a secured channel the server signs our certificate and
    // nonce with the key of the certificate its endpoint announced.
    ClientResult<void> check_server_signature(const CreateSessionResponse& created) const {
        if (!channel_security_) return {};
        if (!created.server_certificate.empty() &&
            !std::ranges::equal(leaf_certificate(Bytes(created.server_certificate)),
                                leaf_certificate(Bytes(endpoint_.server_certificate)))) {
            return std::unexpected(error(status::BadCertificateInvalid, "the server's certificate differs from its endpoint's"));
        }
        const PolicyAlgorithms& policy = *channel_security_->policy;
        if (created.server_signature.algorithm != policy.asymmetric_signature_uri) {
            return std::unexpected(error(status::BadApplicationSignatureInvalid,
                                         "server signature algorithm " + created.server_signature.algorithm + ", expected " +
                                             std::string(policy.asymmetric_signature_uri)));
        }
        const Bytes signed_parts[] = {Bytes(own_.certificate), Bytes(session_nonce_)};
        if (!rsa_verify(server_key_, policy.asymmetric_signature, signed_parts, Bytes(created.server_signature.signature))) {
            return std::unexpected(error(status::BadApplicationSignatureInvalid, "the server's signature does not verify"));
        }
        if (created.server_nonce.size() < kSecureNonceSize) {
            return std::unexpected(error(status::BadSecurityChecksFailed, "the server's session nonce is shorter than 32 bytes"));
        }
        return {};
    }

    // Signs the server's certificate and its last nonce (P4 §5.6.3, §7.36.5):
    // of a chain, the end certificate only (P4 §5.6.3.2).
    ClientResult<SignatureData> sign_server_nonce(const KeyPtr& key, const PolicyAlgorithms& policy) const {
        const Bytes parts[] = {leaf_certificate(Bytes(endpoint_.server_certificate)), Bytes(server_nonce_)};
        auto signature = rsa_sign(key, policy.asymmetric_signature, parts);
        if (!signature) return std::unexpected(error(status::BadSecurityChecksFailed, signature.error().message));
        return SignatureData{std::string(policy.asymmetric_signature_uri), std::move(*signature)};
    }

    // P4 §7.36: the token of the configured identity, with the policy id of the
    // endpoint's UserTokenPolicy (servers check it).
    ClientResult<void> identify(ActivateSessionRequest& request) const {
        const UserIdentity& who = config_.security.identity;
        const std::string& policy_id = token_policy(endpoint_, who.type)->policy_id;
        switch (who.type) {
            case UserTokenType::Anonymous:
                request.user_identity_token = make_extension_object(AnonymousIdentityToken{policy_id});
                return {};
            case UserTokenType::UserName: {
                UserNameIdentityToken token{policy_id, who.user_name, {}, {}};
                if (token_algorithms_ == nullptr) {
                    token.password.assign(reinterpret_cast<const std::byte*>(who.password.data()),
                                          reinterpret_cast<const std::byte*>(who.password.data() + who.password.size()));
                } else {
                    // P4 §7.36.2.2 legacy secret: length, password, the server's
                    // last nonce, encrypted with the server's key.
                    std::vector<std::byte> secret;
                    BinaryWriter w(secret);
                    w.u32(static_cast<uint32_t>(who.password.size() + server_nonce_.size()));
                    w.raw(std::string_view(who.password));
                    w.raw(Bytes(server_nonce_));
                    if (!rsa_encrypt(server_key_, token_algorithms_->asymmetric_encryption, Bytes(secret), token.password)) {
                        return std::unexpected(error(status::BadSecurityChecksFailed, "cannot encrypt the password"));
                    }
                    token.encryption_algorithm = std::string(token_algorithms_->asymmetric_encryption_uri);
                }
                request.user_identity_token = make_extension_object(token);
                return {};
            }
            case UserTokenType::Certificate: {
                auto user = load_keyed_certificate(who.certificate_file, who.private_key_file);
                if (!user) return std::unexpected(error(user.error().status, "user certificate: " + user.error().message));
                request.user_identity_token = make_extension_object(X509IdentityToken{policy_id, user->certificate});
                const PolicyAlgorithms* policy = token_algorithms_ != nullptr ? token_algorithms_ : policy_algorithms(SecurityPolicy::Basic256Sha256);
                auto signature = sign_server_nonce(user->key, *policy);
                if (!signature) return std::unexpected(signature.error());
                request.user_token_signature = std::move(*signature);
                return {};
            }
            case UserTokenType::IssuedToken: break;
        }
        return std::unexpected(error(status::BadIdentityTokenInvalid, "issued tokens are not supported"));
    }

    // P4 §5.6.3.1: the session of a lost channel, activated on this one with
    // the same token and the identity again. A server that no longer knows it
    // (BadSessionIdInvalid, BadSessionClosed, ...) gets a new session instead.
    void reactivate_session() {
        authentication_token_ = resume_->authentication_token;
        server_nonce_ = resume_->server_nonce;
        activate_session(true);
    }

    void activate_session(bool resuming = false) {
        state_ = State::ActivatingSession;
        ActivateSessionRequest request;
        request.locale_ids = {"en"};
        if (channel_security_) {
            auto signature = sign_server_nonce(own_.key, *channel_security_->policy);
            if (!signature) return fail_connect(signature.error().status, "ActivateSession: " + signature.error().message);
            request.client_signature = std::move(*signature);
        }
        if (auto identified = identify(request); !identified) {
            return fail_connect(identified.error().status, "ActivateSession: " + identified.error().message);
        }
        send(encoder(std::move(request)), [self = shared_from_this(), resuming](ClientResult<Response> r) {
            if (!r && resuming && self->state_ == State::ActivatingSession) {
                self->authentication_token_ = NodeId{};
                return self->create_session();
            }
            if (!r) return self->fail_connect(r.error().status, "ActivateSession: " + r.error().message);
            const auto* activated = std::get_if<ActivateSessionResponse>(&*r);
            if (activated == nullptr) return self->fail_connect(status::BadUnknownResponse, "ActivateSession answered with another response");
            // P4 §5.6.3: the next activation (and password) uses this nonce.
            self->server_nonce_ = activated->server_nonce;
            self->resumed_ = resuming;
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
        (void)seal(MessageType::Close, request.request_header.request_handle);
        closing_ = true;
        flush();
    }

    // A buffer is reused for the next message, but the room a rare large one
    // took (a CreateMonitoredItems of 1,000 items: 75 KB, in the request and
    // again in its chunks) is given back rather than kept for the link's life.
    static void empty_keeping_little(std::vector<std::byte>& buffer) { clear_keeping_room(buffer, 64 * 1024); }

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
                              empty_keeping_little(self->tx_writing_);
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
        stop_discovery();
        closing_ = false;
        boost::system::error_code ignored;
        connect_timer_.cancel();
        renew_timer_.cancel();
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

    asio::io_context& io_;
    Purpose purpose_;
    ClientConfig config_;
    tcp::resolver resolver_;
    tcp::socket socket_;
    asio::steady_timer connect_timer_;
    asio::steady_timer renew_timer_;  // at 75 % of the token's lifetime
    MessageAssembler assembler_;
    State state_ = State::Idle;
    Hello hello_;
    TransportLimits limits_{kMinBufferSize, 0, 0, 0, 0, 0};
    uint32_t channel_id_ = 0;
    uint32_t token_id_ = 0;
    std::chrono::steady_clock::time_point token_valid_until_;
    uint32_t previous_token_id_ = 0;  // until the server has switched to the renewed one
    std::chrono::steady_clock::time_point previous_token_valid_until_;
    uint64_t renewals_ = 0;
    std::optional<SessionHandle> resume_;  // the session to take over, if any
    bool resumed_ = false;
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
    // Security (P4 §5.4.4-§5.6): the endpoint chosen, our certificate and the
    // server's key, the channel's protection (null under None), the nonces.
    std::shared_ptr<Impl> discovery_;
    std::function<void(std::vector<EndpointDescription>)> endpoints_done_;
    EndpointDescription endpoint_;
    KeyedCertificate own_;
    KeyPtr server_key_;
    const PolicyAlgorithms* token_algorithms_ = nullptr;  // the user token's policy; null: None
    std::unique_ptr<ChannelSecurity> channel_security_;
    std::unique_ptr<ChannelSecurity> previous_security_;  // the previous token's keys
    ByteString session_nonce_;  // CreateSession
    ByteString server_nonce_;   // the last from CreateSession/ActivateSession
    std::vector<std::byte> plain_;  // decrypted chunks
    uint64_t security_failures_ = 0;
};

ClientLink::ClientLink(asio::io_context& io, ClientConfig config) : impl_(std::make_shared<Impl>(io, std::move(config))) {}

ClientLink::~ClientLink() { impl_->shutdown(); }

void ClientLink::connect(std::function<void(ClientResult<void>)> done, std::optional<SessionHandle> resume) {
    impl_->connect(std::move(done), std::move(resume));
}

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

uint64_t ClientLink::security_failures() const { return impl_->security_failures(); }

const EndpointDescription& ClientLink::endpoint() const { return impl_->endpoint(); }

const TransportLimits& ClientLink::limits() const { return impl_->limits(); }

uint64_t ClientLink::renewals() const { return impl_->renewals(); }

SessionHandle ClientLink::session() const { return impl_->session(); }

bool ClientLink::resumed() const { return impl_->resumed(); }

}  // namespace ib::drivers::opcua
