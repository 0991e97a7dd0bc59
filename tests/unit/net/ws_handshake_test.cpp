#include "net/ws_handshake.hpp"

#include <gtest/gtest.h>

namespace ib::net::ws {
namespace {

std::string request(std::string_view path = "/mqtt", std::string_view protocol = "mqtt",
                    std::string_view version = "13", std::string_view method = "GET",
                    std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==") {
    std::string r = std::string(method) + " " + std::string(path) +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n";
    if (!key.empty()) r += "Sec-WebSocket-Key: " + std::string(key) + "\r\n";
    r += "Sec-WebSocket-Version: " + std::string(version) + "\r\n";
    if (!protocol.empty()) r += "Sec-WebSocket-Protocol: " + std::string(protocol) + "\r\n";
    return r + "\r\n";
}

TEST(WsHandshake, AcceptKeyMatchesTheRfcExample) {
    // RFC 6455 §1.3.
    EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsHandshake, AcceptsAnMqttUpgrade) {
    auto r = accept_upgrade(request(), "/mqtt");
    EXPECT_EQ(r.status, 101);
    EXPECT_NE(r.response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
    EXPECT_NE(r.response.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos);
    EXPECT_TRUE(r.response.ends_with("\r\n\r\n"));
}

TEST(WsHandshake, FindsMqttInAListAndIgnoresTheQuery) {
    EXPECT_EQ(accept_upgrade(request("/mqtt?x=1", "wamp, mqtt"), "/mqtt").status, 101);
}

TEST(WsHandshake, RefusesWhatIsNotAnMqttUpgrade) {
    EXPECT_EQ(accept_upgrade(request("/other"), "/mqtt").status, 404);
    auto no_proto = accept_upgrade(request("/mqtt", ""), "/mqtt");
    EXPECT_EQ(no_proto.status, 400);
    EXPECT_EQ(no_proto.reason, "Sec-WebSocket-Protocol does not offer mqtt");
    EXPECT_EQ(accept_upgrade(request("/mqtt", "MQTT"), "/mqtt").status, 400);
    auto old = accept_upgrade(request("/mqtt", "mqtt", "8"), "/mqtt");
    EXPECT_EQ(old.status, 426);
    EXPECT_NE(old.response.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
    EXPECT_EQ(accept_upgrade(request("/mqtt", "mqtt", "13", "POST"), "/mqtt").status, 400);
    EXPECT_EQ(accept_upgrade(request("/mqtt", "mqtt", "13", "GET", ""), "/mqtt").status, 400);
    EXPECT_EQ(accept_upgrade(request("/mqtt", "mqtt", "13", "GET", "short=="), "/mqtt").status, 400);
    EXPECT_EQ(accept_upgrade("GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", "/mqtt").status, 400);
    EXPECT_EQ(accept_upgrade("\x01\x02 garbage\r\n\r\n", "/mqtt").status, 400);
    auto r = accept_upgrade(request("/other"), "/mqtt");
    EXPECT_TRUE(r.response.starts_with("HTTP/1.1 404 Not Found\r\n"));
}

TEST(WsHandshake, RefusesAHeadLargerThanTheLimit) {
    std::string big = request();
    big.insert(big.size() - 2, "X-Padding: " + std::string(kMaxRequestHead, 'p') + "\r\n");
    auto r = accept_upgrade(big, "/mqtt");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.reason, "request head larger than 8 KiB");
}

TEST(WsHandshake, FindsTheEndOfTheRequestHead) {
    EXPECT_EQ(request_head_end("GET / HTTP/1.1\r\nHost: x\r\n"), 0u);
    EXPECT_EQ(request_head_end("GET / HTTP/1.1\r\n\r\nrest"), 18u);
}

}  // namespace
}  // namespace ib::net::ws
