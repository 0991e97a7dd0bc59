// The server side of the WebSocket opening handshake (RFC 6455 §4.2) for MQTT:
// checks an HTTP upgrade request and produces the bytes to answer it with.
// Beast parses the request; this knows the rules, not the sockets.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ib::net::ws {

// Largest request head accepted before the blank line.
inline constexpr std::size_t kMaxRequestHead = 8192;

struct UpgradeReply {
    int status = 400;       // 101 when the upgrade is accepted
    std::string response;   // the whole HTTP response head (and a short body on refusal)
    std::string reason;     // why it was refused, for the log
};

// Offset just past the "\r\n\r\n" ending the request head, or 0 while incomplete.
std::size_t request_head_end(std::string_view data);

// `head` is the request up to and including its blank line; `path` the
// listener's ws_path. A wrong path gets 404, a bad upgrade 400, an unknown
// Sec-WebSocket-Version 426, a client that does not offer the `mqtt`
// subprotocol 400 (MQTT 5.0 §6.0: the server selects "mqtt"), a head over
// kMaxRequestHead 400.
UpgradeReply accept_upgrade(std::string_view head, std::string_view path);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key (§4.2.2 step 5.4).
std::string accept_key(std::string_view key);

}  // namespace ib::net::ws
