#include "net/tls_client.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace ib::net {

std::expected<void, std::string> configure_tls_client(boost::asio::ssl::context& context, const TlsClientFiles& files) {
    namespace ssl = boost::asio::ssl;
    context.set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                        ssl::context::no_tlsv1_1);
    context.set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    if (files.ca_file.empty()) {
        context.set_default_verify_paths(ec);
        if (ec) return std::unexpected("cannot load the system's CA certificates: " + ec.message());
    } else {
        context.load_verify_file(files.ca_file, ec);
        if (ec) return std::unexpected("cannot read the CA file '" + files.ca_file + "': " + ec.message());
    }
    if (!files.cert_file.empty()) {
        context.use_certificate_chain_file(files.cert_file, ec);
        if (ec) return std::unexpected("cannot read the client certificate '" + files.cert_file + "': " + ec.message());
        context.use_private_key_file(files.key_file, ssl::context::pem, ec);
        if (ec) return std::unexpected("cannot read the client key '" + files.key_file + "': " + ec.message());
    }
    return {};
}

void expect_server_name(ssl_st* ssl, const std::string& host) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    if (!ec) {
        // RFC 6066 §3: literal IP addresses are not sent as server names.
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
        return;
    }
    SSL_set_tlsext_host_name(ssl, host.c_str());
    SSL_set1_host(ssl, host.c_str());
}

std::string tls_failure(ssl_st* ssl, const std::string& fallback) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify == X509_V_OK) return fallback;
    return std::string("the server's certificate was refused: ") + X509_verify_cert_error_string(verify);
}

}  // namespace ib::net
