// GET /api/v1/events: server-sent events for the web console. One `message`
// event per broker message matching the client's `filter` (an in-process
// subscription delivered on the API's loop) and a `stats` event every two
// seconds with the figures the Overview draws. Each client has a bounded queue:
// a browser that reads too slowly loses events, counted, and never holds a loop.
#pragma once

#include <cstddef>
#include <memory>

#include "core/metrics.hpp"

namespace boost::asio {
class io_context;
}
namespace ib::mqtt::broker {
class Router;
}

namespace ib::api {

class HttpServer;

class EventStreams {
public:
    // Beyond this many open streams a new one gets 503: each holds a queue
    // and a subscription.
    static constexpr size_t kMaxClients = 32;
    // Per client: events beyond this many bytes waiting to be written are dropped.
    static constexpr size_t kMaxQueuedBytes = 512 * 1024;

    // `api_loop` is the server's loop; the route and every stream live there.
    // Adds the route to `server`. Both must outlive this object.
    EventStreams(boost::asio::io_context& api_loop, mqtt::broker::Router& router, HttpServer& server);
    ~EventStreams();
    EventStreams(const EventStreams&) = delete;
    EventStreams& operator=(const EventStreams&) = delete;

    // Ends every stream and its subscription; no new stream is accepted. On the API's loop.
    void stop();
    // ib_api_event_streams, ib_api_events_sent_total, ib_api_events_dropped_total. On the API's loop.
    void collect_metrics(MetricSink& sink) const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace ib::api
