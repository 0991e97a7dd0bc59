// The rule dialect's functions: one table of scalar functions (name, arity, the
// code), one of aggregates, and the change-detection functions that keep state
// per group key. The compiler resolves names here; adding a function is adding
// a row (ARCHITECTURE.md "Adding a rule function").
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "rules/evaluator.hpp"

namespace ib::rules {

using ScalarFn = EvalResult (*)(std::span<const Value> args, EvalContext& ctx, const Expr& call);

struct ScalarFunction {
    std::string_view name;
    uint8_t min_args;
    uint8_t max_args;  // 255: any number
    ScalarFn fn;
    // Arguments at these positions must be constants (a pattern, a type name).
    uint8_t const_arg_mask = 0;
};

enum class AggKind : uint8_t { Count, Sum, Avg, Min, Max, First, Last, Stddev, Percentile, CountDistinct };

struct AggregateFunction {
    std::string_view name;
    AggKind kind;
    uint8_t args;  // 1, or 2 for percentile(x, p)
};

enum class HistoryKind : uint8_t { Changed, Lag, Delta, Rate };

const ScalarFunction* find_scalar(std::string_view name);
const AggregateFunction* find_aggregate(std::string_view name);
bool find_history(std::string_view name, HistoryKind& kind);
// Every function name, for "did you mean".
std::vector<std::string_view> all_function_names();

// changed/lag/delta/rate on one slot: reads and updates it.
EvalResult eval_history(HistoryKind kind, const Value& v, HistorySlot& slot, int64_t time_ms, StringArena& arena);

}  // namespace ib::rules
