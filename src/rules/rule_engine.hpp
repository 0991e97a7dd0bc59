// Runs the node's rules on the in-process bus: each rule subscribes to its FROM
// filter through the Router, its rows go to its actions (publish, write to a
// device, log), and its windows close on a timer. Rules come from the config
// file and from the REST API (persisted through the caller's hooks). Everything
// runs on one event loop (loop 0, with the Router's in-process subscribers and
// the API), so nothing here takes a lock. Asio stays in the .cpp.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bus.hpp"
#include "core/metrics.hpp"
#include "mqtt/broker/router.hpp"
#include "rules/rule.hpp"
#include "rules/rule_config.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::rules {

struct ActionStatus {
    std::string kind;
    uint64_t done = 0;
    uint64_t errors = 0;
    std::string last_error;
};

// Who made a rule: the file, the API (kept in the data directory), or a fleet
// revision (kept by the fleet in fleet.db, not here).
enum class RuleSource : uint8_t { File, Api, Fleet };

struct RuleStatus {
    std::string id;
    std::string sql;
    bool from_file = false;
    RuleSource source = RuleSource::Api;
    bool running = false;
    RuleCounters counters;
    double latency_avg_us = 0;  // time from a message's arrival to its rows handed to the actions
    double latency_max_us = 0;
    std::vector<ActionStatus> actions;
};

// Why a change to the rules was refused; the API maps each kind to its HTTP status.
enum class RuleErrc : uint8_t {
    Invalid,   // the rule does not compile, or its FROM filter is refused
    NotFound,  // no rule of that id
    Exists,    // a rule of that id exists already
    FromFile,  // the rule is defined in the config file, not changeable here
    Storage,   // the change could not be kept in the data directory
};

struct RuleError {
    RuleErrc kind = RuleErrc::Invalid;
    std::string message;
};

class RuleEngine {
public:
    struct Persistence {
        std::function<std::expected<void, std::string>(const RuleConfig&)> put;
        std::function<std::expected<void, std::string>(std::string_view id)> remove;
    };

    // `bus` names the topics: write actions publish to `<prefix>/write/<device>`.
    // The state of windows and change detection is checkpointed every second and at
    // stop() to `<data_dir>/rules-state.db`, and restored at start() for every rule
    // whose SQL and options are unchanged; "" keeps no checkpoint (tests).
    RuleEngine(boost::asio::io_context& io, mqtt::broker::Router& router, BusTopics bus, Persistence persistence,
               std::string data_dir = {});
    ~RuleEngine();
    RuleEngine(const RuleEngine&) = delete;
    RuleEngine& operator=(const RuleEngine&) = delete;

    // Rules from the file must all compile (a bad one stops the start, with its
    // id and the error); stored rules that no longer compile are logged and skipped.
    std::expected<void, std::string> start(std::vector<RuleConfig> file_rules, std::vector<RuleConfig> stored_rules);
    // Unsubscribes every rule and writes the last checkpoint.
    void stop();

    // Through the API; persisted. The file's rules cannot be replaced or deleted.
    // `by` Api (the REST API) refuses to touch the file's rules and keeps the
    // change in the data directory; the fleet (and its undo, which puts back each
    // rule with the source it had) changes any rule and keeps nothing.
    std::expected<void, RuleError> add(RuleConfig config, RuleSource by = RuleSource::Api);
    std::expected<void, RuleError> replace(RuleConfig config, RuleSource by = RuleSource::Api);
    std::expected<void, RuleError> remove(std::string_view id, RuleSource by = RuleSource::Api);
    // Start or stop a rule (not persisted for the file's rules).
    std::expected<void, RuleError> set_running(std::string_view id, bool running);

    std::vector<RuleStatus> status() const;
    std::optional<RuleStatus> status(std::string_view id) const;
    const RuleConfig* find(std::string_view id) const;
    void collect_metrics(MetricSink& sink) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A sample for POST /api/v1/rules/test: a topic, a payload, and when it arrives.
struct SampleMessage {
    std::string topic;
    std::string payload;
    int64_t at_ms = 0;
};

struct TestOutcome {
    std::vector<std::string> rows;    // as JSON, in order; every window is closed at the end
    std::vector<std::string> errors;  // one line per message that failed
    RuleCounters counters;
};

// Runs a rule over samples without touching the bus. The error is the rule's
// compile error.
std::expected<TestOutcome, std::string> test_rule(const RuleConfig& config, const std::vector<SampleMessage>& samples);

// A compile check with the message a user sees: `rule "hot": 1:38: ...`; also
// checks that the actions' templates name columns the rule produces.
std::expected<std::unique_ptr<Rule>, std::string> compile_rule(const RuleConfig& config);

}  // namespace ib::rules
