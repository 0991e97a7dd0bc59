#include "rules/rule_engine.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <limits>

#include <sqlite3.h>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/quote.hpp"
#include "net/loop_check.hpp"
#include "rules/grpc_sink.hpp"
#include "rules/http_sink.hpp"
#include "rules/json_row.hpp"
#include "rules/output_template.hpp"
#include "rules/postgres_settings.hpp"
#include "rules/postgres_sink.hpp"
#include "rules/shared_document.hpp"
#include "store/row_tables.hpp"
#include "store/rule_state_store.hpp"
#include "store/sqlite_file.hpp"
#include "store/writer_thread.hpp"

namespace ib::rules {
namespace {

namespace asio = boost::asio;

std::string_view action_name(ActionKind k) {
    switch (k) {
        case ActionKind::Publish: return "publish";
        case ActionKind::Write: return "write";
        case ActionKind::Log: return "log";
        case ActionKind::Http: return "http";
        case ActionKind::Sqlite: return "sqlite";
        case ActionKind::Grpc: return "grpc";
        case ActionKind::Postgres: return "postgres";
    }
    return "?";
}

struct Action {
    ActionConfig config;
    OutputTemplate topic;
    OutputTemplate payload;
    ActionStatus status;
    HttpTarget http_target;
    std::unique_ptr<HttpSink> http;  // made when the rule runs, not when it is only checked
    // Http and grpc: rows of one key in order; the answer parsed into a row.
    OutputTemplate key;
    std::unique_ptr<JsonRow> answer;
    std::unique_ptr<Action> reply;  // http: publishes the answer to response_topic
    std::unique_ptr<GrpcSink> grpc;
    std::unique_ptr<PostgresSink> postgres;  // made once the rule's earlier version has let its queue go
};

bool calls_out(ActionKind k) { return k == ActionKind::Http || k == ActionKind::Grpc; }

// Their sinks report rows done when the far side has them, not when queued.
bool counts_later(ActionKind k) { return calls_out(k) || k == ActionKind::Postgres; }

// `after_call`: the action follows a grpc action, so its templates name the
// answer's fields, which are not known before it comes.
std::expected<Action, std::string> make_action(const ActionConfig& c, const Rule& rule, bool after_call) {
    Action a;
    a.config = c;
    a.status.kind = std::string(action_name(c.kind));
    const std::string& topic_text = c.kind == ActionKind::Write ? c.device : c.topic;
    auto topic = OutputTemplate::parse(topic_text);
    if (!topic) return std::unexpected(std::string(action_name(c.kind)) + " action: " + topic.error());
    auto payload = OutputTemplate::parse(c.payload);
    if (!payload) return std::unexpected(std::string(action_name(c.kind)) + " action: payload: " + payload.error());
    a.topic = std::move(*topic);
    a.payload = std::move(*payload);
    if (calls_out(c.kind)) {
        auto key = OutputTemplate::parse(c.call.key);
        if (!key) return std::unexpected(std::string(action_name(c.kind)) + " action: key: " + key.error());
        a.key = std::move(*key);
        a.answer = std::make_unique<JsonRow>();
    }
    if (!rule.select_star() && !after_call) {
        auto cols = rule.columns();
        for (const auto* t : {&a.topic, &a.payload, &a.key}) {
            for (const std::string& name : t->columns()) {
                if (std::find(cols.begin(), cols.end(), name) == cols.end()) {
                    return std::unexpected(std::string(action_name(c.kind)) + " action: ${" + name +
                                           "} is not a column of the rule's SELECT");
                }
            }
        }
    }
    if (c.kind == ActionKind::Http) {
        auto target = parse_http_url(c.url);
        if (!target) return std::unexpected("http action: url " + ib::quoted(c.url) + ": " + target.error());
        target->method = c.method;
        target->timeout = std::chrono::milliseconds(c.timeout_ms);
        target->retries = c.retries;
        target->max_queue = c.max_queue;
        target->concurrency = c.call.concurrency;
        target->ca_file = c.call.ca_file;
        target->cert_file = c.call.cert_file;
        target->key_file = c.call.key_file;
        for (const std::string& h : c.call.headers) {
            const auto colon = h.find(':');
            const auto value = h.find_first_not_of(' ', colon + 1);
            target->headers.emplace_back(h.substr(0, colon), value == std::string::npos ? "" : h.substr(value));
        }
        a.http_target = std::move(*target);
        if (!c.call.response_topic.empty()) {
            ActionConfig publish;
            publish.kind = ActionKind::Publish;
            publish.topic = c.call.response_topic;
            publish.payload = c.call.response_template;
            auto reply = make_action(publish, rule, true);
            if (!reply) return std::unexpected("http action: response_topic: " + reply.error());
            a.reply = std::make_unique<Action>(std::move(*reply));
        }
    }
    if (c.kind == ActionKind::Sqlite && !store::valid_table_name(c.table)) {
        return std::unexpected("sqlite action: " + ib::quoted(c.table) +
                               " is not a table name: a letter or '_', then letters, digits or '_' (at most 64)");
    }
    if (c.kind == ActionKind::Postgres) {
        if (std::string why = check_postgres_action(c.postgres, rule, after_call); !why.empty()) return std::unexpected("postgres action: " + why);
    }
    if (c.kind == ActionKind::Write && !c.tag.empty() && rule.columns().size() != 1) {
        auto cols = rule.columns();
        if (std::find(cols.begin(), cols.end(), "value") == cols.end()) {
            return std::unexpected("write action with a tag: the rule needs one column, or one named 'value'");
        }
    }
    return a;
}

// The rule's actions in order; those after a grpc action name its answer's fields.
std::expected<std::vector<Action>, std::string> make_actions(const RuleConfig& config, const Rule& rule) {
    std::vector<Action> out;
    bool after_call = false;
    for (const auto& a : config.actions) {
        auto made = make_action(a, rule, after_call);
        if (!made) return std::unexpected("rule " + ib::quoted(config.id) + ": " + made.error());
        out.push_back(std::move(*made));
        after_call = after_call || a.kind == ActionKind::Grpc;
    }
    return out;
}

// What a checkpoint belongs to: state saved under other SQL or options is not restored.
std::string fingerprint(const RuleConfig& c) {
    return c.sql + "\n" + c.event_time + "\n" + std::to_string(c.late_tolerance_ms);
}

}  // namespace

std::expected<std::unique_ptr<Rule>, std::string> compile_rule(const RuleConfig& config) {
    RuleOptions options;
    options.event_time_field = config.event_time;
    options.late_tolerance_ms = config.late_tolerance_ms;
    auto rule = Rule::compile(config.sql, options);
    if (!rule) return std::unexpected("rule " + ib::quoted(config.id) + ": " + rule.error());
    if (auto actions = make_actions(config, **rule); !actions) return std::unexpected(actions.error());
    return rule;
}

struct RuleEngine::Impl {
    struct Running {
        RuleConfig config;
        bool from_file = false;
        RuleSource source = RuleSource::Api;
        std::unique_ptr<Rule> rule;
        std::vector<Action> actions;
        mqtt::broker::SubscriberId sub = 0;
        bool subscribed = false;
        double latency_sum_us = 0;
        uint64_t latency_n = 0;
        double latency_max_us = 0;
    };

    asio::io_context& io;
    // The message being handed to its rules, parsed once for all of them.
    SharedDocument shared_doc;
    mqtt::broker::Router& router;
    BusTopics bus;
    Persistence persistence;
    std::string data_dir;
    std::vector<std::unique_ptr<Running>> rules;
    asio::steady_timer timer;
    asio::steady_timer checkpoint_timer;
    asio::steady_timer row_timer;
    // SQLite: read on this loop (at start, and when a rule is added), written only
    // by `writer`, in the order the loop submitted (the connections are in
    // SQLite's serialized mode, so the rare read beside a write is safe).
    std::optional<store::RuleStateStore> state;
    bool checkpoint_failed = false;  // the writer's
    std::unique_ptr<store::RowTables> row_tables;  // data_dir/rules.db, opened by the first sqlite action
    bool row_tables_failed = false;  // the writer's
    int64_t armed_for = std::numeric_limits<int64_t>::max();
    bool stopped = false;
    std::string topic_buf, payload_buf, missing, write_buf, key_buf;
    // Last, so it is destroyed first: it runs what is queued, using the stores above.
    std::unique_ptr<store::WriterThread> writer;

    Impl(asio::io_context& i, mqtt::broker::Router& r, BusTopics p, Persistence per, std::string dir)
        : io(i),
          router(r),
          bus(std::move(p)),
          persistence(std::move(per)),
          data_dir(std::move(dir)),
          timer(i),
          checkpoint_timer(i),
          row_timer(i) {
        if (!data_dir.empty()) writer = std::make_unique<store::WriterThread>("ib-rules-store");
    }

    void restore(Running& r) {
        if (!state || !r.rule->stateful()) return;
        auto saved = state->load(r.config.id);
        if (!saved) return;
        if (saved->first != fingerprint(r.config)) {
            log::info("rule '{}': its checkpoint is of an earlier version of the rule; windows start empty", r.config.id);
            return;
        }
        if (r.rule->restore_state(saved->second)) {
            log::info("rule '{}': window and change state restored from the last checkpoint ({} bytes)", r.config.id,
                      saved->second.size());
        } else {
            log::error("rule '{}': its checkpoint is damaged and was ignored; windows start empty", r.config.id);
        }
    }

    // The state is saved here, on the loop that owns it; the writer thread
    // writes the snapshot.
    void checkpoint() {
        if (!state) return;
        struct Saved {
            std::string id, fingerprint, state;
        };
        std::vector<Saved> dirty;
        for (const auto& r : rules) {
            if (!r->rule->stateful() || !r->rule->state_dirty()) continue;
            dirty.push_back(Saved{r->config.id, fingerprint(r->config), r->rule->save_state()});
        }
        if (dirty.empty()) return;
        writer->submit([this, dirty = std::move(dirty), now = unix_ms()] {
            bool ok = state->begin();
            for (const Saved& d : dirty) {
                if (!ok) break;
                ok = state->put(d.id, d.fingerprint, d.state, now);
            }
            ok = ok && state->commit();
            if (!ok) {
                state->rollback();
                if (!checkpoint_failed) log::error("rules: cannot write the checkpoint: {}", state->error());
            } else if (checkpoint_failed) {
                log::info("rules: checkpoints are written again");
            }
            checkpoint_failed = !ok;
        });
    }

    void schedule_checkpoint() {
        checkpoint_timer.expires_after(std::chrono::seconds(1));
        checkpoint_timer.async_wait([this](const boost::system::error_code& ec) {
            if (ec || stopped) return;
            checkpoint();
            schedule_checkpoint();
        });
    }

    void forget_state(std::string_view id) {
        if (state) writer->submit([this, id = std::string(id)] { state->erase(id); });
    }

    // The state file is opened when the first stateful rule appears.
    void ensure_state(const Running& r) {
        if (state || data_dir.empty() || !r.rule->stateful()) return;
        auto st = store::RuleStateStore::open(data_dir + "/rules-state.db");
        if (!st) {
            log::error("rules: cannot open the state file, windows will not survive a restart: {}", st.error());
            return;
        }
        state.emplace(std::move(*st));
    }

    Running* find(std::string_view id) {
        for (auto& r : rules) {
            if (r->config.id == id) return r.get();
        }
        return nullptr;
    }

    std::expected<std::unique_ptr<Running>, std::string> make(RuleConfig config, bool from_file) {
        auto rule = compile_rule(config);
        if (!rule) return std::unexpected(rule.error());
        auto r = std::make_unique<Running>();
        r->rule = std::move(*rule);
        r->actions = std::move(*make_actions(config, *r->rule));
        r->config = std::move(config);
        r->from_file = from_file;
        r->source = from_file ? RuleSource::File : RuleSource::Api;
        Running* raw = r.get();
        for (std::size_t i = 0; i < r->actions.size(); ++i) {
            Action& a = r->actions[i];
            if (auto made = make_call(*raw, i); !made) {
                return std::unexpected("rule " + ib::quoted(r->config.id) + ": " + a.status.kind + " action: " + made.error());
            }
            if (a.config.kind == ActionKind::Sqlite && !open_row_tables()) {
                return std::unexpected("rule " + ib::quoted(r->config.id) + ": sqlite action: no data directory to keep rules.db in");
            }
            if (a.config.kind == ActionKind::Postgres && data_dir.empty()) {
                return std::unexpected("rule " + ib::quoted(r->config.id) + ": postgres action: no data directory to keep its queue in");
            }
            if (a.config.kind == ActionKind::Postgres) {
                if (auto pg = plugin::postgres_plugin(); !pg) {
                    return std::unexpected("rule " + ib::quoted(r->config.id) + ": postgres action: " + pg.error());
                }
            }
        }
        r->rule->on_emit([this, raw](const OutputRow& row) { act(*raw, row); });
        return r;
    }

    std::expected<void, std::string> subscribe(Running& r) {
        if (r.subscribed || !r.config.enabled) return {};
        Running* raw = &r;
        auto id = router.subscribe(r.rule->from(), io, [this, raw](const mqtt::broker::Message& m) { on_message(*raw, m); });
        if (!id) return std::unexpected("rule " + ib::quoted(r.config.id) + ": FROM " + ib::quoted(r.rule->from()) + ": " + id.error());
        r.sub = *id;
        r.subscribed = true;
        return {};
    }

    void unsubscribe(Running& r) {
        if (!r.subscribed) return;
        router.unsubscribe(r.sub);
        r.subscribed = false;
    }

    void on_message(Running& r, const mqtt::broker::Message& m) {
        if (stopped) return;
        const auto started = std::chrono::steady_clock::now();
        r.rule->on_message(m.topic(), m.payload(), unix_ms(), shared_doc.load(m) ? &shared_doc : nullptr);
        const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
        r.latency_sum_us += us;
        ++r.latency_n;
        r.latency_max_us = std::max(r.latency_max_us, us);
        if (r.rule->windowed()) arm();
    }

    void act(Running& r, const OutputRow& row) { act_from(r, 0, row); }

    // The actions from `first` on; those after a grpc action run on its answer, later.
    void act_from(Running& r, std::size_t first, const OutputRow& row) {
        for (std::size_t i = first; i < r.actions.size(); ++i) {
            Action& a = r.actions[i];
            std::string error = run_action(r, a, row);
            if (!error.empty()) {
                count_error(r, a, error);
            } else if (!counts_later(a.config.kind)) {
                ++a.status.done;
            }
            if (a.config.kind == ActionKind::Grpc) return;
        }
    }

    void count_error(Running& r, Action& a, const std::string& error) {
        ++a.status.errors;
        a.status.last_error = error;
        r.rule->count_action_error(a.status.kind + " action: " + error, unix_ms());
    }

    // The sink of the rule's action `index` when it calls a service; its outcomes
    // are counted on the action and the rule, and its answer continues.
    std::expected<void, std::string> make_call(Running& r, std::size_t index) {
        Action& a = r.actions[index];  // the vector is complete: its elements stay put
        Running* rule = &r;
        auto outcome = [this, rule, index](bool ok, const std::string& error, std::string_view answer) {
            Action& action = rule->actions[index];
            if (!ok) return count_error(*rule, action, error);
            ++action.status.done;
            if (action.reply || action.config.kind == ActionKind::Grpc) on_answer(*rule, action, index + 1, answer);
        };
        if (a.config.kind == ActionKind::Http) {
            auto sink = HttpSink::create(io, a.http_target, std::move(outcome));
            if (!sink) return std::unexpected(sink.error());
            a.http = std::move(*sink);
        } else if (a.config.kind == ActionKind::Grpc) {
            const CallConfig& c = a.config.call;
            plugin::GrpcTarget target{c.address, c.tls, c.ca_file, c.cert_file, c.key_file, c.proto, c.service, c.method};
            GrpcSink::Limits limits{std::chrono::milliseconds(a.config.timeout_ms), c.concurrency, a.config.max_queue};
            auto sink = GrpcSink::create(io, target, limits, std::move(outcome));
            if (!sink) return std::unexpected(sink.error());
            a.grpc = std::move(*sink);
        }
        return {};
    }

    // A call's answer goes on: published to the http action's response_topic, or
    // as the row of the actions after a grpc action.
    void on_answer(Running& r, Action& a, std::size_t next, std::string_view json) {
        if (stopped) return;
        if (std::string why = a.answer->parse(json); !why.empty()) return count_error(r, a, why);
        const OutputRow row = a.answer->row();
        if (!a.reply) return act_from(r, next, row);
        if (std::string error = run_action(r, *a.reply, row); !error.empty()) count_error(r, a, "response_topic: " + error);
    }

    bool open_row_tables() {
        if (row_tables) return true;
        if (data_dir.empty()) return false;
        auto t = store::RowTables::open(data_dir + "/rules.db");
        if (!t) {
            log::error("rules: cannot open {}/rules.db: {}", data_dir, t.error());
            return false;
        }
        row_tables = std::move(*t);
        schedule_row_commit();
        return true;
    }

    // Rows for sqlite actions are committed together every 100 ms; on failure (a
    // full disk) they wait, up to RowTables' bound, and the failure is logged once.
    void schedule_row_commit() {
        row_timer.expires_after(std::chrono::milliseconds(100));
        row_timer.async_wait([this](const boost::system::error_code& ec) {
            if (ec || stopped) return;
            commit_rows();
            schedule_row_commit();
        });
    }

    void commit_rows() {
        if (!row_tables || row_tables->pending() == 0) return;
        writer->submit([this] {
            auto n = row_tables->commit();
            if (!n && !row_tables_failed) log::error("rules: sqlite actions: {}; rows wait in memory", n.error());
            if (n && row_tables_failed) log::info("rules: sqlite actions write again");
            row_tables_failed = !n;
        });
    }

    // The queue file is the rule's and the action's: a rule replaced finds its
    // rows again, once the earlier version has closed it (so call this after).
    void open_postgres(Running& r) {
        for (size_t i = 0; i < r.actions.size(); ++i) {
            Action& a = r.actions[i];
            if (a.config.kind != ActionKind::Postgres || a.postgres) continue;
            Running* raw = &r;
            Action* action = &a;
            auto sink = PostgresSink::open(
                io, a.config.postgres, data_dir + "/rules-postgres-" + r.config.id + "-" + std::to_string(i + 1) + ".db",
                r.config.id, [raw, action](uint64_t written, const std::string& error, uint64_t failures) {
                    if (error.empty()) {
                        action->status.done += written;
                        return;
                    }
                    action->status.errors += failures;
                    action->status.last_error = error;
                    raw->rule->count_action_error("postgres action: " + error, unix_ms());
                });
            if (!sink) {
                log::error("rule '{}': postgres action: cannot open its queue: {}", r.config.id, sink.error());
                a.status.last_error = "cannot open its queue: " + sink.error();
                continue;
            }
            a.postgres = std::move(*sink);
        }
    }

    // "" or why the action failed for this row; http and postgres actions count their outcome later.
    std::string run_action(Running& r, Action& a, const OutputRow& row) {
        switch (a.config.kind) {
            case ActionKind::Postgres:
                if (!a.postgres) return a.status.last_error;
                a.postgres->write(row.json);
                return {};
            case ActionKind::Http:
            case ActionKind::Grpc: {
                std::string body(row.json);
                if (!a.payload.empty()) {
                    if (!a.payload.render(row, payload_buf, missing)) return "the row has no column '" + missing + "' for the body";
                    body = payload_buf;
                }
                if (!a.key.render(row, key_buf, missing)) return "the row has no column '" + missing + "' for the key";
                if (a.http) a.http->send(key_buf, std::move(body));
                if (a.grpc) a.grpc->send(key_buf, std::move(body));
                return {};
            }
            case ActionKind::Sqlite:
                if (!row_tables->append(a.config.table, a.config.max_rows, r.config.id, unix_ms(), row.json)) {
                    return "more than 100000 rows wait for the disk; row dropped";
                }
                return {};
            case ActionKind::Log:
                log::info("rule '{}': {}", r.config.id, row.json);
                return {};
            case ActionKind::Publish: {
                if (!a.topic.render(row, topic_buf, missing)) return "the row has no column '" + missing + "' for the topic";
                std::string_view payload = row.json;
                if (!a.payload.empty()) {
                    if (!a.payload.render(row, payload_buf, missing)) return "the row has no column '" + missing + "' for the payload";
                    payload = payload_buf;
                }
                mqtt::broker::PublishOptions o;
                o.qos = a.config.qos;
                o.retain = a.config.retain;
                auto p = router.publish(topic_buf, as_bytes(payload), o);
                return p ? std::string() : p.error();
            }
            case ActionKind::Write: {
                if (!a.topic.render(row, topic_buf, missing)) return "the row has no column '" + missing + "' for the device";
                if (!BusTopics::is_topic_level(topic_buf)) {
                    return "device name " + ib::quoted(topic_buf) + " is not a device name";
                }
                const std::string topic = bus.write(topic_buf);
                const std::string id = "rule-" + r.config.id + "-" + std::to_string(a.status.done + a.status.errors + 1);
                write_buf.clear();
                if (!a.config.tag.empty()) {
                    const Value* v = row.find("value");
                    if (v == nullptr && !row.values.empty()) v = &row.values[0];
                    if (v == nullptr) return "the row has no value to write";
                    payload_buf.clear();
                    append_json(payload_buf, *v);
                    encode_write_request(write_buf, id, a.config.tag, payload_buf);
                } else {
                    encode_write_request_values(write_buf, id, row.json);
                }
                auto p = router.publish(topic, as_bytes(write_buf), {});
                return p ? std::string() : p.error();
            }
        }
        return {};
    }

    // The timer wakes at the earliest window end of any rule.
    void arm() {
        int64_t next = std::numeric_limits<int64_t>::max();
        for (const auto& r : rules) {
            if (!r->subscribed) continue;
            if (auto d = r->rule->next_deadline()) next = std::min(next, *d);
        }
        if (next == std::numeric_limits<int64_t>::max() || next >= armed_for) return;
        armed_for = next;
        timer.expires_after(std::chrono::milliseconds(std::max<int64_t>(0, next - unix_ms())));
        timer.async_wait([this](const boost::system::error_code& ec) {
            if (ec || stopped) return;
            armed_for = std::numeric_limits<int64_t>::max();
            const int64_t now = unix_ms();
            for (auto& r : rules) {
                if (r->subscribed) r->rule->on_time(now);
            }
            arm();
        });
    }

    RuleStatus status_of(const Running& r) const {
        RuleStatus s;
        s.id = r.config.id;
        s.sql = r.config.sql;
        s.from_file = r.from_file;
        s.source = r.source;
        s.running = r.subscribed;
        s.counters = r.rule->counters();
        s.latency_avg_us = r.latency_n ? r.latency_sum_us / static_cast<double>(r.latency_n) : 0;
        s.latency_max_us = r.latency_max_us;
        for (const auto& a : r.actions) s.actions.push_back(a.status);
        return s;
    }
};

RuleEngine::RuleEngine(asio::io_context& io, mqtt::broker::Router& router, BusTopics bus, Persistence persistence,
                       std::string data_dir)
    : impl_(std::make_unique<Impl>(io, router, std::move(bus), std::move(persistence), std::move(data_dir))) {}

RuleEngine::~RuleEngine() { stop(); }

std::expected<void, std::string> RuleEngine::start(std::vector<RuleConfig> file_rules, std::vector<RuleConfig> stored_rules) {
    Impl& e = *impl_;
    for (auto& c : file_rules) {
        auto r = e.make(std::move(c), true);
        if (!r) return std::unexpected(r.error());
        e.rules.push_back(std::move(*r));
    }
    for (auto& c : stored_rules) {
        if (e.find(c.id) != nullptr) {
            log::error("rules: stored rule '{}' skipped: the config file defines a rule with that id", c.id);
            continue;
        }
        auto r = e.make(std::move(c), false);
        if (!r) {
            log::error("rules: stored rule skipped: {}", r.error());
            continue;
        }
        e.rules.push_back(std::move(*r));
    }
    const bool any_stateful =
        std::any_of(e.rules.begin(), e.rules.end(), [](const auto& r) { return r->rule->stateful(); });
    if (!e.data_dir.empty() && any_stateful) {
        auto st = store::RuleStateStore::open(e.data_dir + "/rules-state.db");
        if (!st) return std::unexpected("rules: cannot open the state file: " + st.error());
        e.state.emplace(std::move(*st));
    }
    for (auto& r : e.rules) {
        e.restore(*r);
        e.open_postgres(*r);
        if (auto s = e.subscribe(*r); !s) return std::unexpected(s.error());
    }
    if (!e.rules.empty()) log::info("rules: {} rules loaded", e.rules.size());
    if (!e.data_dir.empty()) e.schedule_checkpoint();
    e.arm();  // restored windows close on time even before a message arrives
    return {};
}

void RuleEngine::stop() {
    IB_ASSERT_ON_LOOP(impl_->io);
    Impl& e = *impl_;
    if (e.stopped) return;
    e.stopped = true;
    e.timer.cancel();
    e.checkpoint_timer.cancel();
    e.row_timer.cancel();
    for (auto& r : e.rules) e.unsubscribe(*r);
    for (auto& r : e.rules) {
        for (Action& a : r->actions) {
            if (a.postgres) a.postgres->finish();
        }
    }
    e.checkpoint();
    e.commit_rows();
    // The last checkpoint is on disk when stop() returns (once, at shutdown).
    if (e.writer) e.writer->drain();
}

std::expected<void, RuleError> RuleEngine::add(RuleConfig config, RuleSource by) {
    IB_ASSERT_ON_LOOP(impl_->io);
    Impl& e = *impl_;
    if (e.find(config.id) != nullptr) return std::unexpected(RuleError{RuleErrc::Exists, "a rule named '" + config.id + "' exists; use PUT to change it"});
    auto r = e.make(config, by == RuleSource::File);
    if (!r) return std::unexpected(RuleError{RuleErrc::Invalid, r.error()});
    (*r)->source = by;
    if (by == RuleSource::Api && e.persistence.put) {
        if (auto p = e.persistence.put(config); !p) return std::unexpected(RuleError{RuleErrc::Storage, "cannot store the rule: " + p.error()});
    }
    if (auto s = e.subscribe(**r); !s) return std::unexpected(RuleError{RuleErrc::Invalid, s.error()});
    e.ensure_state(**r);
    e.forget_state(config.id);  // a checkpoint of an earlier rule of that id
    e.open_postgres(**r);
    e.rules.push_back(std::move(*r));
    return {};
}

std::expected<void, RuleError> RuleEngine::replace(RuleConfig config, RuleSource by) {
    IB_ASSERT_ON_LOOP(impl_->io);
    Impl& e = *impl_;
    Impl::Running* old = e.find(config.id);
    if (old == nullptr) return std::unexpected(RuleError{RuleErrc::NotFound, "no rule named '" + config.id + "'"});
    if (by == RuleSource::Api && old->from_file) return std::unexpected(RuleError{RuleErrc::FromFile, "rule '" + config.id + "' is defined in the config file; change it there"});
    auto r = e.make(config, by == RuleSource::File);
    if (!r) return std::unexpected(RuleError{RuleErrc::Invalid, r.error()});
    (*r)->source = by;
    if (by == RuleSource::Api && e.persistence.put) {
        if (auto p = e.persistence.put(config); !p) return std::unexpected(RuleError{RuleErrc::Storage, "cannot store the rule: " + p.error()});
    }
    e.unsubscribe(*old);
    e.forget_state(config.id);
    e.ensure_state(**r);
    for (auto& slot : e.rules) {
        if (slot.get() == old) {
            slot = std::move(*r);
            e.open_postgres(*slot);
            if (auto s = e.subscribe(*slot); !s) return std::unexpected(RuleError{RuleErrc::Invalid, s.error()});
            break;
        }
    }
    return {};
}

std::expected<void, RuleError> RuleEngine::remove(std::string_view id, RuleSource by) {
    IB_ASSERT_ON_LOOP(impl_->io);
    Impl& e = *impl_;
    Impl::Running* r = e.find(id);
    if (r == nullptr) return std::unexpected(RuleError{RuleErrc::NotFound, "no rule named '" + std::string(id) + "'"});
    if (by == RuleSource::Api && r->from_file) return std::unexpected(RuleError{RuleErrc::FromFile, "rule '" + std::string(id) + "' is defined in the config file; remove it there"});
    if (by == RuleSource::Api && e.persistence.remove) {
        if (auto p = e.persistence.remove(id); !p) return std::unexpected(RuleError{RuleErrc::Storage, "cannot remove the stored rule: " + p.error()});
    }
    e.unsubscribe(*r);
    e.forget_state(id);
    std::erase_if(e.rules, [r](const auto& p) { return p.get() == r; });
    return {};
}

std::expected<void, RuleError> RuleEngine::set_running(std::string_view id, bool running) {
    IB_ASSERT_ON_LOOP(impl_->io);
    Impl& e = *impl_;
    Impl::Running* r = e.find(id);
    if (r == nullptr) return std::unexpected(RuleError{RuleErrc::NotFound, "no rule named '" + std::string(id) + "'"});
    if (r->config.enabled != running) {
        r->config.enabled = running;
        if (!r->from_file && e.persistence.put) {
            if (auto p = e.persistence.put(r->config); !p) return std::unexpected(RuleError{RuleErrc::Storage, "cannot store the rule: " + p.error()});
        }
    }
    if (running) {
        if (auto s = e.subscribe(*r); !s) return std::unexpected(RuleError{RuleErrc::Invalid, s.error()});
    } else {
        e.unsubscribe(*r);
    }
    return {};
}

std::vector<RuleStatus> RuleEngine::status() const {
    IB_ASSERT_ON_LOOP(impl_->io);
    std::vector<RuleStatus> out;
    for (const auto& r : impl_->rules) out.push_back(impl_->status_of(*r));
    return out;
}

std::optional<RuleStatus> RuleEngine::status(std::string_view id) const {
    IB_ASSERT_ON_LOOP(impl_->io);
    for (const auto& r : impl_->rules) {
        if (r->config.id == id) return impl_->status_of(*r);
    }
    return std::nullopt;
}

const RuleConfig* RuleEngine::find(std::string_view id) const {
    IB_ASSERT_ON_LOOP(impl_->io);
    for (const auto& r : impl_->rules) {
        if (r->config.id == id) return &r->config;
    }
    return nullptr;
}

namespace {

void collect_postgres_metrics(MetricSink& sink, const std::string& label, const PostgresFigures& f) {
    const auto C = MetricType::Counter;
    const auto G = MetricType::Gauge;
    sink.push_back({"ib_rule_postgres_rows_written_total", "Rows a postgres action committed in PostgreSQL", C, label,
                    static_cast<double>(f.written)});
    sink.push_back({"ib_rule_postgres_rows_refused_total", "Rows PostgreSQL refused (a value its column does not take)", C,
                    label, static_cast<double>(f.refused)});
    sink.push_back({"ib_rule_postgres_rows_dropped_total", "Rows a postgres action's full queue dropped or refused", C, label,
                    static_cast<double>(f.dropped)});
    sink.push_back({"ib_rule_postgres_queued_rows", "Rows in a postgres action's disk queue, not yet written", G, label,
                    static_cast<double>(f.queued_rows)});
    sink.push_back({"ib_rule_postgres_queued_bytes", "Bytes of rows in a postgres action's disk queue", G, label,
                    static_cast<double>(f.queued_bytes)});
    sink.push_back({"ib_rule_postgres_connected", "1 while a postgres action's last attempt found the server and the table ready",
                    G, label, f.connected ? 1.0 : 0.0});
}

}  // namespace

void RuleEngine::collect_metrics(MetricSink& sink) const {
    IB_ASSERT_ON_LOOP(impl_->io);
    const auto C = MetricType::Counter;
    const auto G = MetricType::Gauge;
    sink.push_back({"ib_rules_payload_parses_total",
                    "Message payloads parsed for the rules: once per message, however many rules read it", C, "",
                    static_cast<double>(impl_->shared_doc.parses())});
    for (const auto& r : impl_->rules) {
        const RuleStatus s = impl_->status_of(*r);
        const std::string label = "rule=" + ib::quoted(s.id);
        sink.push_back({"ib_rule_running", "1 while the rule is subscribed and processing", G, label, s.running ? 1.0 : 0.0});
        sink.push_back({"ib_rule_messages_in_total", "Messages the rule received", C, label, static_cast<double>(s.counters.in)});
        sink.push_back({"ib_rule_messages_filtered_total", "Messages dropped by the rule's WHERE", C, label,
                        static_cast<double>(s.counters.filtered)});
        sink.push_back({"ib_rule_rows_out_total", "Rows the rule emitted to its actions", C, label, static_cast<double>(s.counters.out)});
        sink.push_back({"ib_rule_late_total", "Event-time messages that arrived after their window closed", C, label,
                        static_cast<double>(s.counters.late)});
        for (int k = 0; k < kErrorKinds; ++k) {
            sink.push_back({"ib_rule_errors_total", "Messages the rule failed on, by kind", C,
                            label + ",kind=\"" + std::string(rule_error_kind_name(k)) + "\"", static_cast<double>(s.counters.errors[k])});
        }
        sink.push_back({"ib_rule_latency_avg_microseconds", "Mean processing time per message", G, label, s.latency_avg_us});
        sink.push_back({"ib_rule_latency_max_microseconds", "Longest processing time of one message", G, label, s.latency_max_us});
        for (const Action& a : r->actions) {
            if (a.postgres) collect_postgres_metrics(sink, label + ",table=" + ib::quoted(a.config.postgres.table), a.postgres->figures());
        }
    }
}

std::expected<TestOutcome, std::string> test_rule(const RuleConfig& config, const std::vector<SampleMessage>& samples) {
    auto rule = compile_rule(config);
    if (!rule) return std::unexpected(rule.error());
    TestOutcome out;
    (*rule)->on_emit([&out](const OutputRow& row) { out.rows.emplace_back(row.json); });
    int64_t clock = 0;
    for (const auto& s : samples) {
        clock = std::max(clock, s.at_ms);
        const RuleCounters before = (*rule)->counters();
        uint64_t errors_before = 0;
        for (uint64_t e : before.errors) errors_before += e;
        (*rule)->on_message(s.topic, as_bytes(std::string_view(s.payload)), clock);
        uint64_t errors_after = 0;
        for (uint64_t e : (*rule)->counters().errors) errors_after += e;
        if (errors_after > errors_before) out.errors.push_back(s.topic + ": " + (*rule)->counters().last_error);
    }
    (*rule)->flush();
    out.counters = (*rule)->counters();
    return out;
}

}  // namespace ib::rules
