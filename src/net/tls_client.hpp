// Client-side TLS set-up shared by the outbound connections (bridge links, the
// rules' HTTPS calls): a context that verifies the server against the system's
// CAs or a CA file and may present a client certificate, and the per-connection
// name checks. Asio and OpenSSL types are only forward-declared here.
#pragma once

#include <expected>
#include <string>

struct ssl_st;

namespace boost::asio::ssl {
class context;
}

namespace ib::net {

struct TlsClientFiles {
    std::string ca_file;    // PEM CAs the server must chain to; empty: the system's
    std::string cert_file;  // PEM client certificate (chain); empty: none presented
    std::string key_file;   // its PEM private key
};

// TLS 1.2 or newer; the CAs and the client certificate loaded. The error names
// the file at fault.
std::expected<void, std::string> configure_tls_client(boost::asio::ssl::context& context, const TlsClientFiles& files);

// On one connection before its handshake: SNI for a DNS name, and the server's
// certificate must name `host` (a DNS name, or an IP address in its SAN).
void expect_server_name(ssl_st* ssl, const std::string& host);

// Why the handshake failed, in words: OpenSSL's verify result when the server's
// certificate was refused ("certificate verify failed: self-signed certificate"),
// else `fallback`.
std::string tls_failure(ssl_st* ssl, const std::string& fallback);

}  // namespace ib::net
