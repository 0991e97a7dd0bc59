// The grpc action's plug-in (ib_grpc.so, rules/action_plugin.hpp): one unary
// method of a service the user describes with a .proto file, called with
// JSON. The file is parsed at run time (no code generated per service), a
// request is the JSON text mapped onto the input message by protobuf's JSON
// mapping, the call goes through gRPC's generic stub on gRPC's own threads,
// and the answer comes back as JSON to the caller's `done` on such a thread.
#include "rules/action_plugin.hpp"

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <vector>

namespace ib::plugins {

namespace pb = google::protobuf;

namespace {

class CollectErrors : public pb::compiler::MultiFileErrorCollector {
public:
    void AddError(const std::string& filename, int line, int column, const std::string& message) override {
        if (!text.empty()) text += "; ";
        // The parser counts lines and columns from 0.
        text += filename + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
    }
    std::string text;
};

std::expected<std::string, std::string> read_file(const std::string& path, std::string_view what) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return std::unexpected("cannot read the " + std::string(what) + " '" + path + "'");
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string_view code_name(grpc::StatusCode code) {
    switch (code) {
        case grpc::StatusCode::OK: return "OK";
        case grpc::StatusCode::CANCELLED: return "CANCELLED";
        case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
        case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
        case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
        case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
        case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
        case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
        case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
        case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
        case grpc::StatusCode::ABORTED: return "ABORTED";
        case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
        case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
        case grpc::StatusCode::INTERNAL: return "INTERNAL";
        case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
        case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
        case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
        default: return "UNKNOWN";
    }
}

struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
};

using rules::plugin::GrpcTarget;
using Done = rules::plugin::GrpcMethod::Done;

// Shared by the method and its calls in flight (gRPC's threads hold it).
struct Impl : std::enable_shared_from_this<Impl> {
    pb::compiler::DiskSourceTree source_tree;
    CollectErrors errors;
    pb::compiler::Importer importer{&source_tree, &errors};
    pb::DynamicMessageFactory factory{importer.pool()};
    const pb::MethodDescriptor* method = nullptr;
    const pb::Message* request_prototype = nullptr;
    const pb::Message* response_prototype = nullptr;
    std::string path;  // "/package.Service/Method"
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<grpc::GenericStub> stub;

    // Shared with gRPC's threads: the calls in flight, and whether their
    // answers are still wanted.
    std::mutex mutex;
    std::condition_variable idle;
    std::set<std::shared_ptr<Call>> in_flight;
    bool closed = false;

    // On a gRPC thread: the answer decoded to JSON, handed to `done` unless
    // the method is being destroyed.
    void finished(const std::shared_ptr<Call>& call, const grpc::Status& status, Done& done) {
        bool ok = status.ok();
        std::string error, json;
        if (ok) {
            std::vector<grpc::Slice> slices;
            std::string bytes;
            if (call->response.Dump(&slices).ok()) {
                for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
            }
            std::unique_ptr<pb::Message> answer(response_prototype->New());
            pb::util::JsonPrintOptions print;
            print.preserve_proto_field_names = true;  // the .proto's names, as the rule's columns are written
            print.always_print_primitive_fields = true;  // a score of 0 is a column too
            if (!answer->ParseFromString(bytes)) {
                ok = false;
                error = "the answer is not a " + method->output_type()->full_name();
            } else if (auto s = pb::util::MessageToJsonString(*answer, &json, print); !s.ok()) {
                ok = false;
                error = "the answer cannot be written as JSON: " + std::string(s.message());
            }
        } else {
            error = std::string(code_name(status.error_code())) + ": " + status.error_message();
        }
        std::lock_guard lock(mutex);
        in_flight.erase(call);
        // Under the lock, so the destructor's wait cannot end while `done` runs.
        if (!closed) done(ok, std::move(error), std::move(json));
        idle.notify_all();
    }
};

class Method final : public rules::plugin::GrpcMethod {
public:
    explicit Method(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    ~Method() override;
    std::expected<void, std::string> call(std::string_view request_json, std::chrono::milliseconds deadline,
                                          Done done) override;

private:
    std::shared_ptr<Impl> impl_;
};

std::expected<std::unique_ptr<rules::plugin::GrpcMethod>, std::string> create(const GrpcTarget& target) {
    auto impl = std::make_shared<Impl>();
    const auto slash = target.proto.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : target.proto.substr(0, slash);
    const std::string file = slash == std::string::npos ? target.proto : target.proto.substr(slash + 1);
    impl->source_tree.MapPath("", dir);
    const pb::FileDescriptor* fd = impl->importer.Import(file);
    if (fd == nullptr) {
        return std::unexpected("cannot load " + target.proto + ": " + (impl->errors.text.empty() ? "not found" : impl->errors.text));
    }
    const pb::ServiceDescriptor* service = impl->importer.pool()->FindServiceByName(target.service);
    if (service == nullptr) return std::unexpected(target.proto + " has no service '" + target.service + "' (give it with its package)");
    impl->method = service->FindMethodByName(target.method);
    if (impl->method == nullptr) return std::unexpected("service " + target.service + " has no method '" + target.method + "'");
    if (impl->method->client_streaming() || impl->method->server_streaming()) {
        return std::unexpected(target.service + "." + target.method + " streams; only unary methods can be called");
    }
    impl->request_prototype = impl->factory.GetPrototype(impl->method->input_type());
    impl->response_prototype = impl->factory.GetPrototype(impl->method->output_type());
    impl->path = "/" + service->full_name() + "/" + impl->method->name();

    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (target.tls) {
        grpc::SslCredentialsOptions o;
        if (!target.ca_file.empty()) {
            auto ca = read_file(target.ca_file, "CA file");
            if (!ca) return std::unexpected(ca.error());
            o.pem_root_certs = std::move(*ca);
        }
        if (!target.cert_file.empty()) {
            auto cert = read_file(target.cert_file, "client certificate");
            if (!cert) return std::unexpected(cert.error());
            auto key = read_file(target.key_file, "client key");
            if (!key) return std::unexpected(key.error());
            o.pem_cert_chain = std::move(*cert);
            o.pem_private_key = std::move(*key);
        }
        credentials = grpc::SslCredentials(o);
    } else {
        credentials = grpc::InsecureChannelCredentials();
    }
    grpc::ChannelArguments args;
    // A server that was down is tried again within seconds, not gRPC's two minutes.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
    impl->channel = grpc::CreateCustomChannel(target.address, credentials, args);
    impl->stub = std::make_unique<grpc::GenericStub>(impl->channel);
    return std::make_unique<Method>(std::move(impl));
}

Method::~Method() {
    std::unique_lock lock(impl_->mutex);
    impl_->closed = true;
    // Cancelled without the lock: gRPC may run a call's completion on this very
    // thread, inside TryCancel, and the completion takes the lock.
    std::vector<std::shared_ptr<Call>> calls(impl_->in_flight.begin(), impl_->in_flight.end());
    lock.unlock();
    for (const auto& c : calls) c->context.TryCancel();
    lock.lock();
    // Cancelled calls end at once; the bound only keeps a wedged library from
    // holding the loop.
    impl_->idle.wait_for(lock, std::chrono::seconds(1), [this] { return impl_->in_flight.empty(); });
}

std::expected<void, std::string> Method::call(std::string_view request_json, std::chrono::milliseconds deadline, Done done) {
    Impl& m = *impl_;
    std::unique_ptr<pb::Message> request(m.request_prototype->New());
    pb::util::JsonParseOptions parse;
    parse.ignore_unknown_fields = true;  // a row's other columns (its key, its time) are not the request's business
    if (auto s = pb::util::JsonStringToMessage(pb::StringPiece(request_json.data(), request_json.size()), request.get(), parse);
        !s.ok()) {
        return std::unexpected("the row is not a " + m.method->input_type()->full_name() + ": " + std::string(s.message()));
    }
    std::string bytes;
    request->SerializeToString(&bytes);
    auto call = std::make_shared<Call>();
    grpc::Slice slice(bytes);
    call->request = grpc::ByteBuffer(&slice, 1);
    call->context.set_deadline(std::chrono::system_clock::now() + deadline);
    {
        std::lock_guard lock(m.mutex);
        m.in_flight.insert(call);
    }
    m.stub->UnaryCall(&call->context, m.path, grpc::StubOptions(), &call->request, &call->response,
                      [self = impl_, call, done = std::move(done)](grpc::Status status) mutable {
                          self->finished(call, status, done);
                      });
    return {};
}

}  // namespace
}  // namespace ib::plugins

extern "C" __attribute__((visibility("default"))) const ib::rules::plugin::GrpcPlugin* ib_grpc_plugin() {
    static const ib::rules::plugin::GrpcPlugin plugin{ib::rules::plugin::kInterfaceVersion, &ib::plugins::create};
    return &plugin;
}
