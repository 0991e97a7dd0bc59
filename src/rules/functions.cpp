#include "rules/functions.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <cstring>

#include <re2/re2.h>

namespace ib::rules {
namespace {

using Args = std::span<const Value>;

std::unexpected<EvalError> bad_arg(const Expr& call, size_t i, const Value& got, std::string_view wanted) {
    return std::unexpected(EvalError{ErrorKind::Type, call.name + "(): argument " + std::to_string(i + 1) + " is " +
                                                          std::string(type_name(got.type)) + ", " + std::string(wanted) +
                                                          " was expected"});
}

std::unexpected<EvalError> missing_arg(const Expr& call, size_t i) {
    return std::unexpected(EvalError{ErrorKind::MissingField, call.name + "(): field '" + expr_text(*call.args[i]) +
                                                                  "' is missing"});
}

// Checks that argument i is a number (or null, which the caller passes through).
std::expected<bool, EvalError> number_arg(Args a, size_t i, const Expr& call) {
    if (a[i].missing) return missing_arg(call, i);
    if (a[i].is_null()) return false;
    if (!a[i].is_number()) return bad_arg(call, i, a[i], "a number");
    return true;
}

std::expected<bool, EvalError> string_arg(Args a, size_t i, const Expr& call) {
    if (a[i].missing) return missing_arg(call, i);
    if (a[i].is_null()) return false;
    if (a[i].type != Type::String) return bad_arg(call, i, a[i], "a string");
    return true;
}

#define IB_NUMBER_ARG(i)                                   \
    do {                                                   \
        auto ok_ = number_arg(a, i, call);                 \
        if (!ok_) return std::unexpected(ok_.error());     \
        if (!*ok_) return Value::null();                   \
    } while (0)

#define IB_STRING_ARG(i)                                   \
    do {                                                   \
        auto ok_ = string_arg(a, i, call);                 \
        if (!ok_) return std::unexpected(ok_.error());     \
        if (!*ok_) return Value::null();                   \
    } while (0)

Value real_or_int(double d) {
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.0e15) return Value::integer(static_cast<int64_t>(d));
    return Value::real(d);
}

// ---- math
EvalResult f_abs(Args a, EvalContext&, const Expr& call) {
    IB_NUMBER_ARG(0);
    if (a[0].type == Type::Int && a[0].i != INT64_MIN) return Value::integer(a[0].i < 0 ? -a[0].i : a[0].i);
    return Value::real(std::fabs(a[0].as_double()));
}
EvalResult f_round(Args a, EvalContext&, const Expr& call) {
    IB_NUMBER_ARG(0);
    if (a.size() == 1) return a[0].type == Type::Int ? a[0] : real_or_int(std::round(a[0].d));
    IB_NUMBER_ARG(1);
    double digits = std::clamp(a[1].as_double(), -15.0, 15.0);
    double scale = std::pow(10.0, std::trunc(digits));
    return Value::real(std::round(a[0].as_double() * scale) / scale);
}
EvalResult f_floor(Args a, EvalContext&, const Expr& call) {
    IB_NUMBER_ARG(0);
    return a[0].type == Type::Int ? a[0] : real_or_int(std::floor(a[0].d));
}
EvalResult f_ceil(Args a, EvalContext&, const Expr& call) {
    IB_NUMBER_ARG(0);
    return a[0].type == Type::Int ? a[0] : real_or_int(std::ceil(a[0].d));
}
EvalResult f_sqrt(Args a, EvalContext&, const Expr& call) {
    IB_NUMBER_ARG(0);
    if (a[0].as_double() < 0) return std::unexpected(EvalError{ErrorKind::Arithmetic, "sqrt() of a negative number"});
    return Value::real(std::sqrt(a[0].as_double()));
}
EvalResult f_pow(Args a, EvalContext&, const Expr& call) {
    IB_NUMBER_ARG(0);
    IB_NUMBER_ARG(1);
    return Value::real(std::pow(a[0].as_double(), a[1].as_double()));
}
// log(x) is the natural logarithm; log(b, x) the logarithm of x in base b.
EvalResult f_log(Args a, EvalContext&, const Expr& call) {
    IB_NUMBER_ARG(0);
    double x = a.size() == 1 ? a[0].as_double() : 0;
    if (a.size() == 2) {
        IB_NUMBER_ARG(1);
        x = a[1].as_double();
    }
    if (x <= 0) return std::unexpected(EvalError{ErrorKind::Arithmetic, "log() of a number that is not positive"});
    if (a.size() == 1) return Value::real(std::log(x));
    double base = a[0].as_double();
    if (base <= 0 || base == 1) return std::unexpected(EvalError{ErrorKind::Arithmetic, "log() with an invalid base"});
    // The common bases exactly: log(10, 1000) is 3, not 2.9999999999999996.
    if (base == 10) return Value::real(std::log10(x));
    if (base == 2) return Value::real(std::log2(x));
    return Value::real(std::log(x) / std::log(base));
}
EvalResult f_exp(Args a, EvalContext&, const Expr& call) {
    IB_NUMBER_ARG(0);
    return Value::real(std::exp(a[0].as_double()));
}
EvalResult f_sign(Args a, EvalContext&, const Expr& call) {
    IB_NUMBER_ARG(0);
    double d = a[0].as_double();
    return Value::integer(d > 0 ? 1 : (d < 0 ? -1 : 0));
}
// min/max of two or more arguments (with one argument they are aggregates).
EvalResult extreme(Args a, const Expr& call, bool want_max) {
    Value best;
    for (size_t i = 0; i < a.size(); ++i) {
        IB_NUMBER_ARG(i);
        if (best.is_null() || (want_max ? compare(a[i], best) > 0 : compare(a[i], best) < 0)) best = a[i];
    }
    return best;
}
EvalResult f_min(Args a, EvalContext&, const Expr& call) { return extreme(a, call, false); }
EvalResult f_max(Args a, EvalContext&, const Expr& call) { return extreme(a, call, true); }

// ---- strings
// Characters, not bytes: UTF-8 continuation bytes are not counted.
int64_t utf8_length(std::string_view s) {
    int64_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

// Byte offset of the character `index` (clamped to the end).
size_t utf8_offset(std::string_view s, int64_t index) {
    size_t at = 0;
    for (int64_t i = 0; i < index && at < s.size(); ++i) {
        ++at;
        while (at < s.size() && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) ++at;
    }
    return at;
}

EvalResult f_concat(Args a, EvalContext& ctx, const Expr& call) {
    ArenaBuilder out(*ctx.arena, *ctx.scratch);
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].missing) return missing_arg(call, i);
        if (!a[i].is_null()) append_text(out.buf(), a[i]);
    }
    return Value::string(out.finish());
}
EvalResult change_case(Args a, EvalContext& ctx, const Expr& call, bool upper) {
    IB_STRING_ARG(0);
    char* p = ctx.arena->allocate(a[0].s.size());
    for (size_t i = 0; i < a[0].s.size(); ++i) {
        auto c = static_cast<unsigned char>(a[0].s[i]);
        p[i] = static_cast<char>(upper ? std::toupper(c) : std::tolower(c));
    }
    return Value::string({p, a[0].s.size()});
}
EvalResult f_lower(Args a, EvalContext& ctx, const Expr& call) { return change_case(a, ctx, call, false); }
EvalResult f_upper(Args a, EvalContext& ctx, const Expr& call) { return change_case(a, ctx, call, true); }
EvalResult f_trim(Args a, EvalContext&, const Expr& call) {
    IB_STRING_ARG(0);
    std::string_view s = a[0].s;
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return Value::string(s);
}
// substring(s, start[, end]): characters from start (0-based) up to end (exclusive), as eKuiper counts.
EvalResult f_substring(Args a, EvalContext&, const Expr& call) {
    IB_STRING_ARG(0);
    IB_NUMBER_ARG(1);
    const int64_t n = utf8_length(a[0].s);
    int64_t start = std::clamp<int64_t>(static_cast<int64_t>(std::clamp(a[1].as_double(), -1e18, 1e18)), 0, n);
    int64_t end = n;
    if (a.size() == 3) {
        IB_NUMBER_ARG(2);
        end = std::clamp<int64_t>(static_cast<int64_t>(std::clamp(a[2].as_double(), -1e18, 1e18)), start, n);
    }
    const size_t from = utf8_offset(a[0].s, start);
    const size_t to = utf8_offset(a[0].s, end);
    return Value::string(a[0].s.substr(from, to - from));
}
EvalResult f_length(Args a, EvalContext&, const Expr& call) {
    IB_STRING_ARG(0);
    return Value::integer(utf8_length(a[0].s));
}
// split(s, sep): a JSON array of the parts; split(s, sep, i): the i-th part (0-based), null past the end.
EvalResult f_split(Args a, EvalContext& ctx, const Expr& call) {
    IB_STRING_ARG(0);
    IB_STRING_ARG(1);
    std::string_view s = a[0].s, sep = a[1].s;
    if (sep.empty()) return std::unexpected(EvalError{ErrorKind::Function, "split(): the separator is empty"});
    if (a.size() == 3) {
        IB_NUMBER_ARG(2);
        auto want = static_cast<int64_t>(a[2].as_double());
        for (int64_t i = 0;; ++i) {
            size_t at = s.find(sep);
            if (i == want) return Value::string(s.substr(0, at));
            if (at == std::string_view::npos) return Value::null();
            s.remove_prefix(at + sep.size());
        }
    }
    ArenaBuilder out(*ctx.arena, *ctx.scratch);
    out.buf().push_back('[');
    for (bool first = true;; first = false) {
        size_t at = s.find(sep);
        if (!first) out.buf().push_back(',');
        append_json_string(out.buf(), s.substr(0, at));
        if (at == std::string_view::npos) break;
        s.remove_prefix(at + sep.size());
    }
    out.buf().push_back(']');
    return Value::json(out.finish());
}
EvalResult f_regexp_matches(Args a, EvalContext&, const Expr& call) {
    IB_STRING_ARG(0);
    if (!call.regex) return std::unexpected(EvalError{ErrorKind::Function, "regexp_matches(): no compiled pattern"});
    // A search anywhere in the text, as ECMAScript's regex_search was: anchor
    // with ^ and $ for a whole-text match. RE2 is linear in the text's length.
    return Value::boolean(re2::RE2::PartialMatch(re2::StringPiece(a[0].s.data(), a[0].s.size()), *call.regex));
}
// format("{} is {}", a, b): each {} takes the next argument, as concat() writes it.
EvalResult f_format(Args a, EvalContext& ctx, const Expr& call) {
    IB_STRING_ARG(0);
    ArenaBuilder out(*ctx.arena, *ctx.scratch);
    std::string_view f = a[0].s;
    size_t next = 1;
    for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == '{' && i + 1 < f.size() && f[i + 1] == '}') {
            if (next >= a.size()) {
                return std::unexpected(EvalError{ErrorKind::Function, "format(): more {} than arguments"});
            }
            if (a[next].missing) return missing_arg(call, next);
            append_text(out.buf(), a[next++]);
            ++i;
        } else {
            out.buf().push_back(f[i]);
        }
    }
    return Value::string(out.finish());
}

// ---- conversion
EvalResult f_cast(Args a, EvalContext& ctx, const Expr& call) {
    if (a[0].missing) return missing_arg(call, 0);
    if (a[0].is_null()) return Value::null();
    std::string_view to = a[1].s;
    const Value& v = a[0];
    auto fail = [&] {
        return std::unexpected(EvalError{ErrorKind::Type, "cast(): cannot turn " + std::string(type_name(v.type)) + " " +
                                                              expr_text(*call.args[0]) + " into " + std::string(to)});
    };
    if (to == "bigint" || to == "int" || to == "integer") {
        if (v.type == Type::Int) return v;
        if (v.type == Type::Double) {
            if (!std::isfinite(v.d) || std::fabs(v.d) > 9.2e18) return fail();
            return Value::integer(static_cast<int64_t>(v.d));
        }
        if (v.type == Type::Bool) return Value::integer(v.b ? 1 : 0);
        if (v.type == Type::String) {
            int64_t i = 0;
            auto r = std::from_chars(v.s.data(), v.s.data() + v.s.size(), i);
            if (r.ec == std::errc{} && r.ptr == v.s.data() + v.s.size()) return Value::integer(i);
            double d = 0;
            auto rd = std::from_chars(v.s.data(), v.s.data() + v.s.size(), d);
            if (rd.ec == std::errc{} && rd.ptr == v.s.data() + v.s.size() && std::isfinite(d)) {
                return Value::integer(static_cast<int64_t>(d));
            }
        }
        return fail();
    }
    if (to == "float" || to == "double") {
        if (v.is_number()) return Value::real(v.as_double());
        if (v.type == Type::Bool) return Value::real(v.b ? 1 : 0);
        if (v.type == Type::String) {
            double d = 0;
            auto r = std::from_chars(v.s.data(), v.s.data() + v.s.size(), d);
            if (r.ec == std::errc{} && r.ptr == v.s.data() + v.s.size()) return Value::real(d);
        }
        return fail();
    }
    if (to == "string") {
        if (v.type == Type::String) return v;
        ArenaBuilder out(*ctx.arena, *ctx.scratch);
        append_text(out.buf(), v);
        return Value::string(out.finish());
    }
    if (to == "boolean" || to == "bool") {
        if (v.type == Type::Bool) return v;
        if (v.is_number()) return Value::boolean(v.as_double() != 0);
        if (v.type == Type::String && (v.s == "true" || v.s == "false")) return Value::boolean(v.s == "true");
        return fail();
    }
    return fail();
}
EvalResult f_to_json(Args a, EvalContext& ctx, const Expr& call) {
    if (a[0].missing) return missing_arg(call, 0);
    ArenaBuilder out(*ctx.arena, *ctx.scratch);
    append_json(out.buf(), a[0]);
    return Value::string(out.finish());
}
EvalResult f_parse_json(Args a, EvalContext& ctx, const Expr& call) {
    IB_STRING_ARG(0);
    // The parse result must outlive this call, so it is rendered back to text
    // (numbers and strings become plain values).
    thread_local simdjson::dom::parser parser;
    auto doc = parser.parse(a[0].s.data(), a[0].s.size(), true);
    if (doc.error()) {
        return std::unexpected(EvalError{ErrorKind::Function, "parse_json(): " + std::string(simdjson::error_message(doc.error()))});
    }
    // The parser is reused by the next call: a string must be copied out of it.
    Value v = element_value(doc.value_unsafe(), ctx);
    if (v.type == Type::String) v.s = ctx.arena->copy(v.s);
    return v;
}

// ---- time
EvalResult f_now(Args, EvalContext& ctx, const Expr&) {
    return Value::integer(ctx.received_ms);
}
EvalResult f_receive_time(Args, EvalContext& ctx, const Expr&) { return Value::integer(ctx.received_ms); }
// format_time(ms, 'strftime pattern'), in UTC; %f stands for the milliseconds.
EvalResult f_format_time(Args a, EvalContext& ctx, const Expr& call) {
    IB_NUMBER_ARG(0);
    IB_STRING_ARG(1);
    auto ms = static_cast<int64_t>(a[0].as_double());
    std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int millis = static_cast<int>(ms - static_cast<int64_t>(secs) * 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    ArenaBuilder out(*ctx.arena, *ctx.scratch);
    std::string_view f = a[1].s;
    char buf[128];
    std::string piece;
    for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == '%' && i + 1 < f.size()) {
            char spec[3] = {'%', f[i + 1], 0};
            ++i;
            if (spec[1] == 'f') {
                std::snprintf(buf, sizeof buf, "%03d", millis);
                out.buf() += buf;
                continue;
            }
            if (std::strchr("aAbBcdHIjmMpSUwWxXyYZzeFTDRu%", spec[1]) == nullptr) {
                return std::unexpected(EvalError{ErrorKind::Function, std::string("format_time(): unknown %") + spec[1]});
            }
            size_t n = std::strftime(buf, sizeof buf, spec, &tm);
            out.buf().append(buf, n);
        } else {
            out.buf().push_back(f[i]);
        }
    }
    return Value::string(out.finish());
}

// ---- meta
// topic(): the message's topic; topic(n): its n-th level, from 1; null past the end.
EvalResult f_topic(Args a, EvalContext& ctx, const Expr& call) {
    if (a.empty()) return Value::string(ctx.topic);
    IB_NUMBER_ARG(0);
    auto n = static_cast<int64_t>(a[0].as_double());
    std::string_view t = ctx.topic;
    for (int64_t level = 1; n >= 1; ++level) {
        size_t slash = t.find('/');
        if (level == n) return Value::string(t.substr(0, slash));
        if (slash == std::string_view::npos) break;
        t.remove_prefix(slash + 1);
    }
    return Value::null();
}

EvalResult f_window_start(Args, EvalContext& ctx, const Expr&) {
    return ctx.in_window ? Value::integer(ctx.window_start) : Value::null();
}
EvalResult f_window_end(Args, EvalContext& ctx, const Expr&) {
    return ctx.in_window ? Value::integer(ctx.window_end) : Value::null();
}

// ---- conditional
EvalResult f_coalesce(Args a, EvalContext&, const Expr&) {
    for (const Value& v : a) {
        if (!v.is_null()) return v;
    }
    return Value::null();
}
EvalResult f_nullif(Args a, EvalContext&, const Expr&) {
    if (a[0].missing) return Value::null();
    if (equal(a[0], a[1])) return Value::null();
    return a[0];
}

#undef IB_NUMBER_ARG
#undef IB_STRING_ARG

constexpr uint8_t kAny = 255;

const ScalarFunction kScalars[] = {
    {"abs", 1, 1, f_abs},
    {"round", 1, 2, f_round},
    {"floor", 1, 1, f_floor},
    {"ceil", 1, 1, f_ceil},
    {"sqrt", 1, 1, f_sqrt},
    {"pow", 2, 2, f_pow},
    {"log", 1, 2, f_log},
    {"exp", 1, 1, f_exp},
    {"sign", 1, 1, f_sign},
    {"min", 2, kAny, f_min},
    {"max", 2, kAny, f_max},
    {"concat", 1, kAny, f_concat},
    {"lower", 1, 1, f_lower},
    {"upper", 1, 1, f_upper},
    {"trim", 1, 1, f_trim},
    {"substring", 2, 3, f_substring},
    {"length", 1, 1, f_length},
    {"split", 2, 3, f_split},
    {"regexp_matches", 2, 2, f_regexp_matches, 0b10},
    {"format", 1, kAny, f_format},
    {"cast", 2, 2, f_cast, 0b10},
    {"to_json", 1, 1, f_to_json},
    {"parse_json", 1, 1, f_parse_json},
    {"now", 0, 0, f_now},
    {"receive_time", 0, 0, f_receive_time},
    {"format_time", 2, 2, f_format_time},
    {"topic", 0, 1, f_topic},
    {"window_start", 0, 0, f_window_start},
    {"window_end", 0, 0, f_window_end},
    {"coalesce", 1, kAny, f_coalesce},
    {"nullif", 2, 2, f_nullif},
};

const AggregateFunction kAggregates[] = {
    {"count", AggKind::Count, 1},   {"sum", AggKind::Sum, 1},     {"avg", AggKind::Avg, 1},
    {"min", AggKind::Min, 1},       {"max", AggKind::Max, 1},     {"first", AggKind::First, 1},
    {"last", AggKind::Last, 1},     {"stddev", AggKind::Stddev, 1}, {"percentile", AggKind::Percentile, 2},
};

constexpr std::pair<std::string_view, HistoryKind> kHistory[] = {
    {"changed", HistoryKind::Changed}, {"lag", HistoryKind::Lag}, {"delta", HistoryKind::Delta}, {"rate", HistoryKind::Rate}};

}  // namespace

const ScalarFunction* find_scalar(std::string_view name) {
    for (const auto& f : kScalars) {
        if (f.name == name) return &f;
    }
    return nullptr;
}

const AggregateFunction* find_aggregate(std::string_view name) {
    for (const auto& f : kAggregates) {
        if (f.name == name) return &f;
    }
    return nullptr;
}

bool find_history(std::string_view name, HistoryKind& kind) {
    for (const auto& [n, k] : kHistory) {
        if (n == name) {
            kind = k;
            return true;
        }
    }
    return false;
}

std::vector<std::string_view> all_function_names() {
    std::vector<std::string_view> out;
    for (const auto& f : kScalars) out.push_back(f.name);
    for (const auto& f : kAggregates) out.push_back(f.name);
    for (const auto& h : kHistory) out.push_back(h.first);
    return out;
}

EvalResult eval_history(HistoryKind kind, const Value& v, HistorySlot& slot, int64_t time_ms, StringArena& arena) {
    Value result;
    const Value prev = slot.prev.view();
    switch (kind) {
        case HistoryKind::Changed:
            result = Value::boolean(!slot.has || !(equal(prev, v) || (prev.is_null() && v.is_null())));
            break;
        case HistoryKind::Lag:
            // The previous value's text is about to be overwritten: keep a copy for this message.
            result = prev;
            if (prev.type == Type::String || prev.type == Type::Json) result.s = arena.copy(prev.s);
            break;
        case HistoryKind::Delta:
        case HistoryKind::Rate:
            if (!v.is_null() && !v.is_number()) {
                return std::unexpected(EvalError{ErrorKind::Type, std::string(kind == HistoryKind::Delta ? "delta" : "rate") +
                                                                      "() needs a number, got " + std::string(type_name(v.type))});
            }
            if (slot.has && prev.is_number() && v.is_number()) {
                if (kind == HistoryKind::Delta) {
                    int64_t d = 0;
                    if (v.type == Type::Int && prev.type == Type::Int && !__builtin_sub_overflow(v.i, prev.i, &d)) {
                        result = Value::integer(d);
                    } else {
                        result = Value::real(v.as_double() - prev.as_double());
                    }
                } else if (time_ms > slot.prev_ms) {
                    result = Value::real((v.as_double() - prev.as_double()) * 1000.0 /
                                         static_cast<double>(time_ms - slot.prev_ms));
                }
            }
            break;
    }
    slot.prev.assign(v);
    slot.prev_ms = time_ms;
    slot.has = true;
    return result;
}

}  // namespace ib::rules
