// A gRPC method a rule's rows are sent to (the grpc plug-in, action_plugin.hpp):
// in order per key, up to `concurrency` calls in flight for different keys,
// each with its deadline; rows wait in a bounded queue meanwhile, and a full
// queue refuses the newest. Outcomes, with the answer as JSON, come back on
// the rules' loop. No Asio in this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "rules/action_plugin.hpp"
#include "rules/keyed_queue.hpp"

namespace boost::asio {
class io_context;
}

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

    // The error says why the .proto, service or method cannot be used, or
    // that the plug-in is missing.
    static std::expected<std::unique_ptr<GrpcSink>, std::string> create(boost::asio::io_context& io,
                                                                        const plugin::GrpcTarget& target,
                                                                        Limits limits, Outcome outcome);
    ~GrpcSink();

    void send(const std::string& key, std::string request_json);
    std::size_t queued() const { return queue_.size(); }

private:
    GrpcSink(boost::asio::io_context& io, Limits limits, Outcome outcome);
    void kick();

    boost::asio::io_context& io_;
    // Answers posted to the loop find it false once the sink is gone.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    Limits limits_;
    Outcome outcome_;
    KeyedQueue<std::string> queue_;
    uint32_t in_flight_ = 0;
    // Last: destroyed first, so no answer arrives for a sink half gone.
    std::unique_ptr<plugin::GrpcMethod> method_;
};

}  // namespace ib::rules
