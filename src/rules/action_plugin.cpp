#include "rules/action_plugin.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "core/log.hpp"

namespace ib::rules::plugin {
namespace {

// What one plug-in is called and what it needs from Debian, for the messages.
struct Spec {
    std::string_view action;     // "grpc"
    std::string_view file;       // "ib_grpc.so"
    std::string_view entry;      // "ib_grpc_plugin"
    std::string_view libraries;  // the Debian packages of the libraries it links
    // Why this build has no such plug-in; empty when it made one.
    std::string_view not_built;
};

#ifdef IB_GRPC_PLUGIN
constexpr std::string_view kGrpcNotBuilt;
#else
constexpr std::string_view kGrpcNotBuilt = "it was configured with -DIB_GRPC=OFF, or without libgrpc++-dev";
#endif

constexpr Spec kGrpc{"grpc", "ib_grpc.so", "ib_grpc_plugin", "libgrpc++1.51 and libprotobuf32", kGrpcNotBuilt};
constexpr Spec kPostgres{"postgres", "ib_postgres.so", "ib_postgres_plugin", "libpq5", {}};

std::string executable_dir() {
    std::string exe(4096, '\0');
    const ssize_t n = ::readlink("/proc/self/exe", exe.data(), exe.size());
    if (n <= 0) return ".";
    exe.resize(static_cast<size_t>(n));
    const auto slash = exe.find_last_of('/');
    return slash == std::string::npos ? "." : exe.substr(0, slash);
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// The entry point's object, or why there is none. dlopen's own message names
// the library that is missing when the plug-in is there but one of its
// libraries is not.
std::expected<const void*, std::string> load(const Spec& spec) {
    const std::vector<std::string> dirs = plugin_dirs();
    std::string path;
    for (const std::string& d : dirs) {
        if (exists(d + "/" + std::string(spec.file))) {
            path = d + "/" + std::string(spec.file);
            break;
        }
    }
    if (path.empty()) {
        std::string looked = dirs.front() + "/" + std::string(spec.file);
        for (size_t i = 1; i < dirs.size(); ++i) looked += " or " + dirs[i] + "/" + std::string(spec.file);
        if (!spec.not_built.empty()) {
            return std::unexpected("the " + std::string(spec.action) + " action needs the plug-in " + std::string(spec.file) +
                                   ", which this build of ironbridge does not have: " + std::string(spec.not_built));
        }
        return std::unexpected("the " + std::string(spec.action) + " action needs the plug-in " + looked +
                               ", which is missing: it comes with the Debian package ironbridge (with " +
                               std::string(spec.libraries) + "), or is copied there from a build's plugins/ folder");
    }
    // RTLD_LOCAL: the plug-in's libraries stay its own; RTLD_NOW: a missing
    // symbol is found now, not in the middle of a call.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = ::dlerror();
        return std::unexpected("cannot load the " + std::string(spec.action) + " action's plug-in " + path + ": " +
                               (why ? why : "unknown error") + " (install " + std::string(spec.libraries) + ")");
    }
    void* entry = ::dlsym(handle, std::string(spec.entry).c_str());
    if (entry == nullptr) {
        ::dlclose(handle);
        return std::unexpected(path + " is not an ironbridge plug-in (no " + std::string(spec.entry) + ")");
    }
    log::info("rules: loaded the {} action's plug-in {}", spec.action, path);
    return entry;
}

// Loaded once per process and kept; a failure is not remembered, so a
// plug-in installed while the node runs serves the next rule.
template <typename Plugin>
std::expected<const Plugin*, std::string> loaded(const Spec& spec) {
    static std::mutex mutex;
    static const Plugin* plugin = nullptr;
    std::lock_guard lock(mutex);
    if (plugin != nullptr) return plugin;
    auto entry = load(spec);
    if (!entry) return std::unexpected(entry.error());
    using Entry = const Plugin* (*)();
    const Plugin* p = reinterpret_cast<Entry>(const_cast<void*>(*entry))();
    if (p == nullptr || p->version != kInterfaceVersion) {
        return std::unexpected("the " + std::string(spec.action) + " action's plug-in " + std::string(spec.file) +
                               " was built for another version of ironbridge");
    }
    plugin = p;
    return plugin;
}

}  // namespace

std::vector<std::string> plugin_dirs() {
    // An operator's (or a test's) own folder, instead of the usual places.
    if (const char* own = std::getenv("IRONBRIDGE_PLUGIN_DIR"); own != nullptr && *own != '\0') return {own};
    const std::string dir = executable_dir();
    std::vector<std::string> dirs{dir + "/plugins", dir + "/../lib/ironbridge/plugins"};
#ifdef IB_BUILD_PLUGIN_DIR
    // A build tree's own, for its test programs (elsewhere than the binary).
    dirs.emplace_back(IB_BUILD_PLUGIN_DIR);
#endif
    return dirs;
}

std::expected<const GrpcPlugin*, std::string> grpc_plugin() { return loaded<GrpcPlugin>(kGrpc); }

std::expected<const PostgresPlugin*, std::string> postgres_plugin() { return loaded<PostgresPlugin>(kPostgres); }

}  // namespace ib::rules::plugin
