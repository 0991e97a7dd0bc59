#include "rules/grpc_sink.hpp"

namespace ib::rules {

std::expected<std::unique_ptr<GrpcSink>, std::string> GrpcSink::create(boost::asio::io_context& io,
                                                                       const services::GrpcMethodTarget& target,
                                                                       Limits limits, Outcome outcome) {
    auto method = services::GrpcMethod::create(io, target);
    if (!method) return std::unexpected(method.error());
    return std::unique_ptr<GrpcSink>(new GrpcSink(std::move(*method), limits, std::move(outcome)));
}

GrpcSink::GrpcSink(std::unique_ptr<services::GrpcMethod> method, Limits limits, Outcome outcome)
    : limits_(limits), outcome_(std::move(outcome)), queue_(limits.max_queue), method_(std::move(method)) {}

void GrpcSink::send(const std::string& key, std::string request_json) {
    if (!queue_.push(key, std::move(request_json))) {
        outcome_(false, "the queue of " + std::to_string(limits_.max_queue) + " rows is full; row dropped", {});
        return;
    }
    kick();
}

void GrpcSink::kick() {
    while (in_flight_ < limits_.concurrency) {
        auto next = queue_.take();
        if (!next) return;
        ++in_flight_;
        // The method outlives no call's answer (its destructor drops them), so `this` is safe here.
        auto started = method_->call(next->second, limits_.deadline,
                                     [this, key = next->first](bool ok, const std::string& error, std::string_view json) {
                                         --in_flight_;
                                         queue_.finish(key);
                                         outcome_(ok, error, json);
                                         kick();
                                     });
        if (!started) {
            --in_flight_;
            queue_.finish(next->first);
            outcome_(false, started.error(), {});
        }
    }
}

}  // namespace ib::rules
