// The rules' actions whose libraries are heavy and optional live in plug-ins:
// the grpc action (gRPC++, the full protobuf: ~50 shared libraries) in
// ib_grpc.so, the postgres action (libpq: Kerberos, LDAP, GnuTLS...) in
// ib_postgres.so. The core loads one with dlopen the first time a rule uses
// it, so a node that calls neither never maps those libraries. This header is
// the whole interface between the core and a plug-in: standard C++ types only
// (no Asio, gRPC or libpq), one C entry point per plug-in, never unloaded.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ib::rules::plugin {

// Bumped whenever anything in this header changes shape: a plug-in built
// against another version is refused rather than called.
inline constexpr uint32_t kInterfaceVersion = 1;

// ---- ib_grpc.so: one unary method of a service a user's .proto describes ----

struct GrpcTarget {
    std::string address;  // host:port
    bool tls = false;
    std::string ca_file;  // PEM; empty: gRPC's default roots
    std::string cert_file;
    std::string key_file;
    std::string proto;    // path of the .proto; imports are looked up in its folder
    std::string service;  // with its package: "vision.Inspector"
    std::string method;   // "Score"
};

class GrpcMethod {
public:
    // ok: `json` is the answer (field names as in the .proto, every field
    // present); else `error` says why. Runs on one of gRPC's threads.
    using Done = std::function<void(bool ok, std::string error, std::string json)>;

    // Cancels the calls in flight and waits for gRPC to let go of them: no
    // `done` runs once the destructor has returned.
    virtual ~GrpcMethod() = default;
    // Starts a call; `done` runs exactly once unless the method is destroyed
    // first. A request that does not map onto the input message fails at once.
    virtual std::expected<void, std::string> call(std::string_view request_json, std::chrono::milliseconds deadline,
                                                  Done done) = 0;
};

struct GrpcPlugin {
    uint32_t version = kInterfaceVersion;
    // Parses the .proto and finds the method; the error names the file, line
    // and what is wrong, or the service or method not found, or a streaming one.
    std::expected<std::unique_ptr<GrpcMethod>, std::string> (*create)(const GrpcTarget& target) = nullptr;
};

// ---- ib_postgres.so: one libpq connection, used from one thread, blocking ----

struct PgFailure {
    enum class Kind : uint8_t {
        Connection,  // down, refused, a wrong password, lost: the batch waits and is sent again
        Setup,       // the table is missing, a column is not in it...: waits too, the user must act
        Rows,        // the server refused a row's value (SQLSTATE class 22 or 23)
    };
    Kind kind = Kind::Connection;
    std::string message;
};

// A statement's rows, each a list of text values.
using PgRows = std::vector<std::vector<std::string>>;

class PgConnection {
public:
    virtual ~PgConnection() = default;
    // Connects within `timeout`, in slices short enough for `closing` (given
    // at creation) to end the wait.
    virtual std::optional<PgFailure> connect(const std::string& dsn, std::chrono::seconds timeout) = 0;
    // Whether the connection is still good (libpq's status).
    virtual bool healthy() const = 0;
    // Runs `sql` with text parameters; a statement that fails is a Setup
    // failure (its message prefixed with `what`), or Connection if it was lost.
    virtual std::expected<PgRows, PgFailure> query(const std::string& sql, std::span<const char* const> params,
                                                   std::string_view what) = 0;
    // One COPY ... FROM STDIN of `data` (whole lines) in its own transaction.
    virtual std::optional<PgFailure> copy(const std::string& copy_sql, std::string_view data) = 0;
};

struct PostgresPlugin {
    uint32_t version = kInterfaceVersion;
    std::unique_ptr<PgConnection> (*open)(const std::atomic<bool>& closing) = nullptr;
    // "" when libpq reads `dsn` as a connection string, else why not.
    std::string (*check_dsn)(const std::string& dsn) = nullptr;
};

// ---- the core's side: finding and loading them ----

// The plug-in, loaded at the first call (thread-safe); the error names the
// file looked for, and the package to install when it or a library it needs
// is missing.
std::expected<const GrpcPlugin*, std::string> grpc_plugin();
std::expected<const PostgresPlugin*, std::string> postgres_plugin();

// Where plug-ins are looked for: $IRONBRIDGE_PLUGIN_DIR alone when set; else,
// first match wins, `plugins/` beside the
// executable (the build tree), then `../lib/ironbridge/plugins/` from it
// (/usr/bin/ironbridge: /usr/lib/ironbridge/plugins, the package's place);
// in a build that is not for distribution, the build tree's plugins/ last.
std::vector<std::string> plugin_dirs();

}  // namespace ib::rules::plugin

// The entry points a plug-in exports (with C linkage, so dlsym finds them by
// these names); each returns a static object.
extern "C" {
const ib::rules::plugin::GrpcPlugin* ib_grpc_plugin();
const ib::rules::plugin::PostgresPlugin* ib_postgres_plugin();
}
