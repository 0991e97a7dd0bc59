#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "app/inspector.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/timex.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "api/http_server.hpp"
#include "bridge/bridge.hpp"
#include "config/node_config.hpp"
#include "core/log.hpp"

namespace ib::app {

namespace asio = boost::asio;
using inspection::Certificate;
using inspection::IntegrityFacts;
using inspection::Report;
using inspection::Snapshot;

namespace {

int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A certificate's notAfter, from a PEM or DER file (the OPC UA client keeps DER).
void read_certificate_date(Certificate& cert) {
    cert.not_after_ms.reset();
    cert.error.clear();
    BIO* bio = BIO_new_file(cert.path.c_str(), "rb");
    if (bio == nullptr) {
        cert.error = "cannot open the file";
        return;
    }
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (x == nullptr) {
        (void)BIO_reset(bio);
        x = d2i_X509_bio(bio, nullptr);
    }
    BIO_free(bio);
    if (x == nullptr) {
        cert.error = "not a PEM or DER certificate";
        return;
    }
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
        cert.not_after_ms = static_cast<int64_t>(timegm(&tm)) * 1000;
    } else {
        cert.error = "unreadable notAfter";
    }
    X509_free(x);
}

// PRAGMA quick_check on every *.db of data_dir, read-only: O(pages) but without
// the index cross-checks of integrity_check, and on the inspector's thread.
// `stopping` interrupts a long check (a large history.db), so a shutdown does
// not wait for it.
IntegrityFacts check_databases(const std::string& data_dir, const std::atomic<bool>& stopping) {
    IntegrityFacts f;
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(data_dir, ec)) {
        if (e.path().extension() == ".db" && e.is_regular_file(ec)) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
        const std::string name = path.filename().string();
        f.files.push_back(name);
        sqlite3* db = nullptr;
        if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
            f.problems.push_back(name + ": cannot open: " + (db ? sqlite3_errmsg(db) : "out of memory"));
            sqlite3_close(db);
            continue;
        }
        sqlite3_busy_timeout(db, 2000);
        sqlite3_progress_handler(
            db, 10000, [](void* flag) { return static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0; },
            const_cast<std::atomic<bool>*>(&stopping));
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, nullptr) != SQLITE_OK) {
            f.problems.push_back(name + ": " + sqlite3_errmsg(db));
        } else if (sqlite3_step(st) == SQLITE_ROW) {
            const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
            const std::string result = text ? text : "";
            if (result != "ok") f.problems.push_back(name + ": " + result);
        } else {
            f.problems.push_back(name + ": " + sqlite3_errmsg(db));
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    f.checked = true;
    f.checked_at_ms = wall_ms();
    return f;
}

std::optional<uint64_t> meminfo_bytes(const std::string& text, std::string_view key) {
    const auto pos = text.find(key);
    if (pos == std::string::npos) return std::nullopt;
    return std::strtoull(text.c_str() + pos + key.size(), nullptr, 10) * 1024;  // kB
}

}  // namespace

inspection::HostFacts read_host_facts() {
    inspection::HostFacts h;
    {
        std::ifstream in("/proc/meminfo");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        h.memory_available_bytes = meminfo_bytes(text, "MemAvailable:");
        h.memory_total_bytes = meminfo_bytes(text, "MemTotal:");
    }
    std::error_code ec;
    uint64_t fds = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
        ++fds;
    }
    if (!ec) h.open_files = fds;
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) h.open_files_limit = lim.rlim_cur;
    h.wall_clock_ms = wall_ms();
    timex tx{};
    const int state = adjtimex(&tx);
    if (state != -1) h.clock_synchronized = state != TIME_ERROR;
    return h;
}

InspectorSetup inspector_setup(const config::NodeConfig& cfg, std::vector<inspection::BridgeLimit> bridges) {
    InspectorSetup s;
    s.data_dir = cfg.data_dir;
    s.bridges = std::move(bridges);
    for (const auto& l : cfg.broker.listeners) {
        s.security.listeners.push_back({l.name, l.bind_address, l.transport == "tls" || l.transport == "wss",
                                        l.allow_anonymous.value_or(cfg.broker.allow_anonymous)});
        if (!l.tls_cert.empty()) {
            s.security.certificates.push_back({"listener '" + l.name + "' tls_cert", l.tls_cert, std::nullopt, ""});
        }
    }
    s.security.api_enabled = cfg.api.enabled;
    s.security.api_bind_address = cfg.api.bind_address;
    s.security.api_tls = !cfg.api.tls_cert.empty();
    s.security.api_anonymous = cfg.auth.api_allow_anonymous;
    if (!cfg.api.tls_cert.empty()) s.security.certificates.push_back({"api.tls_cert", cfg.api.tls_cert, std::nullopt, ""});
    // Made at the OPC UA client's first use (drivers/opcua/pki.hpp): checked once it exists.
    s.security.certificates.push_back(
        {"OPC UA own certificate", cfg.data_dir + "/pki/own/certificate.der", std::nullopt, ""});
    s.started_ms = wall_ms();
    return s;
}

struct Inspector::Impl : std::enable_shared_from_this<Impl> {
    asio::io_context& loop;
    api::HttpServer& http;
    InspectorSetup setup;
    asio::steady_timer timer;
    bool stopped = false;

    // On the API's loop.
    std::optional<Snapshot> baseline, older;
    std::map<std::string, inspection::BridgeMemory> bridge_memory;
    std::optional<Report> last;

    // Shared with the thread and the fleet.
    mutable std::mutex mutex;
    std::condition_variable wake;
    bool thread_stop = false;
    std::atomic<bool> stopping{false};
    IntegrityFacts integrity;
    std::vector<Certificate> certificates;
    std::optional<inspection::FleetFacts> fleet;
    std::optional<int> last_score;
    std::optional<std::string> last_json;
    std::thread slow_checks;

    Impl(asio::io_context& l, api::HttpServer& h, InspectorSetup s) : loop(l), http(h), setup(std::move(s)), timer(l) {}

    void run_slow_checks() {
        std::unique_lock lock(mutex);
        while (!thread_stop) {
            auto certs = setup.security.certificates;
            lock.unlock();
            IntegrityFacts fresh = check_databases(setup.data_dir, stopping);
            std::error_code ec;
            std::vector<Certificate> read;
            for (auto& c : certs) {
                // The OPC UA certificate is only there once a device used it.
                if (c.what == "OPC UA own certificate" && !std::filesystem::exists(c.path, ec)) continue;
                read_certificate_date(c);
                read.push_back(std::move(c));
            }
            lock.lock();
            if (thread_stop) break;  // interrupted: not a finding
            integrity = std::move(fresh);
            certificates = std::move(read);
            wake.wait_for(lock, std::chrono::seconds(kSlowChecksSeconds), [this] { return thread_stop; });
        }
    }

    // On the API's loop: gathers, evaluates, remembers.
    void evaluate(std::function<void(const Report&)> done) {
        auto self = shared_from_this();
        http.gather_metrics([self, done = std::move(done)](MetricSink samples) {
            inspection::Inputs in;
            in.host = read_host_facts();
            in.now = Snapshot{std::move(samples), in.host.wall_clock_ms};
            // Rates over at least half an interval, so a request just after a
            // tick does not measure them over a few milliseconds.
            const int64_t min_window = kIntervalSeconds * 1000 / 2;
            if (self->baseline && in.now.at_ms - self->baseline->at_ms >= min_window) in.previous = self->baseline;
            else if (self->older) in.previous = self->older;
            in.started_ms = self->setup.started_ms;
            in.bridges = self->setup.bridges;
            inspection::remember_bridges(self->bridge_memory, in.now, in.started_ms);
            in.bridge_memory = self->bridge_memory;
            in.security = self->setup.security;
            {
                std::lock_guard lock(self->mutex);
                in.integrity = self->integrity;
                in.security.certificates = self->certificates;
                in.fleet = self->fleet;
            }
            Report report = inspection::evaluate(in);
            self->last = report;
            {
                std::lock_guard lock(self->mutex);
                self->last_score = report.score;
                self->last_json = inspection::to_json(report);
            }
            if (!self->baseline || in.now.at_ms - self->baseline->at_ms >= min_window) {
                self->older = std::move(self->baseline);
                self->baseline = std::move(in.now);
            }
            done(report);
        });
    }

    void schedule(std::chrono::milliseconds delay) {
        if (stopped) return;
        timer.expires_after(delay);
        timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
            auto self = weak.lock();
            if (ec || !self || self->stopped) return;
            self->evaluate([](const Report&) {});
            self->schedule(std::chrono::seconds(kIntervalSeconds));
        });
    }
};

Inspector::Inspector(asio::io_context& loop, api::HttpServer& http, InspectorSetup setup)
    : impl_(std::make_shared<Impl>(loop, http, std::move(setup))) {}

Inspector::~Inspector() { stop(); }

void Inspector::start() {
    std::weak_ptr<Impl> weak = impl_;
    impl_->http.route("GET", "/api/v1/health/inspection", [weak](const api::HttpRequest&) {
        api::HttpResponse r;
        r.deferred = [weak](std::function<void(api::HttpResponse)> reply) {
            auto self = weak.lock();
            if (!self) return reply(api::json_error(503, "the inspection is stopping"));
            self->evaluate([reply = std::move(reply)](const Report& report) {
                api::HttpResponse out;
                out.body = inspection::to_json(report);
                reply(std::move(out));
            });
        };
        return r;
    });
    // The gauges of the last evaluation (a collector cannot gather the others).
    impl_->http.add_metrics([weak](MetricSink& sink) {
        auto self = weak.lock();
        if (self && self->last) inspection::add_report_metrics(*self->last, sink);
    });
    impl_->slow_checks = std::thread([impl = impl_.get()] { impl->run_slow_checks(); });
    // The first evaluation once the links had a moment to come up (a bridge
    // connects within milliseconds when its upstream is there), so the first
    // score the fleet's state carries is not the start-up's; then every interval.
    impl_->schedule(std::chrono::milliseconds(kFirstEvaluationMs));
}

void Inspector::stop() {
    impl_->stopped = true;
    impl_->stopping = true;
    impl_->timer.cancel();
    {
        std::lock_guard lock(impl_->mutex);
        impl_->thread_stop = true;
    }
    impl_->wake.notify_all();
    if (impl_->slow_checks.joinable()) impl_->slow_checks.join();
}

void Inspector::inspect(std::function<void(const Report&)> done) {
    asio::post(impl_->loop, [weak = std::weak_ptr<Impl>(impl_), done = std::move(done)]() mutable {
        if (auto self = weak.lock()) self->evaluate(std::move(done));
    });
}

std::optional<int> Inspector::last_score() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->last_score;
}

std::optional<std::string> Inspector::last_json() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->last_json;
}

void Inspector::set_fleet_facts(std::optional<inspection::FleetFacts> facts) {
    std::lock_guard lock(impl_->mutex);
    impl_->fleet = std::move(facts);
}

std::unique_ptr<Inspector> start_inspector(asio::io_context& api_loop, api::HttpServer& http,
                                           const config::NodeConfig& cfg,
                                           const std::vector<std::unique_ptr<bridge::Bridge>>& bridges) {
    std::vector<inspection::BridgeLimit> limits;
    for (const auto& b : bridges) limits.push_back({b->config().name, b->config().max_queue_bytes});
    auto inspector = std::make_unique<Inspector>(api_loop, http, inspector_setup(cfg, std::move(limits)));
    inspector->start();
    return inspector;
}

}  // namespace ib::app
