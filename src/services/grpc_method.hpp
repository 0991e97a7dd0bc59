// One unary gRPC method of a service the user describes with a .proto file,
// called with JSON: the file is parsed at run time (no code generated per
// service), a request is the JSON text mapped onto the input message by
// protobuf's JSON mapping, the call goes through gRPC's generic stub on gRPC's
// own threads, and the answer comes back as JSON on the caller's event loop.
// Nothing here blocks the loop. No gRPC, protobuf or Asio types in this header.
#pragma once

#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace ib::services {

struct GrpcMethodTarget {
    std::string address;  // host:port
    bool tls = false;
    std::string ca_file;  // PEM; empty: gRPC's default roots
    std::string cert_file;
    std::string key_file;
    std::string proto;    // path of the .proto; imports are looked up in its folder
    std::string service;  // with its package: "vision.Inspector"
    std::string method;   // "Score"
};

// Whether this build has gRPC; without it create() says so.
bool grpc_available();

class GrpcMethod {
public:
    // ok: `json` is the answer (field names as in the .proto, every field
    // present); else `error` says why (the status code and its message).
    using Done = std::function<void(bool ok, const std::string& error, std::string_view json)>;

    // Parses the .proto and finds the method; the error names the file, line and
    // what is wrong, or the service or method not found, or a streaming method.
    static std::expected<std::unique_ptr<GrpcMethod>, std::string> create(boost::asio::io_context& io,
                                                                          const GrpcMethodTarget& target);
    // Cancels the calls in flight and waits for gRPC to let go of them (their
    // `done` is not called).
    ~GrpcMethod();
    GrpcMethod(const GrpcMethod&) = delete;
    GrpcMethod& operator=(const GrpcMethod&) = delete;

    // Starts a call; `done` runs later on the io_context, exactly once. A request
    // that does not map onto the input message fails at once (false, the reason).
    std::expected<void, std::string> call(std::string_view request_json, std::chrono::milliseconds deadline, Done done);

private:
    struct Impl;
    explicit GrpcMethod(std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;  // shared with the calls in flight
};

}  // namespace ib::services
