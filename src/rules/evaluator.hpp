// Evaluating a compiled expression against one message, inside the rules module
// only (it includes simdjson). Nothing here allocates in steady state: text made
// on the way goes into the rule's arena, reset per message.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "rules/ast.hpp"
#include "rules/value.hpp"

namespace ib::rules {

// How a rule failed on one message; counted per kind in the rule's status.
enum class ErrorKind : uint8_t { Decode, MissingField, Type, Arithmetic, Function, Action, Count };
std::string_view error_kind_name(ErrorKind k);

struct EvalError {
    ErrorKind kind = ErrorKind::Type;
    std::string message;
};
using EvalResult = std::expected<Value, EvalError>;

// One call site's memory for changed/lag/delta/rate, per group key.
struct HistorySlot {
    OwnedValue prev;
    int64_t prev_ms = 0;
    bool has = false;
    uint64_t seq = 0;  // the message last computed for, and its result
    OwnedValue result;
};

struct EvalContext {
    std::string_view topic;
    simdjson::dom::element root;  // the payload; valid when has_root
    bool has_root = false;
    int64_t time_ms = 0;      // the message's time: receive time, or its event time
    int64_t received_ms = 0;  // when it arrived
    StringArena* arena = nullptr;
    std::string* scratch = nullptr;
    // Results of the rule's aggregates for the group being emitted; null while a
    // message is being taken in (aggregate arguments are evaluated then).
    const Value* aggregates = nullptr;
    HistorySlot* history = nullptr;  // the group's slots, indexed by Expr::state_slot
    // The window being emitted, for window_start() and window_end().
    bool in_window = false;
    int64_t window_start = 0;
    int64_t window_end = 0;
    // Which message this is, so a change-detection call named twice (WHERE and
    // SELECT) is computed once per message.
    uint64_t message_seq = 0;
};

EvalResult eval(const Expr& e, EvalContext& ctx);
// As WHERE and HAVING see it: null and false drop the message, anything but a
// boolean is a type error.
std::expected<bool, EvalError> eval_condition(const Expr& e, EvalContext& ctx);

// How errors name an expression: a field's path (`values.temp`), a call's name.
std::string expr_text(const Expr& e);

// Appends the payload's JSON element `el` compactly.
void append_element(std::string& out, simdjson::dom::element el);

// Turns a JSON element into a Value; objects and arrays as their JSON text in the arena.
Value element_value(simdjson::dom::element el, EvalContext& ctx);

// SQL LIKE: % any run, _ any one character (a UTF-8 sequence); no escape character.
bool like_match(std::string_view text, std::string_view pattern);

}  // namespace ib::rules
