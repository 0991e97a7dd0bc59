// Typed settings of the REST API / metrics HTTP server, filled by the config
// module. Header-only and free of Asio so config can include it without
// pulling networking into every translation unit.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ib::api {

struct ApiConfig {
    // The app decides whether to start the server; HttpServer itself ignores this.
    bool enabled = true;
    std::string bind_address = "0.0.0.0";
    uint16_t port = 8080;  // 0: pick a free port (tests)
    // Largest request body accepted; larger requests get 413 and are closed.
    uint32_t max_body_bytes = 1024 * 1024;
    // HTTPS when both are set: PEM certificate (with its chain) and private key.
    std::string tls_cert;
    std::string tls_key;
    // Console sessions (api/session_table.hpp): lifetime from login, idle
    // timeout (0: none), how many at once.
    std::chrono::seconds session_ttl{8 * 3600};
    std::chrono::seconds session_idle{0};
    uint32_t max_sessions = 1000;
    // The audit log's cap (store/audit_log.hpp): oldest entries go first.
    uint64_t audit_max_rows = 100'000;
    uint64_t audit_max_bytes = 64ull << 20;
};

}  // namespace ib::api
