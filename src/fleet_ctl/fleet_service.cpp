#include "fleet_ctl/fleet_service.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "core/json_writer.hpp"
#include "core/log.hpp"
#include "fleet_ctl/fleet_session.hpp"

namespace ib::fleet_ctl {

namespace {

using Clock = std::chrono::steady_clock;

std::string random_tag() {
    std::random_device rd;
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", rd());
    return buf;
}

int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// GET /api/v1/fleet/pushes/{id}: an order as it is now or as it was kept.
std::string push_json_of(const store::PushRecord& p) {
    std::vector<EdgeResult> results;
    for (const auto& e : p.edges) results.push_back({e.site + "/" + e.edge, e.phase, e.code, e.message});
    const ResultCounts c = count_results(results);
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("id", p.id).field("op", p.op).field("revision", p.revision);
    w.field("finished", p.finished).field("succeeded", p.finished && exit_code_of(results) == 0);
    w.key("summary").begin_object().field("done", c.done).field("failed", c.failed);
    w.field("rolled_back", c.rolled_back).field("waiting", c.waiting).end_object();
    w.key("edges").begin_array();
    for (const auto& e : p.edges) {
        w.begin_object().field("edge", e.edge).field("site", e.site).field("phase", e.phase);
        w.field("code", e.code).field("message", e.message);
        if (p.op == "dry-run" && !e.diff_json.empty()) w.raw_field("diff", e.diff_json);
        w.end_object();
    }
    w.end_array().end_object();
    return out;
}

void write_edge(JsonWriter& w, const EdgeState& e) {
    w.begin_object().field("edge", e.edge).field("site", e.site).field("online", e.online).field("version", e.version);
    w.field("revision", e.revision);
    if (e.desired_revision) w.field("desired_revision", *e.desired_revision);
    if (e.health) w.field("health", *e.health);
    w.key("labels").begin_object();
    for (const auto& [k, v] : e.labels) w.field(k, v);
    w.end_object();
    if (e.last_apply_revision) {
        w.key("last_apply").begin_object().field("revision", *e.last_apply_revision).field("result", e.last_apply_result);
        w.field("reason", e.last_apply_reason).end_object();
    }
    w.field("ts", e.ts).end_object();
}

}  // namespace

// One push, dry run or rollback: its requests, the tracker of their answers
// (both under the service's mutex) and what the session's thread must send.
struct Job {
    std::string id;
    std::string op;  // push, dry-run, rollback
    int64_t revision = 0;
    std::vector<Request> requests;
    std::unique_ptr<AnswerTracker> tracker;  // made on the session's thread (it knows the reply topic)
    std::vector<Outgoing> outgoing;
    std::optional<Clock::time_point> deadline;  // set when sent
    bool finished = false;
    int64_t created_ms = unix_ms();

    store::PushRecord record() const {
        store::PushRecord p{id, op, revision, finished, created_ms, {}};
        for (const auto& r : requests) {
            p.edges.push_back({r.edge.edge, r.edge.site, r.result.phase, r.result.code, r.result.message,
                               op == "dry-run" ? r.last.diff_json : std::string()});
        }
        return p;
    }
};

struct FleetService::Impl {
    ControllerConfig config;
    mutable std::mutex mutex;
    std::condition_variable wake;
    bool stopping = false;
    bool connected = false;
    std::string error;
    std::map<std::string, EdgeState> edges;
    int64_t highest_revision = 0;
    int64_t reserved_revision = 0;  // given to an order not yet seen back
    std::map<std::string, std::shared_ptr<Job>> jobs;
    std::deque<std::string> job_order;      // oldest first, for keep_pushes
    std::deque<std::shared_ptr<Job>> queue;  // accepted, not yet sent
    std::vector<std::shared_ptr<Job>> active;  // sent, waiting for answers
    std::thread thread;
    std::vector<std::future<void>> filling;  // order_async's threads

    std::optional<store::PushStore> pushes;  // under `mutex`

    Impl(ControllerConfig c, std::optional<store::PushStore> p) : config(std::move(c)), pushes(std::move(p)) {}

    // Under the mutex: the order as it is now, kept across restarts.
    void keep(const Job& job) {
        if (!pushes) return;
        if (auto r = pushes->put(job.record(), static_cast<std::size_t>(config.keep_pushes)); !r) {
            log::error("fleet controller: {} not kept: {}", job.id, r.error());
        }
    }

    // Under the mutex.
    void remember(const std::shared_ptr<Job>& job) {
        jobs[job->id] = job;
        job_order.push_back(job->id);
        while (job_order.size() > static_cast<std::size_t>(config.keep_pushes)) {
            jobs.erase(job_order.front());
            job_order.pop_front();
        }
        queue.push_back(job);
    }

    // --------------------------------------------------- the session's thread
    void run() {
        pthread_setname_np(pthread_self(), "ib-fleet-ctl");
        const std::string where = config.connection.host + ":" + std::to_string(config.connection.port);
        while (true) {
            FleetSession session(config.connection);
            session.on_message([this, &session](const Incoming& in) {
                std::lock_guard lock(mutex);
                // One edge changed: copy that one (a copy of the whole map per
                // state message was quadratic while 1,000 edges answered a push).
                if (!in.state_of.empty()) {
                    if (auto it = session.edges().find(in.state_of); it != session.edges().end()) {
                        edges.insert_or_assign(in.state_of, it->second);
                    }
                }
                highest_revision = session.highest_revision();
                for (auto& job : active) {
                    if (job->tracker) job->tracker->take(in.topic, in.payload, in.correlation);
                }
            });
            auto opened = session.open(std::chrono::seconds(10), [this] {
                std::lock_guard lock(mutex);
                return stopping;
            });
            {
                std::unique_lock lock(mutex);
                if (stopping) return;
                if (!opened) {
                    if (error != opened.error()) log::warn("fleet controller: {}", opened.error());
                    error = opened.error();
                    connected = false;
                    if (wake.wait_for(lock, std::chrono::seconds(2), [this] { return stopping; })) return;
                    continue;
                }
                log::info("fleet controller: connected to {}, {} edges known", where, session.edges().size());
                connected = true;
                error.clear();
                edges = session.edges();
                highest_revision = session.highest_revision();
            }
            serve(session);
            std::unique_lock lock(mutex);
            connected = false;
            if (stopping) {
                lock.unlock();
                session.close(std::chrono::seconds(1));
                return;
            }
            error = session.error().empty() ? "the connection to " + where + " was lost" : session.error();
            log::warn("fleet controller: {}", error);
        }
    }

    // While the session holds: sends what was ordered, ends what timed out.
    void serve(FleetSession& session) {
        while (true) {
            // An order every edge answered ends at once, not at the next second.
            session.run_until(
                [this] {
                    std::lock_guard lock(mutex);
                    return stopping || !queue.empty() ||
                           std::any_of(active.begin(), active.end(), [](const auto& j) { return j->tracker->all_final(); });
                },
                Clock::now() + std::chrono::seconds(1));
            if (!session.error().empty()) return;
            std::vector<std::shared_ptr<Job>> to_send;
            {
                std::lock_guard lock(mutex);
                if (stopping) return;
                to_send.assign(queue.begin(), queue.end());
                queue.clear();
                for (auto& job : to_send) {
                    job->tracker = std::make_unique<AnswerTracker>(job->requests, session.reply_topic(),
                                                                   job->op == "push" ? std::optional(job->revision)
                                                                                     : std::nullopt);
                    job->deadline = Clock::now() + std::chrono::seconds(config.timeout_s);
                    active.push_back(job);
                    keep(*job);
                }
                end_finished();
            }
            for (auto& job : to_send) {
                for (const auto& m : job->outgoing) session.publish(m.topic, m.payload, m.retain, m.correlation);
                log::info("fleet controller: {} {} sent to {} edges", job->op, job->id, job->requests.size());
            }
        }
    }

    // Under the mutex: the jobs every edge answered, or whose time is up.
    void end_finished() {
        const auto now = Clock::now();
        std::erase_if(active, [&](const std::shared_ptr<Job>& job) {
            const bool timed_out = job->deadline && now >= *job->deadline;
            if (!job->tracker->all_final() && !timed_out) return false;
            job->tracker->time_out(config.timeout_s);
            if (job->op == "dry-run") summarize_dry_run(job->requests);
            job->finished = true;
            job->tracker.reset();
            keep(*job);
            return true;
        });
    }

    // ----------------------------------------------------- the callers' side
    // Under the mutex: a revision no order has taken yet.
    int64_t next_revision() {
        reserved_revision = std::max(reserved_revision, highest_revision) + 1;
        return reserved_revision;
    }
};

FleetService::FleetService(ControllerConfig config, std::optional<store::PushStore> pushes)
    : impl_(std::make_shared<Impl>(std::move(config), std::move(pushes))) {
    if (impl_->pushes) {
        const std::size_t n = impl_->pushes->finish_interrupted("restarted", "the controller stopped before its final answer");
        if (n) log::warn("fleet controller: {} orders were still waiting for answers when the node stopped", n);
    }
}

FleetService::~FleetService() { stop(); }

void FleetService::start() {
    impl_->thread = std::thread([impl = impl_] { impl->run(); });
}

void FleetService::stop() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->stopping = true;
    }
    impl_->wake.notify_all();
    if (impl_->thread.joinable()) impl_->thread.join();
    std::vector<std::future<void>> filling;
    {
        std::lock_guard lock(impl_->mutex);
        filling.swap(impl_->filling);
    }
    for (auto& f : filling) f.wait();
}

bool FleetService::order_async(TemplateOrder o, std::function<void(std::expected<Accepted, std::string>)> done) {
    std::lock_guard lock(impl_->mutex);
    std::erase_if(impl_->filling, [](const std::future<void>& f) {
        return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    });
    if (impl_->filling.size() >= kMaxOrdersFilling) return false;
    impl_->filling.push_back(std::async(std::launch::async, [this, o = std::move(o), done = std::move(done)]() mutable {
        done(order(std::move(o)));
    }));
    return true;
}

bool FleetService::connected() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->connected;
}

std::string FleetService::edges_json() const {
    std::lock_guard lock(impl_->mutex);
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("connected", impl_->connected).field("error", impl_->error).key("edges").begin_array();
    for (const auto& [_, e] : impl_->edges) write_edge(w, e);
    w.end_array().end_object();
    return out;
}

std::expected<Accepted, std::string> FleetService::order(TemplateOrder o) {
    if (o.targets.empty()) return std::unexpected("targets: give at least one pattern (e.g. \"*/*\" for every edge)");
    if (auto t = Targets::parse(o.targets); !t) return std::unexpected(t.error());
    std::map<std::string, EdgeState> known;
    {
        std::lock_guard lock(impl_->mutex);
        if (!impl_->connected) return std::unexpected("not connected to the cloud broker: " + impl_->error);
        known = impl_->edges;
    }
    auto edges = targeted(known, o.targets, impl_->config.connection.root, &o.params);
    if (!edges) return std::unexpected(edges.error());
    auto requests = fill_for(*edges, o.template_text, o.params);
    if (!requests) return std::unexpected(requests.error());
    auto job = std::make_shared<Job>();
    job->op = o.dry_run ? "dry-run" : "push";
    job->requests = std::move(*requests);
    std::lock_guard lock(impl_->mutex);
    job->revision = o.revision.value_or(impl_->next_revision());
    if (job->revision <= 0) return std::unexpected("revision: a positive number");
    SendOptions send{job->revision, o.base, impl_->config.sign_key, random_tag()};
    auto messages = o.dry_run ? dry_run_messages(job->requests, send) : push_messages(job->requests, send);
    if (!messages) return std::unexpected(messages.error());
    job->outgoing = std::move(*messages);
    job->id = job->op + "-" + std::to_string(job->revision) + "-" + send.tag;
    impl_->remember(job);
    return Accepted{job->id, job->revision, job->requests.size()};
}

std::expected<Accepted, std::string> FleetService::rollback(std::vector<std::string> targets, int64_t to) {
    if (to <= 0) return std::unexpected("to: the revision to go back to (a positive number)");
    if (targets.empty()) return std::unexpected("targets: give at least one pattern");
    std::lock_guard lock(impl_->mutex);
    if (!impl_->connected) return std::unexpected("not connected to the cloud broker: " + impl_->error);
    auto edges = targeted(impl_->edges, targets, impl_->config.connection.root, nullptr);
    if (!edges) return std::unexpected(edges.error());
    auto job = std::make_shared<Job>();
    job->op = "rollback";
    job->revision = to;
    const std::string tag = random_tag();
    job->outgoing = rollback_messages(*edges, to, tag, job->requests);
    job->id = "rollback-" + std::to_string(to) + "-" + tag;
    impl_->remember(job);
    return Accepted{job->id, to, job->requests.size()};
}

std::optional<std::string> FleetService::push_json(const std::string& id) const {
    std::lock_guard lock(impl_->mutex);
    if (auto it = impl_->jobs.find(id); it != impl_->jobs.end()) return push_json_of(it->second->record());
    if (!impl_->pushes) return std::nullopt;
    auto kept = impl_->pushes->get(id);
    if (!kept) return std::nullopt;
    return push_json_of(*kept);
}

}  // namespace ib::fleet_ctl
