#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "rules/grpc_sink.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace ib::rules {

std::expected<std::unique_ptr<GrpcSink>, std::string> GrpcSink::create(boost::asio::io_context& io,
                                                                       const plugin::GrpcTarget& target,
                                                                       Limits limits, Outcome outcome) {
    auto grpc = plugin::grpc_plugin();
    if (!grpc) return std::unexpected(grpc.error());
    auto method = (*grpc)->create(target);
    if (!method) return std::unexpected(method.error());
    std::unique_ptr<GrpcSink> sink(new GrpcSink(io, limits, std::move(outcome)));
    sink->method_ = std::move(*method);
    return sink;
}

GrpcSink::GrpcSink(boost::asio::io_context& io, Limits limits, Outcome outcome)
    : io_(io), limits_(limits), outcome_(std::move(outcome)), queue_(limits.max_queue) {}

GrpcSink::~GrpcSink() {
    method_.reset();  // no answer arrives from gRPC's threads after this
    *alive_ = false;  // and those already posted are dropped
}

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
        // Answered on a gRPC thread, handed to the loop; `this` is used only
        // while `alive` says the sink is still there.
        auto answered = [this, alive = alive_, key = next->first](std::string error, std::string json, bool ok) {
            if (!*alive) return;
            --in_flight_;
            queue_.finish(key);
            outcome_(ok, error, json);
            kick();
        };
        auto started = method_->call(next->second, limits_.deadline,
                                     [&io = io_, answered = std::move(answered)](bool ok, std::string error, std::string json) mutable {
                                         boost::asio::post(io, [answered = std::move(answered), ok, error = std::move(error),
                                                                 json = std::move(json)]() mutable {
                                             answered(std::move(error), std::move(json), ok);
                                         });
                                     });
        if (!started) {
            --in_flight_;
            queue_.finish(next->first);
            outcome_(false, started.error(), {});
        }
    }
}

}  // namespace ib::rules
