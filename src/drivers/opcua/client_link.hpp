// One OPC UA client connection on the Asio event loop: GetEndpoints on a None
// channel of its own and the choice of endpoint (secure by default), then TCP,
// Hello/Acknowledge, a secure channel under the chosen policy and mode,
// CreateSession and ActivateSession with the configured identity (anonymous,
// user name, X.509), then service requests (Read) matched to their responses by
// request id, each with a timeout. Nothing here blocks; every callback runs on
// the loop the link was given. The channel's token is renewed at 75 % of its
// lifetime. Reconnecting and subscriptions are the driver's (opcua_driver.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "drivers/opcua/security_policy.hpp"
#include "drivers/opcua/service_message.hpp"
#include "drivers/opcua/session_services.hpp"
#include "drivers/opcua/uacp.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::drivers::opcua {

// Who the session is activated as (P4 §7.36).
struct UserIdentity {
    UserTokenType type = UserTokenType::Anonymous;
    std::string user_name;         // UserName
    std::string password;          // UserName; sent encrypted with the server's key
    std::string certificate_file;  // Certificate: PEM user certificate
    std::string private_key_file;  // Certificate: PEM key that signs the activation
};

struct ClientSecurity {
    SecurityPolicy policy = SecurityPolicy::Best;
    // Invalid: the most secure mode the server offers for the chosen policy.
    MessageSecurityMode mode = MessageSecurityMode::Invalid;
    UserIdentity identity;
    // data_dir/pki: own/ (our application instance certificate, made at first
    // use), trusted/ (server certificates the user trusts), rejected/ (unknown
    // server certificates, saved so the user can move them to trusted/).
    std::string pki_dir;
    bool trust_on_first_use = false;  // commissioning: trust an unknown server certificate once
};

struct ClientConfig {
    std::string host = "127.0.0.1";
    uint16_t port = 4840;
    std::string endpoint_url;  // opc.tcp://host:port/path, as the server knows itself
    std::chrono::milliseconds timeout{5000};  // connecting, and each request
    uint32_t receive_buffer_size = 65536;     // our largest chunk (≥ 8192, P6 §7.1.2.3)
    uint32_t max_message_size = 16 * 1024 * 1024;
    uint32_t max_chunk_count = 0;
    uint32_t requested_lifetime_ms = 3600000;  // secure channel token
    double session_timeout_ms = 60000;
    std::string application_uri = "urn:ironbridge:opcua-client";
    std::string product_uri = "urn:ironbridge";
    std::string application_name = "Ironbridge";
    std::string session_name = "ironbridge";
    ClientSecurity security;
};

// What went wrong: the OPC UA status (the server's, or ours such as BadTimeout,
// BadConnectionClosed, BadDecodingError) and one line for the log.
struct ClientError {
    StatusCode status;
    std::string message;
};

// What a new link needs to take over an existing session (P4 §5.6.3.1): its
// authentication token and the server's last nonce, which the activation signs.
struct SessionHandle {
    NodeId authentication_token;
    ByteString server_nonce;
};

template <typename T>
using ClientResult = std::expected<T, ClientError>;

class ClientLink {
public:
    ClientLink(boost::asio::io_context& io, ClientConfig config);
    ~ClientLink();
    ClientLink(const ClientLink&) = delete;
    ClientLink& operator=(const ClientLink&) = delete;

    // Connects and activates a session; `done` runs once, with the outcome.
    // With `resume`, the session of an earlier link is activated on the new
    // channel (its subscriptions live on); when the server no longer knows it,
    // a new session is made on the same channel. resumed() tells which.
    void connect(std::function<void(ClientResult<void>)> done, std::optional<SessionHandle> resume = std::nullopt);

    // Reads the nodes (P4 §5.10.2); one DataValue per node, in order. The
    // caller batches by the server's MaxNodesPerRead.
    void read(std::vector<ReadValueId> nodes, TimestampsToReturn timestamps,
              std::function<void(ClientResult<std::vector<DataValue>>)> done);

    // Any service request; the response (never a ServiceFault: that is an error).
    // `timeout` replaces the config's for this request (a Publish waits for the
    // server's keep-alive, longer than any other request); zero: the config's.
    template <Structure Request>
    void call(Request request, std::function<void(ClientResult<Response>)> done,
              std::chrono::milliseconds timeout = std::chrono::milliseconds{0});

    // Runs once when an active session's link is lost (socket closed, a server
    // ERR, an undecodable message), after the pending requests failed; not on
    // close() or a failed connect, which report themselves.
    void on_lost(std::function<void(const ClientError&)> lost);

    // Drops the link at once: the socket closes, pending requests and a pending
    // connect fail with `why` (BadConnectionClosed), on_lost does not run.
    void abort(const std::string& why);

    // Closes the session (CloseSession), the channel (CLO) and the socket;
    // pending requests fail with BadConnectionClosed.
    void close();

    bool session_active() const;
    // The session connect() made or took over, for a later link to resume.
    SessionHandle session() const;
    // Whether connect() took over the session it was given.
    bool resumed() const;
    // The endpoint chosen from the server's (GetEndpoints), once connected.
    const EndpointDescription& endpoint() const;
    // Chunks refused for a bad signature, padding or encryption (each closes the channel).
    uint64_t security_failures() const;
    // Secure channel tokens renewed (OpenSecureChannel Renew at 75 % of each
    // token's lifetime, P4 §5.5.2.1).
    uint64_t renewals() const;
    // What the server agreed to in its Acknowledge (P6 §7.1.2.4).
    const TransportLimits& limits() const;

private:
    class Impl;
    using Encoder = std::function<void(std::vector<std::byte>&, const RequestHeader&)>;
    void send(Encoder encode, std::function<void(ClientResult<Response>)> done, std::chrono::milliseconds timeout);
    std::shared_ptr<Impl> impl_;
};

template <Structure Request>
void ClientLink::call(Request request, std::function<void(ClientResult<Response>)> done,
                      std::chrono::milliseconds timeout) {
    send(
        [request = std::move(request)](std::vector<std::byte>& out, const RequestHeader& header) mutable {
            request.request_header = header;
            encode_message_body(out, request);
        },
        std::move(done), timeout);
}

}  // namespace ib::drivers::opcua
