// The probes a kubelet, a load balancer or a person with curl asks, open
// without credentials and answering tiny JSON bodies:
//   GET /healthz/live   every event loop runs a no-op within a second (200), or 503
//   GET /healthz/ready  listeners up and configuration loaded, not draining (200),
//                       or 503; with ?bridge=NAME, that bridge's link must be up too.
// Apart from GET /api/v1/health, the summary for people, which stays as it is.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace ib::api {
class HttpServer;
}
namespace ib::bridge {
class Bridge;
}

namespace ib::app {

// Where the node is in its life, as the readiness probe reports it; set by main.
enum class Readiness : uint8_t { Starting, Ready, Draining };

struct ProbeSources {
    std::vector<boost::asio::io_context*> loops;  // every loop of the pool
    boost::asio::io_context* api_loop = nullptr;  // the server's
    const std::atomic<Readiness>* readiness = nullptr;
    const std::vector<std::unique_ptr<bridge::Bridge>>* bridges = nullptr;
    boost::asio::io_context* bridges_loop = nullptr;
};

// Every pointer in `sources` outlives the server.
void add_probe_routes(api::HttpServer& server, ProbeSources sources);

}  // namespace ib::app
