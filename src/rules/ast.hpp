// The syntax tree of one rule's SELECT, as the parser builds it and the compiler
// annotates it (resolved functions, aggregate and state slots). Positions are
// byte offsets into the SQL text, turned into line:column for errors.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rules/value.hpp"

namespace re2 {
class RE2;
}

namespace ib::rules {

enum class ExprKind : uint8_t { Literal, Field, Call, Unary, Binary, Case, In, Between, Like, IsNull };
enum class Op : uint8_t { Add, Sub, Mul, Div, Mod, Eq, Ne, Lt, Le, Gt, Ge, And, Or, Not, Neg, Concat };

// One step of a field path: `values.temp` is two keys, `a.b[0]` keys then an index.
struct PathStep {
    std::string key;
    int64_t index = -1;  // >= 0: an array index, key unused
};

struct ScalarFunction;
enum class AggKind : uint8_t;

struct Expr {
    ExprKind kind = ExprKind::Literal;
    uint32_t pos = 0;  // first byte in the SQL
    uint32_t end = 0;  // one past the last
    Op op = Op::Add;
    OwnedValue literal;
    std::vector<PathStep> path;  // Field
    std::string name;            // Call: the function name, lower case
    bool distinct = false;       // count(DISTINCT x)
    bool star = false;           // count(*)
    bool negated = false;        // NOT IN, NOT BETWEEN, NOT LIKE, IS NOT NULL
    // Call: the arguments. Case: (when, then) pairs, then the else if any.
    // In: the tested value then the list. Between: value, low, high.
    std::vector<std::unique_ptr<Expr>> args;
    bool has_else = false;
    uint32_t height = 1;  // of the tree below, bounded by the parser (evaluation recurses)
    std::string text;     // as written, for error messages

    // Filled by the compiler.
    const ScalarFunction* fn = nullptr;
    int agg_slot = -1;    // an aggregate: its index in the rule's accumulators
    int state_slot = -1;  // changed/lag/delta/rate: its index in the group's history
    uint8_t history_kind = 0;  // changed/lag/delta/rate: which (functions.hpp HistoryKind)
    std::shared_ptr<const re2::RE2> regex;  // regexp_matches: its constant pattern, compiled once
};
using ExprPtr = std::unique_ptr<Expr>;

struct SelectItem {
    ExprPtr expr;       // null for `*`
    std::string name;   // the output key: alias, or derived from the expression
    bool star = false;
    uint32_t pos = 0;
};

enum class WindowKind : uint8_t { Tumbling, Hopping, Sliding, Session, Count };

struct WindowSpec {
    WindowKind kind = WindowKind::Tumbling;
    int64_t size_ms = 0;  // Tumbling, Hopping, Sliding; Session: the longest a session lasts
    int64_t hop_ms = 0;   // Hopping
    int64_t gap_ms = 0;   // Session: it closes after this long without a message
    uint32_t count = 0;   // Count: the window's length in messages
    uint32_t every = 0;   // Count: emitted every this many messages (= count when not given)
    uint32_t pos = 0;
};

struct Query {
    std::vector<SelectItem> items;
    std::string from;  // a topic filter
    uint32_t from_pos = 0;
    ExprPtr where;
    std::vector<ExprPtr> group_keys;
    std::optional<WindowSpec> window;
    ExprPtr having;
};

}  // namespace ib::rules
