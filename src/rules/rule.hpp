// One compiled rule at run time: messages in, rows out. Stateless rules filter
// and project each message; window rules group messages by key into windows
// (tumbling, hopping, sliding, session, count) and emit one row per group when a
// window closes. No I/O, no clock of its own, no threads: the engine (or a test)
// feeds messages and time, so the same code runs live and in data-file tests.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "rules/value.hpp"

namespace ib::rules {

class SharedDocument;

struct RuleOptions {
    // Event time: windows follow this payload field (Unix milliseconds) instead
    // of the receive time, and close when the newest event time is past their end
    // by late_tolerance_ms; a message for a window already closed is late: counted, dropped.
    std::string event_time_field;
    int64_t late_tolerance_ms = 0;
    // Groups one window holds; a message that would open one more is an error.
    uint32_t max_groups = 100'000;
};

// One emitted row, valid during the emit callback only.
struct OutputRow {
    std::string_view json;  // the row as a JSON object
    std::span<const std::string> names;
    std::span<const Value> values;  // parallel to names; `*` columns are only in json
    const Value* find(std::string_view name) const;
};

inline constexpr int kErrorKinds = 6;  // evaluator.hpp ErrorKind::Count

struct RuleCounters {
    uint64_t in = 0;        // messages seen
    uint64_t filtered = 0;  // dropped by WHERE
    uint64_t out = 0;       // rows emitted
    uint64_t late = 0;      // event-time messages for a window already closed
    uint64_t errors[kErrorKinds] = {};
    std::string last_error;
    int64_t last_error_ms = 0;
};
std::string_view rule_error_kind_name(int kind);

class Rule {
public:
    // The error is "line:column: what was expected", e.g.
    // "1:38: unknown function 'avgg' (did you mean 'avg'?)".
    static std::expected<std::unique_ptr<Rule>, std::string> compile(std::string_view sql, RuleOptions options = {});
    ~Rule();
    Rule(const Rule&) = delete;
    Rule& operator=(const Rule&) = delete;

    const std::string& from() const;  // the topic filter
    const std::string& sql() const;
    bool windowed() const;
    // The named output columns, in order; select_star() when `*` adds the payload's own.
    std::span<const std::string> columns() const;
    bool select_star() const;

    // Set once; called for each row, in order.
    void on_emit(std::function<void(const OutputRow&)> emit);

    // `shared`, when given, holds this payload already parsed (RuleEngine parses
    // a message once for all its rules); otherwise the rule parses it itself.
    void on_message(std::string_view topic, std::span<const std::byte> payload, int64_t now_ms,
                    SharedDocument* shared = nullptr);
    // Closes the processing-time windows due by now_ms.
    void on_time(int64_t now_ms);
    // When on_time next has something to do; nullopt: nothing is waiting on time.
    std::optional<int64_t> next_deadline() const;
    // Closes every open window, as at the end of a test's input.
    void flush();

    // The state that must survive a restart (windows, change detection, the
    // event-time watermark), as bytes for the engine's checkpoint; restore_state()
    // refuses bytes it cannot read whole (the rule then starts empty).
    std::string save_state() const;
    bool restore_state(std::string_view bytes);
    // Whether anything changed since the last save_state().
    bool state_dirty() const;
    // Whether the rule keeps state across messages (a window, change detection).
    bool stateful() const;

    // Counts an action's failure against this rule (the rule itself has no actions).
    void count_action_error(std::string message, int64_t now_ms);

    const RuleCounters& counters() const;

private:
    struct Impl;
    explicit Rule(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ib::rules
