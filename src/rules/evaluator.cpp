#include "rules/evaluator.hpp"

#include <cmath>
#include <limits>

#include "rules/functions.hpp"

namespace ib::rules {

std::string_view error_kind_name(ErrorKind k) {
    switch (k) {
        case ErrorKind::Decode: return "decode";
        case ErrorKind::MissingField: return "missing_field";
        case ErrorKind::Type: return "type";
        case ErrorKind::Arithmetic: return "arithmetic";
        case ErrorKind::Function: return "function";
        case ErrorKind::Action: return "action";
        case ErrorKind::Count: break;
    }
    return "?";
}

std::string expr_text(const Expr& e) {
    switch (e.kind) {
        case ExprKind::Field: {
            std::string out;
            for (const auto& step : e.path) {
                if (step.index >= 0) {
                    out += "[" + std::to_string(step.index) + "]";
                } else {
                    if (!out.empty()) out += ".";
                    out += step.key;
                }
            }
            return out;
        }
        case ExprKind::Call: return e.name + "()";
        case ExprKind::Literal: {
            std::string out;
            append_json(out, e.literal.view());
            return out;
        }
        default: return e.text.empty() ? "the expression" : e.text;
    }
}

namespace {

std::unexpected<EvalError> missing(const Expr& e) {
    return std::unexpected(EvalError{ErrorKind::MissingField, "field '" + expr_text(e) + "' is missing"});
}

std::unexpected<EvalError> type_error(const Expr& e, const Value& got, std::string_view wanted) {
    return std::unexpected(EvalError{ErrorKind::Type, expr_text(e) + " is " + std::string(type_name(got.type)) + ", " +
                                                          std::string(wanted) + " was expected"});
}

// A value an operator needs: a missing field is an error naming it.
EvalResult operand(const Expr& e, EvalContext& ctx) {
    auto v = eval(e, ctx);
    if (v && v->missing) return missing(e);
    return v;
}

void append_escaped_key(std::string& out, std::string_view key) { append_json_string(out, key); }

}  // namespace

void append_element(std::string& out, simdjson::dom::element el) {
    using simdjson::dom::element_type;
    switch (el.type()) {
        case element_type::OBJECT: {
            out.push_back('{');
            bool first = true;
            simdjson::dom::object obj = el.get_object().value_unsafe();
            for (auto field : obj) {
                if (!first) out.push_back(',');
                first = false;
                append_escaped_key(out, field.key);
                out.push_back(':');
                append_element(out, field.value);
            }
            out.push_back('}');
            return;
        }
        case element_type::ARRAY: {
            out.push_back('[');
            bool first = true;
            simdjson::dom::array arr = el.get_array().value_unsafe();
            for (auto item : arr) {
                if (!first) out.push_back(',');
                first = false;
                append_element(out, item);
            }
            out.push_back(']');
            return;
        }
        case element_type::STRING: append_json_string(out, el.get_string().value_unsafe()); return;
        case element_type::INT64: append_json(out, Value::integer(el.get_int64().value_unsafe())); return;
        case element_type::UINT64: append_json(out, Value::real(static_cast<double>(el.get_uint64().value_unsafe()))); return;
        case element_type::DOUBLE: append_json(out, Value::real(el.get_double().value_unsafe())); return;
        case element_type::BOOL: out += el.get_bool().value_unsafe() ? "true" : "false"; return;
        case element_type::NULL_VALUE: out += "null"; return;
    }
}

Value element_value(simdjson::dom::element el, EvalContext& ctx) {
    using simdjson::dom::element_type;
    switch (el.type()) {
        case element_type::STRING: return Value::string(el.get_string().value_unsafe());
        case element_type::INT64: return Value::integer(el.get_int64().value_unsafe());
        case element_type::UINT64: return Value::real(static_cast<double>(el.get_uint64().value_unsafe()));
        case element_type::DOUBLE: return Value::real(el.get_double().value_unsafe());
        case element_type::BOOL: return Value::boolean(el.get_bool().value_unsafe());
        case element_type::NULL_VALUE: return Value::null();
        case element_type::OBJECT:
        case element_type::ARRAY: {
            ArenaBuilder b(*ctx.arena, *ctx.scratch);
            append_element(b.buf(), el);
            return Value::json(b.finish());
        }
    }
    return Value::null();
}

namespace {

// Bytes of the UTF-8 character starting at `at` (1 for a stray byte).
size_t char_len(std::string_view s, size_t at) {
    size_t n = 1;
    while (at + n < s.size() && (static_cast<unsigned char>(s[at + n]) & 0xC0) == 0x80) ++n;
    return n;
}

}  // namespace

bool like_match(std::string_view text, std::string_view pattern) {
    // Greedy with one backtrack point per %, linear in practice.
    size_t t = 0, p = 0, star_p = std::string_view::npos, star_t = 0;
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '_') {
            t += char_len(text, t);
            ++p;
        } else if (p < pattern.size() && pattern[p] == text[t]) {
            ++t;
            ++p;
        } else if (p < pattern.size() && pattern[p] == '%') {
            star_p = p++;
            star_t = t;
        } else if (star_p != std::string_view::npos) {
            p = star_p + 1;
            star_t += char_len(text, star_t);
            t = star_t;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '%') ++p;
    return p == pattern.size();
}

namespace {

EvalResult field(const Expr& e, EvalContext& ctx) {
    if (!ctx.has_root) return Value::absent();
    simdjson::dom::element el = ctx.root;
    for (const auto& step : e.path) {
        if (step.index >= 0) {
            simdjson::dom::array arr;
            if (el.get_array().get(arr) != simdjson::SUCCESS) return Value::absent();
            auto item = arr.at(static_cast<size_t>(step.index));
            if (item.error()) return Value::absent();
            el = item.value_unsafe();
        } else {
            simdjson::dom::object obj;
            if (el.get_object().get(obj) != simdjson::SUCCESS) return Value::absent();
            auto member = obj.at_key(step.key);
            if (member.error()) return Value::absent();
            el = member.value_unsafe();
        }
    }
    return element_value(el, ctx);
}

EvalResult arithmetic(const Expr& e, EvalContext& ctx) {
    auto a = operand(*e.args[0], ctx);
    if (!a) return a;
    auto b = operand(*e.args[1], ctx);
    if (!b) return b;
    if (a->is_null() || b->is_null()) return Value::null();
    if (e.op == Op::Concat) {
        ArenaBuilder out(*ctx.arena, *ctx.scratch);
        append_text(out.buf(), *a);
        append_text(out.buf(), *b);
        return Value::string(out.finish());
    }
    if (!a->is_number()) return type_error(*e.args[0], *a, "a number");
    if (!b->is_number()) return type_error(*e.args[1], *b, "a number");
    const bool ints = a->type == Type::Int && b->type == Type::Int;
    int64_t r = 0;
    switch (e.op) {
        case Op::Add:
            if (ints && !__builtin_add_overflow(a->i, b->i, &r)) return Value::integer(r);
            return Value::real(a->as_double() + b->as_double());
        case Op::Sub:
            if (ints && !__builtin_sub_overflow(a->i, b->i, &r)) return Value::integer(r);
            return Value::real(a->as_double() - b->as_double());
        case Op::Mul:
            if (ints && !__builtin_mul_overflow(a->i, b->i, &r)) return Value::integer(r);
            return Value::real(a->as_double() * b->as_double());
        case Op::Div:
            if (b->as_double() == 0) return std::unexpected(EvalError{ErrorKind::Arithmetic, "division by zero"});
            if (ints && b->i != -1 && a->i % b->i == 0) return Value::integer(a->i / b->i);
            return Value::real(a->as_double() / b->as_double());
        case Op::Mod:
            if (b->as_double() == 0) return std::unexpected(EvalError{ErrorKind::Arithmetic, "modulo by zero"});
            if (ints) return Value::integer(b->i == -1 ? 0 : a->i % b->i);
            return Value::real(std::fmod(a->as_double(), b->as_double()));
        default: break;
    }
    return Value::null();
}

EvalResult comparison(const Expr& e, EvalContext& ctx) {
    auto a = operand(*e.args[0], ctx);
    if (!a) return a;
    auto b = operand(*e.args[1], ctx);
    if (!b) return b;
    if (a->is_null() || b->is_null()) return Value::null();
    if (e.op == Op::Eq) return Value::boolean(equal(*a, *b));
    if (e.op == Op::Ne) return Value::boolean(!equal(*a, *b));
    if (!comparable(*a, *b)) {
        return std::unexpected(EvalError{ErrorKind::Type, "cannot compare " + std::string(type_name(a->type)) + " " +
                                                              expr_text(*e.args[0]) + " with " +
                                                              std::string(type_name(b->type)) + " " + expr_text(*e.args[1])});
    }
    int c = compare(*a, *b);
    switch (e.op) {
        case Op::Lt: return Value::boolean(c < 0);
        case Op::Le: return Value::boolean(c <= 0);
        case Op::Gt: return Value::boolean(c > 0);
        case Op::Ge: return Value::boolean(c >= 0);
        default: return Value::null();
    }
}

// Three-valued AND / OR: null is unknown.
EvalResult logical(const Expr& e, EvalContext& ctx) {
    auto side = [&](const Expr& x) -> std::expected<int, EvalError> {  // 0 false, 1 true, 2 unknown
        auto v = operand(x, ctx);
        if (!v) return std::unexpected(v.error());
        if (v->is_null()) return 2;
        if (v->type != Type::Bool) return type_error(x, *v, "a boolean");
        return v->b ? 1 : 0;
    };
    auto a = side(*e.args[0]);
    if (!a) return std::unexpected(a.error());
    if (e.op == Op::And && *a == 0) return Value::boolean(false);
    if (e.op == Op::Or && *a == 1) return Value::boolean(true);
    auto b = side(*e.args[1]);
    if (!b) return std::unexpected(b.error());
    if (e.op == Op::And) {
        if (*b == 0) return Value::boolean(false);
        return (*a == 1 && *b == 1) ? Value::boolean(true) : Value::null();
    }
    if (*b == 1) return Value::boolean(true);
    return (*a == 0 && *b == 0) ? Value::boolean(false) : Value::null();
}

EvalResult call(const Expr& e, EvalContext& ctx) {
    if (e.agg_slot >= 0) {
        if (ctx.aggregates == nullptr) {
            return std::unexpected(EvalError{ErrorKind::Function, e.name + "() is an aggregate: it has a value only when a window closes"});
        }
        return ctx.aggregates[e.agg_slot];
    }
    if (e.state_slot >= 0) {
        HistorySlot& slot = ctx.history[e.state_slot];
        if (slot.seq == ctx.message_seq && ctx.message_seq != 0) return slot.result.view();
        auto v = eval(*e.args[0], ctx);
        if (!v) return v;
        if (v->missing) return missing(*e.args[0]);
        auto r = eval_history(static_cast<HistoryKind>(e.history_kind), *v, slot, ctx.time_ms, *ctx.arena);
        if (r) {
            slot.seq = ctx.message_seq;
            slot.result.assign(*r);
        }
        return r;
    }
    constexpr size_t kMaxArgs = 16;
    Value args[kMaxArgs];
    const size_t n = std::min(e.args.size(), kMaxArgs);
    for (size_t i = 0; i < n; ++i) {
        auto v = eval(*e.args[i], ctx);
        if (!v) return v;
        args[i] = *v;
    }
    return e.fn->fn(std::span<const Value>(args, n), ctx, e);
}

}  // namespace

EvalResult eval(const Expr& e, EvalContext& ctx) {
    switch (e.kind) {
        case ExprKind::Literal: return e.literal.view();
        case ExprKind::Field: return field(e, ctx);
        case ExprKind::Call: return call(e, ctx);
        case ExprKind::Unary: {
            auto v = operand(*e.args[0], ctx);
            if (!v || v->is_null()) return v;
            if (e.op == Op::Not) {
                if (v->type != Type::Bool) return type_error(*e.args[0], *v, "a boolean");
                return Value::boolean(!v->b);
            }
            if (v->type == Type::Int && v->i != std::numeric_limits<int64_t>::min()) return Value::integer(-v->i);
            if (!v->is_number()) return type_error(*e.args[0], *v, "a number");
            return Value::real(-v->as_double());
        }
        case ExprKind::Binary:
            switch (e.op) {
                case Op::And:
                case Op::Or: return logical(e, ctx);
                case Op::Eq:
                case Op::Ne:
                case Op::Lt:
                case Op::Le:
                case Op::Gt:
                case Op::Ge: return comparison(e, ctx);
                default: return arithmetic(e, ctx);
            }
        case ExprKind::Case: {
            const size_t pairs = (e.args.size() - (e.has_else ? 1 : 0)) / 2;
            for (size_t i = 0; i < pairs; ++i) {
                auto c = eval_condition(*e.args[2 * i], ctx);
                if (!c) return std::unexpected(c.error());
                if (*c) return eval(*e.args[2 * i + 1], ctx);
            }
            if (e.has_else) return eval(*e.args.back(), ctx);
            return Value::null();
        }
        case ExprKind::In: {
            auto v = operand(*e.args[0], ctx);
            if (!v || v->is_null()) return v;
            for (size_t i = 1; i < e.args.size(); ++i) {
                auto item = eval(*e.args[i], ctx);
                if (!item) return item;
                if (equal(*v, *item)) return Value::boolean(!e.negated);
            }
            return Value::boolean(e.negated);
        }
        case ExprKind::Between: {
            auto v = operand(*e.args[0], ctx);
            if (!v) return v;
            auto lo = operand(*e.args[1], ctx);
            if (!lo) return lo;
            auto hi = operand(*e.args[2], ctx);
            if (!hi) return hi;
            if (v->is_null() || lo->is_null() || hi->is_null()) return Value::null();
            if (!comparable(*v, *lo) || !comparable(*v, *hi)) {
                return type_error(*e.args[0], *v, "a value comparable with the BETWEEN bounds");
            }
            bool in = compare(*v, *lo) >= 0 && compare(*v, *hi) <= 0;
            return Value::boolean(in != e.negated);
        }
        case ExprKind::Like: {
            auto v = operand(*e.args[0], ctx);
            if (!v || v->is_null()) return v;
            auto p = operand(*e.args[1], ctx);
            if (!p || p->is_null()) return p;
            if (v->type != Type::String) return type_error(*e.args[0], *v, "a string");
            if (p->type != Type::String) return type_error(*e.args[1], *p, "a string pattern");
            return Value::boolean(like_match(v->s, p->s) != e.negated);
        }
        case ExprKind::IsNull: {
            auto v = eval(*e.args[0], ctx);
            if (!v) return v;
            return Value::boolean(v->is_null() != e.negated);
        }
    }
    return Value::null();
}

std::expected<bool, EvalError> eval_condition(const Expr& e, EvalContext& ctx) {
    auto v = eval(e, ctx);
    if (!v) return std::unexpected(v.error());
    if (v->missing) return std::unexpected(missing(e).error());
    if (v->is_null()) return false;
    if (v->type != Type::Bool) return std::unexpected(type_error(e, *v, "a boolean condition").error());
    return v->b;
}

}  // namespace ib::rules
