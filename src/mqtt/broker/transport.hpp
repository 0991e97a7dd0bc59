// The transport of a TLS or WebSocket connection, below the MQTT parser: the
// TLS session, the WebSocket upgrade and frame state, and the framed output.
// Included by the broker's .cpp files only; plain TCP connections have none.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "net/tls.hpp"
#include "net/ws_codec.hpp"

namespace ib::mqtt::broker {

struct Transport {
    std::unique_ptr<net::TlsStream> tls;  // tls and wss
    bool ws = false;                      // ws and wss
    bool ws_open = false;                 // upgrade answered with 101
    bool ws_close_sent = false;
    uint16_t ws_close_code = net::ws::kCloseNormal;  // status of the close frame we send
    std::string http_in;                  // the upgrade request until its blank line
    net::ws::Decoder decoder;
    // WebSocket output: HTTP response, then frames. MQTT output in out_ is
    // framed into it (one binary frame per flush) just before a write.
    std::vector<std::byte> wire;
    std::size_t wire_offset = 0;
};

}  // namespace ib::mqtt::broker
