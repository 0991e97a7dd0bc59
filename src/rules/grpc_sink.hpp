// A gRPC method a rule's rows are sent to (services/grpc_method): in order per
// key, up to `concurrency` calls in flight for different keys, each with its
// deadline; rows wait in a bounded queue meanwhile, and a full queue refuses the
// newest. Outcomes, with the answer as JSON, come back on the rules' loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "rules/keyed_queue.hpp"
#include "services/grpc_method.hpp"

namespace ib::rules {

class GrpcSink {
public:
    // ok: the method answered, `json` is its answer; else `error` says why the row was given up.
    using Outcome = std::function<void(bool ok, const std::string& error, std::string_view json)>;

    struct Limits {
        std::chrono::milliseconds deadline{5000};
        uint32_t concurrency = 1;
        uint32_t max_queue = 1000;
    };

    // The error says why the .proto, service or method cannot be used.
    static std::expected<std::unique_ptr<GrpcSink>, std::string> create(boost::asio::io_context& io,
                                                                        const services::GrpcMethodTarget& target,
                                                                        Limits limits, Outcome outcome);

    void send(const std::string& key, std::string request_json);
    std::size_t queued() const { return queue_.size(); }

private:
    GrpcSink(std::unique_ptr<services::GrpcMethod> method, Limits limits, Outcome outcome);
    void kick();

    Limits limits_;
    Outcome outcome_;
    KeyedQueue<std::string> queue_;
    uint32_t in_flight_ = 0;
    // Last: destroyed first, so no answer arrives for a sink half gone.
    std::unique_ptr<services::GrpcMethod> method_;
};

}  // namespace ib::rules
