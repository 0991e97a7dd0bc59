// From a parsed Query to a checked plan: every function resolved, aggregates and
// change-detection calls numbered into slots, and the rules of the dialect
// enforced (aggregates need a window, no aggregate in WHERE, constant patterns)
// with errors that point at the offending text. Runs once per rule, never per message.
#pragma once

#include <expected>
#include <string_view>
#include <vector>

#include "rules/ast.hpp"
#include "rules/functions.hpp"
#include "rules/parser.hpp"

namespace ib::rules {

struct AggSpec {
    AggKind kind = AggKind::Count;
    const Expr* arg = nullptr;  // null for count(*)
    double fraction = 0.5;      // percentile
};

struct Plan {
    Query query;
    std::vector<AggSpec> aggregates;
    int history_slots = 0;
    bool windowed() const { return query.window.has_value(); }
};

std::expected<Plan, SqlError> compile(std::string_view sql);

}  // namespace ib::rules
