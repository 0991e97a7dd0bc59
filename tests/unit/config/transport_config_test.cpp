// Listener transport settings: choices, the keys TLS needs, keys that do not
// fit the transport, and PEM files checked at load with the file named.
#include <gtest/gtest.h>

#include <string>

#include "config/loader.hpp"

namespace ib::config {
namespace {

std::string error_of(std::string_view toml) {
    auto r = load_config_string(toml, "ironbridge.toml");
    EXPECT_FALSE(r.has_value()) << "expected an error for:\n" << toml;
    return r.has_value() ? std::string() : r.error();
}

TEST(TransportConfig, DefaultsArePlainTcpWithWsPathMqtt) {
    auto r = load_config_string("[[broker.listeners]]\nname = \"a\"\n", "ironbridge.toml");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->broker.listeners[0].transport, "tcp");
    EXPECT_EQ(r->broker.listeners[0].ws_path, "/mqtt");
    EXPECT_EQ(r->broker.listeners[0].tls_min_version, "1.2");
}

TEST(TransportConfig, WebSocketNeedsNoFiles) {
    auto r = load_config_string("[[broker.listeners]]\nname = \"a\"\ntransport = \"ws\"\nws_path = \"/mqtt/v1\"\n",
                                "ironbridge.toml");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->broker.listeners[0].ws_path, "/mqtt/v1");
}

TEST(TransportConfig, UnknownTransportListsTheChoices) {
    EXPECT_EQ(error_of("[[broker.listeners]]\nname = \"a\"\ntransport = \"quic\"\n"),
              "ironbridge.toml:3: broker.listeners[0].transport: \"quic\" is not one of tcp, tls, ws, wss");
}

TEST(TransportConfig, TlsNeedsCertificateAndKey) {
    EXPECT_EQ(error_of("[[broker.listeners]]\nname = \"a\"\ntransport = \"tls\"\n"),
              "ironbridge.toml:3: broker.listeners[0].tls_cert: required when transport is \"tls\"\n"
              "ironbridge.toml:3: broker.listeners[0].tls_key: required when transport is \"tls\"");
}

TEST(TransportConfig, TlsKeysOnAPlainListenerAreRefused) {
    EXPECT_EQ(error_of("[[broker.listeners]]\nname = \"a\"\ntls_cert = \"x.crt\"\n"),
              "ironbridge.toml:3: broker.listeners[0].tls_cert: set, but transport is \"tcp\" (use tls or wss)");
}

TEST(TransportConfig, ClientCertificateOptionsNeedACa) {
    const std::string err = error_of(
        "[[broker.listeners]]\nname = \"a\"\ntransport = \"wss\"\ntls_cert = \"/nonexistent/s.crt\"\n"
        "tls_key = \"/nonexistent/s.key\"\ntls_require_client_cert = true\ntls_cn_as_username = true\n");
    EXPECT_NE(err.find("ironbridge.toml:6: broker.listeners[0].tls_require_client_cert: needs tls_ca"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("ironbridge.toml:7: broker.listeners[0].tls_cn_as_username: needs tls_ca"), std::string::npos)
        << err;
}

TEST(TransportConfig, AMissingCertificateFileIsNamed) {
    EXPECT_EQ(error_of("[[broker.listeners]]\nname = \"a\"\ntransport = \"tls\"\ntls_cert = \"/nonexistent/s.crt\"\n"
                       "tls_key = \"/nonexistent/s.key\"\n"),
              "ironbridge.toml:4: broker.listeners[0].tls_cert: '/nonexistent/s.crt': No such file or directory");
}

TEST(TransportConfig, WsPathMustBeAnAbsolutePath) {
    EXPECT_EQ(error_of("[[broker.listeners]]\nname = \"a\"\ntransport = \"ws\"\nws_path = \"mqtt\"\n"),
              "ironbridge.toml:4: broker.listeners[0].ws_path: 'mqtt' is not an absolute path (it must start with /)");
}

}  // namespace
}  // namespace ib::config
