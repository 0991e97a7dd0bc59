// SecureChannel, Discovery and Session service sets (OPC 10000-4 §5.4-§5.6):
// OpenSecureChannel, CloseSecureChannel, GetEndpoints, CreateSession,
// ActivateSession (anonymous, user name and X.509 tokens), CloseSession. Field order
// from OPC 10000-6 Annex C; encoding ids from Annex A (NodeIds.csv).
#pragma once

#include <string>
#include <vector>

#include "drivers/opcua/service_header.hpp"

namespace ib::drivers::opcua {

// P4 §7.15
enum class MessageSecurityMode : int32_t { Invalid = 0, None = 1, Sign = 2, SignAndEncrypt = 3 };
// P4 §5.5.2.2
enum class SecurityTokenRequestType : int32_t { Issue = 0, Renew = 1 };
// P4 §7.37
enum class UserTokenType : int32_t { Anonymous = 0, UserName = 1, Certificate = 2, IssuedToken = 3 };
// P4 §7.1
enum class ApplicationType : int32_t { Server = 0, Client = 1, ClientAndServer = 2, DiscoveryServer = 3 };

// P4 §7.1
struct ApplicationDescription {
    std::string application_uri;
    std::string product_uri;
    LocalizedText application_name;
    ApplicationType application_type = ApplicationType::Client;
    std::string gateway_server_uri;
    std::string discovery_profile_uri;
    std::vector<std::string> discovery_urls;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.application_uri), f(s.product_uri), f(s.application_name), f(s.application_type);
        f(s.gateway_server_uri), f(s.discovery_profile_uri), f(s.discovery_urls);
    }
    bool operator==(const ApplicationDescription&) const = default;
};

// P4 §7.37
struct UserTokenPolicy {
    std::string policy_id;
    UserTokenType token_type = UserTokenType::Anonymous;
    std::string issued_token_type;
    std::string issuer_endpoint_url;
    std::string security_policy_uri;  // empty: the channel's

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.policy_id), f(s.token_type), f(s.issued_token_type), f(s.issuer_endpoint_url), f(s.security_policy_uri);
    }
    bool operator==(const UserTokenPolicy&) const = default;
};

// P4 §7.10
struct EndpointDescription {
    std::string endpoint_url;
    ApplicationDescription server;
    ByteString server_certificate;
    MessageSecurityMode security_mode = MessageSecurityMode::None;
    std::string security_policy_uri;
    std::vector<UserTokenPolicy> user_identity_tokens;
    std::string transport_profile_uri;
    uint8_t security_level = 0;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.endpoint_url), f(s.server), f(s.server_certificate), f(s.security_mode), f(s.security_policy_uri);
        f(s.user_identity_tokens), f(s.transport_profile_uri), f(s.security_level);
    }
    bool operator==(const EndpointDescription&) const = default;
};

// P4 §5.5.2
struct OpenSecureChannelRequest {
    static constexpr uint32_t kEncodingId = 446;
    RequestHeader request_header;
    uint32_t client_protocol_version = 0;
    SecurityTokenRequestType request_type = SecurityTokenRequestType::Issue;
    MessageSecurityMode security_mode = MessageSecurityMode::None;
    ByteString client_nonce;
    uint32_t requested_lifetime = 3600000;  // ms

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.request_header), f(s.client_protocol_version), f(s.request_type), f(s.security_mode);
        f(s.client_nonce), f(s.requested_lifetime);
    }
    bool operator==(const OpenSecureChannelRequest&) const = default;
};

// P4 §5.5.2.2
struct ChannelSecurityToken {
    uint32_t channel_id = 0;
    uint32_t token_id = 0;
    DateTime created_at;
    uint32_t revised_lifetime = 0;  // ms; renew at 75 % (P4 §5.5.2.1)

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.channel_id), f(s.token_id), f(s.created_at), f(s.revised_lifetime); }
    bool operator==(const ChannelSecurityToken&) const = default;
};

struct OpenSecureChannelResponse {
    static constexpr uint32_t kEncodingId = 449;
    ResponseHeader response_header;
    uint32_t server_protocol_version = 0;
    ChannelSecurityToken security_token;
    ByteString server_nonce;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.response_header), f(s.server_protocol_version), f(s.security_token), f(s.server_nonce);
    }
    bool operator==(const OpenSecureChannelResponse&) const = default;
};

// P4 §5.5.3: sent in a CLO message; the server answers by closing the socket.
struct CloseSecureChannelRequest {
    static constexpr uint32_t kEncodingId = 452;
    RequestHeader request_header;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.request_header); }
    bool operator==(const CloseSecureChannelRequest&) const = default;
};

// P4 §5.4.4
struct GetEndpointsRequest {
    static constexpr uint32_t kEncodingId = 428;
    RequestHeader request_header;
    std::string endpoint_url;
    std::vector<std::string> locale_ids;
    std::vector<std::string> profile_uris;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.request_header), f(s.endpoint_url), f(s.locale_ids), f(s.profile_uris); }
    bool operator==(const GetEndpointsRequest&) const = default;
};

struct GetEndpointsResponse {
    static constexpr uint32_t kEncodingId = 431;
    ResponseHeader response_header;
    std::vector<EndpointDescription> endpoints;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header), f(s.endpoints); }
    bool operator==(const GetEndpointsResponse&) const = default;
};

// P4 §7.32
struct SignatureData {
    std::string algorithm;
    ByteString signature;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.algorithm), f(s.signature); }
    bool operator==(const SignatureData&) const = default;
};

// P4 §7.33
struct SignedSoftwareCertificate {
    ByteString certificate_data;
    ByteString signature;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.certificate_data), f(s.signature); }
    bool operator==(const SignedSoftwareCertificate&) const = default;
};

// P4 §5.6.2
struct CreateSessionRequest {
    static constexpr uint32_t kEncodingId = 461;
    RequestHeader request_header;
    ApplicationDescription client_description;
    std::string server_uri;
    std::string endpoint_url;
    std::string session_name;
    ByteString client_nonce;
    ByteString client_certificate;
    double requested_session_timeout = 60000;  // ms
    uint32_t max_response_message_size = 0;    // 0: no limit

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.request_header), f(s.client_description), f(s.server_uri), f(s.endpoint_url), f(s.session_name);
        f(s.client_nonce), f(s.client_certificate), f(s.requested_session_timeout), f(s.max_response_message_size);
    }
    bool operator==(const CreateSessionRequest&) const = default;
};

struct CreateSessionResponse {
    static constexpr uint32_t kEncodingId = 464;
    ResponseHeader response_header;
    NodeId session_id;
    NodeId authentication_token;  // goes into every later RequestHeader
    double revised_session_timeout = 0;
    ByteString server_nonce;
    ByteString server_certificate;
    std::vector<EndpointDescription> server_endpoints;
    std::vector<SignedSoftwareCertificate> server_software_certificates;
    SignatureData server_signature;
    uint32_t max_request_message_size = 0;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.response_header), f(s.session_id), f(s.authentication_token), f(s.revised_session_timeout);
        f(s.server_nonce), f(s.server_certificate), f(s.server_endpoints), f(s.server_software_certificates);
        f(s.server_signature), f(s.max_request_message_size);
    }
    bool operator==(const CreateSessionResponse&) const = default;
};

// P4 §7.36.3 (§7.41.3 in 1.05)
struct AnonymousIdentityToken {
    static constexpr uint32_t kEncodingId = 321;
    std::string policy_id;  // from the endpoint's UserTokenPolicy

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.policy_id); }
    bool operator==(const AnonymousIdentityToken&) const = default;
};

// P4 §7.36.4: `password` is plain only when the token policy's (or else the
// channel's) security policy is None; otherwise it is the encrypted secret and
// `encryption_algorithm` names the algorithm (P4 §7.36.2.2 legacy secret).
struct UserNameIdentityToken {
    static constexpr uint32_t kEncodingId = 324;
    std::string policy_id;
    std::string user_name;
    ByteString password;
    std::string encryption_algorithm;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.policy_id), f(s.user_name), f(s.password), f(s.encryption_algorithm); }
    bool operator==(const UserNameIdentityToken&) const = default;
};

// P4 §7.36.5: the user's certificate; the request's userTokenSignature proves
// the key (the server's certificate and last nonce, signed with it).
struct X509IdentityToken {
    static constexpr uint32_t kEncodingId = 327;
    std::string policy_id;
    ByteString certificate_data;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.policy_id), f(s.certificate_data); }
    bool operator==(const X509IdentityToken&) const = default;
};

// P4 §5.6.3
struct ActivateSessionRequest {
    static constexpr uint32_t kEncodingId = 467;
    RequestHeader request_header;
    SignatureData client_signature;
    std::vector<SignedSoftwareCertificate> client_software_certificates;
    std::vector<std::string> locale_ids;
    ExtensionObject user_identity_token;  // make_identity_token()
    SignatureData user_token_signature;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.request_header), f(s.client_signature), f(s.client_software_certificates), f(s.locale_ids);
        f(s.user_identity_token), f(s.user_token_signature);
    }
    bool operator==(const ActivateSessionRequest&) const = default;
};

struct ActivateSessionResponse {
    static constexpr uint32_t kEncodingId = 470;
    ResponseHeader response_header;
    ByteString server_nonce;
    std::vector<StatusCode> results;
    std::vector<DiagnosticInfo> diagnostic_infos;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header), f(s.server_nonce), f(s.results), f(s.diagnostic_infos); }
    bool operator==(const ActivateSessionResponse&) const = default;
};

// P4 §5.6.4
struct CloseSessionRequest {
    static constexpr uint32_t kEncodingId = 473;
    RequestHeader request_header;
    bool delete_subscriptions = true;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.request_header), f(s.delete_subscriptions); }
    bool operator==(const CloseSessionRequest&) const = default;
};

struct CloseSessionResponse {
    static constexpr uint32_t kEncodingId = 476;
    ResponseHeader response_header;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header); }
    bool operator==(const CloseSessionResponse&) const = default;
};

}  // namespace ib::drivers::opcua
