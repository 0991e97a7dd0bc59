#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "fleet/fleet_agent.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <deque>
#include <mutex>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "fleet/capture.hpp"
#include "fleet/running_set.hpp"
#include "fleet/signature.hpp"
#include "net/loop_check.hpp"
#include "rules/rule_settings.hpp"

namespace ib::fleet {
namespace asio = boost::asio;
using drivers::DeviceConfig;
using rules::RuleConfig;
using rules::RuleSource;

namespace {

Progress progress(std::optional<int64_t> revision, Phase phase, std::string code = {}, std::string reason = {}) {
    Progress p;
    p.revision = revision;
    p.phase = phase;
    p.code = std::move(code);
    p.reason = std::move(reason);
    return p;
}

// The new or changed devices and rules a probe watches.
struct Watched {
    std::vector<std::string> devices, rules;
    bool fleet_bridge_changed = false;
};

}  // namespace

// ------------------------------------------------------------------ open

std::expected<FleetStart, std::string> open_fleet(const std::string& data_dir, drivers::AddressCheck check) {
    auto store = store::RevisionStore::open(data_dir + "/fleet.db");
    if (!store) return std::unexpected("cannot open the fleet's revisions: " + store.error());
    if (!store->recovered_from().empty()) {
        log::error("fleet: fleet.db was unreadable and has been moved aside to {}; starting on the configuration file",
                   store->recovered_from());
    }
    FleetStart start{std::move(*store), {}, {}};
    start.interrupted = start.store.recover_interrupted("interrupted");
    for (int64_t r : start.interrupted) {
        log::warn("fleet: revision {} was being applied when the node stopped; starting on revision {}", r,
                  start.store.current());
    }
    if (start.store.current() != 0) {
        auto in_force = start.store.get(start.store.current());
        if (!in_force) return std::unexpected("fleet.db: the revision in force, " + std::to_string(start.store.current()) + ", is missing");
        auto parts = parse_managed(in_force->effective, "revision " + std::to_string(in_force->revision), check);
        if (!parts) {
            std::string text;
            for (const auto& e : parts.error()) text += "\n" + e;
            return std::unexpected("fleet: the revision in force no longer passes the checks:" + text);
        }
        start.parts = std::move(*parts);
    }
    return start;
}

void FleetAgent::set_will(const FleetConfig& config, bridge::BridgeConfig& bridge) {
    bridge.will_topic = config.prefix_topic() + "state";
    bridge.will_payload = encode_offline(config.edge, config.site, std::nullopt);
    bridge.will_retain = true;
    bridge.will_qos = 1;
}

// ------------------------------------------------------------------ the agent

struct FleetAgent::Impl : std::enable_shared_from_this<FleetAgent::Impl> {
    Impl(asio::io_context& io, FleetConfig c, FleetStart s, FleetTargets t, ManagedConfig b, std::string v, FleetHooks h)
        : io(io),
          config(std::move(c)),
          store(std::move(s.store)),
          interrupted(std::move(s.interrupted)),
          targets(std::move(t)),
          base(std::move(b)),
          version(std::move(v)),
          hooks(std::move(h)),
          prefix(config.prefix_topic()),
          state_timer(io),
          probe_timer(io) {
        fleet_users = std::move(s.parts.users);
        fleet_acl = std::move(s.parts.acl);
    }

    asio::io_context& io;
    FleetConfig config;
    store::RevisionStore store;
    std::vector<int64_t> interrupted;
    FleetTargets targets;
    ManagedConfig base;
    std::string version;
    FleetHooks hooks;
    std::string prefix;
    asio::steady_timer state_timer;
    asio::steady_timer probe_timer;
    std::optional<SignatureKey> key;
    int64_t started_ms = unix_ms();
    bool running = false;

    // Where a request's reports go besides P status.
    struct Reply {
        std::optional<std::string> id;
        std::optional<std::string> response_topic;
        std::optional<std::string> correlation;
        std::function<void(const Progress&)> done;  // the REST API's rollback
    };
    struct Pending {
        std::string topic, payload;
        bool retain = false;
        std::optional<std::string> correlation;
    };
    std::deque<Pending> pending;  // reports while the link was down, sent at connect
    bool link_up = false;
    std::string last_link_error;

    // The transaction in progress.
    struct Apply {
        int64_t revision = 0;
        Reply reply;
        Target target;
        Running before;
        Watched watched;
        std::string effective;
        bool probing = false;
        bool is_rollback = false;
    };
    std::optional<Apply> busy;
    std::optional<Progress> last_apply;
    std::optional<int64_t> desired_revision;
    std::vector<std::unique_ptr<bridge::Bridge>> retired_bridges;
    // Users and ACL the fleet put in force, for a reload of the file (SIGHUP).
    mutable std::mutex auth_mutex;
    std::optional<std::vector<auth::UserConfig>> fleet_users;
    std::optional<std::vector<auth::AclRuleConfig>> fleet_acl;

    std::string topic(std::string_view leaf) const { return prefix + std::string(leaf); }

    bridge::Bridge* fleet_bridge() const {
        for (auto& b : *targets.bridges) {
            if (b->config().name == config.bridge) return b.get();
        }
        return nullptr;
    }

    // ------------------------------------------------------------ publishing
    void send(std::string topic_name, std::string payload, bool retain, std::optional<std::string> correlation = {}) {
        bridge::Bridge* b = fleet_bridge();
        std::optional<Bytes> corr;
        if (correlation) corr = as_bytes(*correlation);
        if (b != nullptr && b->publish_control(topic_name, payload, retain, std::nullopt, corr)) return;
        // A retained report replaces an older one on the same topic: only the last counts.
        if (retain) {
            std::erase_if(pending, [&](const Pending& p) { return p.retain && p.topic == topic_name; });
        }
        if (pending.size() >= 16) pending.pop_front();
        pending.push_back({std::move(topic_name), std::move(payload), retain, std::move(correlation)});
    }

    void report(const Reply& reply, Progress p) {
        p.id = reply.id;
        const std::string body = encode_progress(p, unix_ms());
        send(topic("status"), body, true);
        if (reply.response_topic) send(*reply.response_topic, body, false, reply.correlation);
        const bool final = p.phase == Phase::Done || p.phase == Phase::Failed || p.phase == Phase::RolledBack;
        if (final && reply.done) reply.done(p);
    }

    void fail(const Reply& reply, std::optional<int64_t> revision, std::string code, std::string reason,
              std::vector<std::string> errors = {}) {
        Progress p;
        p.revision = revision;
        p.phase = Phase::Failed;
        p.code = std::move(code);
        p.reason = std::move(reason);
        p.errors = std::move(errors);
        log::warn("fleet: {} refused ({}): {}", revision ? "revision " + std::to_string(*revision) : std::string("request"),
                  p.code, p.errors.empty() ? p.reason : p.errors.front());
        report(reply, std::move(p));
    }

    std::string hash_of(int64_t revision) const {
        if (revision == 0) return {};
        auto r = store.get(revision);
        return r ? r->sha256 : std::string();
    }

    // The inspection's drift facts, told only when they changed since the last time.
    std::optional<DriftFacts> drift_told;
    void tell_drift() {
        if (!hooks.drift) return;
        DriftFacts f;
        f.applied_revision = store.current();
        f.desired_revision = desired_revision;
        if (last_apply) {
            f.last_apply_result = std::string(phase_name(last_apply->phase));
            f.last_apply_reason = last_apply->reason;
        }
        if (drift_told == f) return;
        drift_told = f;
        hooks.drift(f);
    }

    void publish_state() {
        tell_drift();
        EdgeState s;
        s.edge = config.edge;
        s.site = config.site;
        s.version = version;
        s.revision = store.current();
        s.hash = hash_of(s.revision);
        if (hooks.health) s.health = hooks.health();
        s.labels = config.labels;
        s.desired_revision = desired_revision;
        s.last_apply = last_apply;
        s.started_ms = started_ms;
        send(topic("state"), encode_state(s, unix_ms()), true);
    }

    void arm_state_timer() {
        state_timer.expires_after(config.state_interval);
        state_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec || !self->running) return;
            self->publish_state();
            self->arm_state_timer();
        });
    }

    // ------------------------------------------------------------ the link
    void on_link(bool up, const std::string& why) {
        link_up = up;
        if (!up) {
            last_link_error = why;
            if (busy && busy->probing && !busy->watched.fleet_bridge_changed) {
                rollback_now("link_lost", "the cloud link was lost during the probe: " + why);
            }
            return;
        }
        // Reports made while the link was down, then the state.
        auto waiting = std::move(pending);
        pending.clear();
        for (auto& p : waiting) send(std::move(p.topic), std::move(p.payload), p.retain, std::move(p.correlation));
        if (!interrupted.empty()) {
            Progress p;
            p.revision = interrupted.back();
            p.phase = Phase::RolledBack;
            p.code = "interrupted";
            p.reason = "the node stopped during the apply; it started on revision " + std::to_string(store.current());
            last_apply = p;
            interrupted.clear();
            report(Reply{}, p);
        }
        publish_state();
    }

    void on_message(const bridge::ControlMessage& m) {
        Reply reply;
        if (m.response_topic) reply.response_topic = std::string(*m.response_topic);
        if (m.correlation_data) {
            reply.correlation = std::string(reinterpret_cast<const char*>(m.correlation_data->data()), m.correlation_data->size());
        }
        if (m.topic == topic("desired")) return on_desired(m.payload, m.retain, std::move(reply));
        if (m.topic == topic("cmd")) return on_command(m.payload, std::move(reply));
    }

    // ------------------------------------------------------------ validation
    struct Checked {
        ManagedConfig parts;
        std::string effective;
    };

    // Everything but applying: signature, base, the loader's checks. Reports the
    // failure itself and returns nothing then.
    std::optional<Checked> check(const Desired& d, const Reply& reply) {
        if (key) {
            auto ok = key->verify(signed_bytes(d.revision, d.base, d.config), d.signature);
            if (!ok) {
                const bool unsigned_ = ok.error() == SignatureErrc::Unsigned;
                fail(reply, d.revision, unsigned_ ? "unsigned" : "bad_signature",
                     unsigned_ ? "this edge accepts only signed configurations (fleet.public_key)"
                               : "the signature does not match fleet.public_key");
                return std::nullopt;
            }
        }
        if (d.base && *d.base != store.current()) {
            fail(reply, d.revision, "base_mismatch",
                 "based on revision " + std::to_string(*d.base) + ", but this edge runs revision " +
                     std::to_string(store.current()));
            return std::nullopt;
        }
        auto parts = parse_managed(d.config, "revision " + std::to_string(d.revision), targets.check);
        if (!parts) {
            fail(reply, d.revision, "invalid", {}, parts.error());
            return std::nullopt;
        }
        if (parts->bridges) {
            auto& list = *parts->bridges;
            auto it = std::find_if(list.begin(), list.end(), [&](const auto& b) { return b.name == config.bridge; });
            if (it == list.end()) {
                fail(reply, d.revision, "invalid", {},
                     {"revision " + std::to_string(d.revision) + ": bridges: the fleet's bridge '" + config.bridge +
                      "' (fleet.bridge) must stay"});
                return std::nullopt;
            }
            FleetAgent::set_will(config, *it);
        }
        std::string in_force;
        if (store.current() != 0) {
            if (auto r = store.get(store.current())) in_force = r->effective;
        }
        auto merged = merge_managed(in_force, d.config);
        if (!merged) {
            fail(reply, d.revision, "invalid", merged.error());
            return std::nullopt;
        }
        return Checked{std::move(*parts), std::move(*merged)};
    }

    // ------------------------------------------------------------ requests
    void on_desired(std::string_view payload, bool retained, Reply reply) {
        auto d = decode_desired(payload);
        if (!d) return fail(reply, std::nullopt, "invalid", d.error());
        desired_revision = std::max(desired_revision.value_or(0), d->revision);
        tell_drift();
        if (retained && d->revision == store.current()) return;  // the one it runs, seen again at a reconnect
        // A revision this edge has already handled (refused, rolled back) comes
        // again: retained at every reconnect, or as a QoS 1 message delivered
        // again after a link that restarted before its PUBACK went out. The
        // same text is not a new request; its report stands.
        if (auto known = store.get(d->revision); known && (retained || known->sha256 == sha256_hex(d->config))) return;
        if (busy) return fail(reply, d->revision, "busy", "revision " + std::to_string(busy->revision) + " is being applied");
        if (d->revision <= store.highest_seen()) {
            return fail(reply, d->revision, "stale",
                        "revision " + std::to_string(d->revision) + " is not above " + std::to_string(store.highest_seen()) +
                            ", the highest this edge has seen");
        }
        report(reply, progress(d->revision, Phase::Received));
        report(reply, progress(d->revision, Phase::Validating));
        auto checked = check(*d, reply);
        if (!checked) {
            record_refused(*d);
            return;
        }
        begin_apply(d->revision, d->base, d->config, std::move(*checked), std::move(reply), false);
    }

    // A refused revision is kept too (the list shows it, and its retained message is not handled twice).
    void record_refused(const Desired& d) {
        store::Revision r;
        r.revision = d.revision;
        r.base = d.base;
        r.config = d.config;
        r.sha256 = sha256_hex(d.config);
        r.status = store::RevisionStatus::Failed;
        if (auto w = store.record(r, config.keep_revisions); !w) log::error("fleet: {}", w.error());
    }

    void on_command(std::string_view payload, Reply reply) {
        std::optional<std::string> id;
        auto c = decode_command(payload, id);
        reply.id = id;
        if (!c) return fail(reply, std::nullopt, "invalid", c.error());
        switch (c->op) {
            case CommandOp::DryRun: return dry_run(c->desired, std::move(reply));
            case CommandOp::Rollback: return start_rollback(c->to, std::move(reply));
            case CommandOp::Capture: return capture(std::move(reply));
            case CommandOp::Inspect: {
                auto inspection = hooks.inspect ? hooks.inspect() : std::nullopt;
                if (!inspection) return fail(reply, std::nullopt, "unsupported", "this edge has no health inspection");
                Progress p;
                p.phase = Phase::Done;
                p.inspection_json = *inspection;
                return report(reply, std::move(p));
            }
        }
    }

    void dry_run(const Desired& d, Reply reply) {
        report(reply, progress(d.revision, Phase::Validating));
        auto checked = check(d, reply);
        if (!checked) return;
        snapshot([self = shared_from_this(), reply = std::move(reply), revision = d.revision,
                  parts = std::move(checked->parts)](Running running) {
            Progress p;
            p.revision = revision;
            p.phase = Phase::Done;
            p.dry_run = true;
            p.diff_json = diff_json(diff_managed(running.managed(), parts));
            self->report(reply, std::move(p));
        });
    }

    void capture(Reply reply) {
        snapshot([self = shared_from_this(), reply = std::move(reply)](Running running) {
            Progress p;
            p.phase = Phase::Done;
            p.config = capture_toml(running.managed(), self->config.capture_secrets);
            self->report(reply, std::move(p));
        });
    }

    void start_rollback(int64_t to, Reply reply) {
        if (busy) return fail(reply, to, "busy", "revision " + std::to_string(busy->revision) + " is being applied");
        ManagedConfig target = base;
        std::string effective;
        if (to != 0) {
            auto r = store.get(to);
            if (!r || r->effective.empty()) {
                return fail(reply, to, "unknown_revision", "revision " + std::to_string(to) + " is not kept on this edge");
            }
            auto parts = parse_managed(r->effective, "revision " + std::to_string(to), targets.check);
            if (!parts) return fail(reply, to, "invalid", {}, parts.error());
            if (parts->devices) target.devices = std::move(parts->devices);
            if (parts->rules) target.rules = std::move(parts->rules);
            if (parts->bridges) target.bridges = std::move(parts->bridges);
            if (parts->users) target.users = std::move(parts->users);
            if (parts->acl) target.acl = std::move(parts->acl);
            effective = r->effective;
        }
        for (auto& b : *target.bridges) {
            if (b.name == config.bridge) FleetAgent::set_will(config, b);
        }
        report(reply, progress(to, Phase::Received));
        begin_apply(to, std::nullopt, {}, Checked{std::move(target), std::move(effective)}, std::move(reply), true);
    }

    // ------------------------------------------------------------ snapshot
    // What runs now, gathered from each module on its loop; `then` on ours.
    void snapshot(std::function<void(Running)> then) {
        auto self = shared_from_this();
        asio::post(*targets.devices_loop, [self, then = std::move(then)]() mutable {
            Running r;
            for (const drivers::Device* d : self->targets.devices->devices()) {
                r.devices.emplace_back(d->config(), self->targets.devices->source(d->config().name));
            }
            asio::post(*self->targets.rules_loop, [self, r = std::move(r), then = std::move(then)]() mutable {
                for (const auto& s : self->targets.rules->status()) {
                    if (const RuleConfig* c = self->targets.rules->find(s.id)) r.rules.emplace_back(*c, s.source);
                }
                asio::post(self->io, [self, r = std::move(r), then = std::move(then)]() mutable {
                    for (const auto& b : *self->targets.bridges) r.bridges.push_back(b->config());
                    {
                        std::lock_guard lock(self->auth_mutex);
                        const auth::AuthConfig file = self->targets.file_auth();
                        r.users = self->fleet_users ? *self->fleet_users : file.users;
                        r.acl = self->fleet_acl ? *self->fleet_acl : file.acl;
                    }
                    then(std::move(r));
                });
            });
        });
    }

    // ------------------------------------------------------------ applying
    // Sets every kind `t` holds, in order (devices, rules, bridges, auth); `done`
    // gets "" or the first refusal.
    void set_all(Target t, std::function<void(std::string)> done) {
        auto self = shared_from_this();
        auto after_devices = [self, t, done = std::move(done)](std::string error) mutable {
            if (!error.empty()) return done(std::move(error));
            auto devices_done = [self, t, done = std::move(done)](std::string error) mutable {
                if (!error.empty()) return done(std::move(error));
                if (t.bridges) {
                    auto e = set_bridges(*self->targets.bridges, *t.bridges, self->io, *self->targets.router,
                                         self->targets.data_dir, self->targets.node, self->retired_bridges,
                                         self->targets.bridges_mutex);
                    // Even after a refusal: the list may have changed part way.
                    if (self->targets.bridges_changed) self->targets.bridges_changed(*self->targets.bridges);
                    if (!e.empty()) return done(std::move(e));
                }
                if (t.users || t.acl) {
                    if (auto e = self->set_auth(t.users, t.acl); !e.empty()) return done(std::move(e));
                }
                done({});
            };
            if (!t.rules) return devices_done({});
            asio::post(*self->targets.rules_loop, [self, rules = *t.rules, next = std::move(devices_done)]() mutable {
                std::string e = set_rules(*self->targets.rules, rules);
                asio::post(self->io, [e = std::move(e), next = std::move(next)]() mutable { next(std::move(e)); });
            });
        };
        if (!t.devices) return after_devices({});
        asio::post(*targets.devices_loop, [self, devices = *t.devices, next = std::move(after_devices)]() mutable {
            std::string e = set_devices(*self->targets.devices, devices);
            asio::post(self->io, [e = std::move(e), next = std::move(next)]() mutable { next(std::move(e)); });
        });
    }

    std::string set_auth(const std::optional<std::vector<auth::UserConfig>>& users,
                         const std::optional<std::vector<auth::AclRuleConfig>>& acl) {
        std::lock_guard lock(auth_mutex);
        auth::AuthConfig next = targets.file_auth();
        auto new_users = users ? users : fleet_users;
        auto new_acl = acl ? acl : fleet_acl;
        if (new_users) next.users = *new_users;
        if (new_acl) next.acl = *new_acl;
        if (auto r = targets.auth->reload(next); !r) return "users and acl: " + r.error();
        fleet_users = std::move(new_users);
        fleet_acl = std::move(new_acl);
        return {};
    }

    void begin_apply(int64_t revision, std::optional<int64_t> base_rev, const std::string& text, Checked checked,
                     Reply reply, bool is_rollback) {
        if (!is_rollback) {
            store::Revision r;
            r.revision = revision;
            r.base = base_rev;
            r.config = text;
            r.effective = checked.effective;
            r.sha256 = sha256_hex(text);
            r.status = store::RevisionStatus::Applying;
            if (auto w = store.record(r, config.keep_revisions); !w) {
                return fail(reply, revision, "apply_failed", w.error());
            }
        } else if (revision != 0) {
            (void)store.set_status(revision, store::RevisionStatus::Applying);
        }
        busy.emplace();
        busy->revision = revision;
        busy->reply = std::move(reply);
        busy->effective = checked.effective;
        busy->is_rollback = is_rollback;
        busy->target = target_of(checked.parts);
        report(busy->reply, progress(revision, Phase::Applying));
        snapshot([self = shared_from_this(), parts = std::move(checked.parts)](Running running) mutable {
            Apply& a = *self->busy;
            ManagedDiff d = diff_managed(running.managed(), parts);
            if (d.devices) {
                a.watched.devices = d.devices->added;
                a.watched.devices.insert(a.watched.devices.end(), d.devices->changed.begin(), d.devices->changed.end());
            }
            if (d.rules) {
                a.watched.rules = d.rules->added;
                a.watched.rules.insert(a.watched.rules.end(), d.rules->changed.begin(), d.rules->changed.end());
            }
            if (d.bridges) {
                const auto& ch = d.bridges->changed;
                a.watched.fleet_bridge_changed = std::find(ch.begin(), ch.end(), self->config.bridge) != ch.end();
            }
            a.before = std::move(running);
            log::info("fleet: applying revision {}: {}", a.revision, diff_json(d));
            self->set_all(a.target, [self](std::string error) {
                if (!error.empty()) return self->rollback_now("apply_failed", error);
                self->start_probe();
            });
        });
    }

    void start_probe() {
        Apply& a = *busy;
        a.probing = true;
        if (a.revision != 0) (void)store.set_status(a.revision, store::RevisionStatus::Probing);
        report(a.reply, progress(a.revision, Phase::Probing));
        probe_timer.expires_after(config.probe_window);
        probe_timer.async_wait([self = shared_from_this(), revision = a.revision](const boost::system::error_code& ec) {
            if (ec || !self->busy || self->busy->revision != revision) return;
            self->end_probe();
        });
    }

    // The probe's verdict: the fleet bridge up, the new and changed devices
    // connected, the new and changed rules without errors.
    void end_probe() {
        bridge::Bridge* b = fleet_bridge();
        if (b == nullptr || !b->connected()) {
            std::string last = b ? b->status().last_error : std::string("it is gone");
            return rollback_now("probe_failed", "bridge '" + config.bridge + "' did not connect within the probe" +
                                                    (last.empty() ? std::string() : " (last error: " + last + ")"));
        }
        auto self = shared_from_this();
        asio::post(*targets.devices_loop, [self, watched = busy->watched]() {
            std::string problem;
            for (const auto& name : watched.devices) {
                const drivers::Device* d = self->targets.devices->find(name);
                if (d == nullptr || !d->config().enabled || d->state() == drivers::LinkState::Connected) continue;
                problem = "device '" + name + "' is " + std::string(drivers::link_state_name(d->state())) +
                          (d->last_error().empty() ? std::string() : " (" + d->last_error() + ")");
                break;
            }
            asio::post(*self->targets.rules_loop, [self, watched, problem]() mutable {
                for (const auto& id : watched.rules) {
                    if (!problem.empty()) break;
                    auto s = self->targets.rules->status(id);
                    if (!s) continue;
                    uint64_t errors = 0;
                    for (uint64_t e : s->counters.errors) errors += e;
                    if (errors > 0) {
                        problem = "rule '" + id + "' had " + std::to_string(errors) + " errors (last: " +
                                  s->counters.last_error + ")";
                    }
                }
                asio::post(self->io, [self, problem]() {
                    // A lost link may have started the rollback meanwhile.
                    if (!self->busy || !self->busy->probing) return;
                    if (!problem.empty()) return self->rollback_now("probe_failed", problem);
                    self->finish();
                });
            });
        });
    }

    void finish() {
        Apply a = std::move(*busy);
        busy.reset();
        if (auto r = store.make_current(a.revision); !r) log::error("fleet: {}", r.error());
        Progress p = progress(a.revision, Phase::Done);
        last_apply = p;
        log::info("fleet: revision {} applied", a.revision);
        report(a.reply, p);
        publish_state();
    }

    // Puts back what ran before the apply, then reports why.
    void rollback_now(std::string code, std::string reason) {
        if (!busy) return;
        probe_timer.cancel();
        busy->probing = false;
        Target undo = undo_of(busy->before, busy->target);
        log::warn("fleet: revision {} rolled back ({}): {}", busy->revision, code, reason);
        set_all(std::move(undo), [self = shared_from_this(), code, reason](std::string error) {
            if (!error.empty()) log::error("fleet: putting back the previous configuration failed: {}", error);
            Apply a = std::move(*self->busy);
            self->busy.reset();
            if (a.revision != 0 && a.revision != self->store.current()) {
                (void)self->store.set_status(a.revision, store::RevisionStatus::RolledBack, reason);
            } else if (a.revision == self->store.current()) {
                (void)self->store.set_status(a.revision, store::RevisionStatus::Applied);
            }
            Progress p = progress(a.revision, Phase::RolledBack, code, reason);
            self->last_apply = p;
            self->report(a.reply, p);
            self->publish_state();
        });
    }
};

FleetAgent::FleetAgent(asio::io_context& io, FleetConfig config, FleetStart start, FleetTargets targets, ManagedConfig base,
                       std::string version, FleetHooks hooks)
    : impl_(std::make_shared<Impl>(io, std::move(config), std::move(start), std::move(targets), std::move(base),
                                   std::move(version), std::move(hooks))) {
}

FleetAgent::~FleetAgent() = default;

std::expected<void, std::string> FleetAgent::start() {
    Impl& a = *impl_;
    if (!a.config.public_key.empty()) {
        auto key = SignatureKey::load(a.config.public_key);
        if (!key) return std::unexpected(key.error());
        a.key = std::move(*key);
    }
    bridge::Bridge* b = a.fleet_bridge();
    if (b == nullptr) return std::unexpected("fleet.bridge: no bridge named '" + a.config.bridge + "'");
    std::weak_ptr<Impl> weak = impl_;
    bridge::ControlChannel channel;
    channel.filters = {a.topic("desired"), a.topic("cmd")};
    channel.message = [weak](const bridge::ControlMessage& m) {
        if (auto self = weak.lock(); self && self->running) self->on_message(m);
    };
    channel.link = [weak](bool up, const std::string& why) {
        if (auto self = weak.lock(); self && self->running) self->on_link(up, why);
    };
    b->set_control(std::move(channel));
    a.running = true;
    a.arm_state_timer();
    // The first facts once the loops run (the app's inspector is made after this).
    asio::post(a.io, [weak] {
        if (auto self = weak.lock(); self && self->running) self->tell_drift();
    });
    log::info("fleet: edge '{}' of site '{}' on bridge '{}' (topics {}...), revision {}", a.config.edge, a.config.site,
              a.config.bridge, a.prefix, a.store.current());
    return {};
}

void FleetAgent::stop() {
    Impl& a = *impl_;
    if (!a.running) return;
    a.state_timer.cancel();
    a.probe_timer.cancel();
    if (bridge::Bridge* b = a.fleet_bridge()) {
        (void)b->publish_control(a.topic("state"), encode_offline(a.config.edge, a.config.site, unix_ms()), true);
    }
    a.running = false;
}

void FleetAgent::overlay_auth(auth::AuthConfig& file) const {
    std::lock_guard lock(impl_->auth_mutex);
    if (impl_->fleet_users) file.users = *impl_->fleet_users;
    if (impl_->fleet_acl) file.acl = *impl_->fleet_acl;
}

RevisionList FleetAgent::revisions() const { return impl_->store.list(); }
std::optional<store::Revision> FleetAgent::revision(int64_t n) const { return impl_->store.get(n); }
int64_t FleetAgent::current() const { return impl_->store.current(); }

std::expected<std::string, std::string> FleetAgent::diff(int64_t from, int64_t to) const {
    const Impl& a = *impl_;
    auto parts_of = [&a](int64_t n) -> std::expected<ManagedConfig, std::string> {
        ManagedConfig m = a.base;
        if (n == 0) return m;
        auto r = a.store.get(n);
        if (!r || r->effective.empty()) return std::unexpected("revision " + std::to_string(n) + " is not kept on this edge");
        auto parts = parse_managed(r->effective, "revision " + std::to_string(n), a.targets.check);
        if (!parts) return std::unexpected(parts.error().empty() ? std::string("invalid") : parts.error().front());
        if (parts->devices) m.devices = std::move(parts->devices);
        if (parts->rules) m.rules = std::move(parts->rules);
        if (parts->bridges) {
            m.bridges = std::move(parts->bridges);
            for (auto& b : *m.bridges) b.will_topic.clear(), b.will_payload.clear(), b.will_retain = false, b.will_qos = 0;
        }
        if (parts->users) m.users = std::move(parts->users);
        if (parts->acl) m.acl = std::move(parts->acl);
        return m;
    };
    auto a_parts = parts_of(from);
    if (!a_parts) return std::unexpected(a_parts.error());
    auto b_parts = parts_of(to);
    if (!b_parts) return std::unexpected(b_parts.error());
    return diff_json(diff_managed(*a_parts, *b_parts));
}

void FleetAgent::rollback(int64_t to, std::function<void(const Progress&)> done) {
    Impl::Reply reply;
    reply.done = std::move(done);
    impl_->start_rollback(to, std::move(reply));
}

}  // namespace ib::fleet
