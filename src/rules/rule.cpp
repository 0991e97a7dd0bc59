#include "rules/rule.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "rules/compiler.hpp"
#include "rules/evaluator.hpp"
#include "rules/shared_document.hpp"

namespace ib::rules {

static_assert(kErrorKinds == static_cast<int>(ErrorKind::Count));

std::string_view rule_error_kind_name(int kind) { return error_kind_name(static_cast<ErrorKind>(kind)); }

const Value* OutputRow::find(std::string_view name) const {
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i] == name) return &values[i];
    }
    return nullptr;
}

namespace {

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// The running state of one aggregate for one group.
struct Acc {
    uint64_t n = 0;
    bool ints = true;
    int64_t isum = 0;
    double sum = 0;
    double mean = 0, m2 = 0;  // Welford, for stddev
    OwnedValue best, first, last;
    std::vector<double> samples;
    std::unordered_set<std::string> distinct;
};

constexpr std::size_t kMaxSamples = 1'000'000;  // percentile() values kept per group

std::string_view agg_name(AggKind k) {
    switch (k) {
        case AggKind::Count:
        case AggKind::CountDistinct: return "count";
        case AggKind::Sum: return "sum";
        case AggKind::Avg: return "avg";
        case AggKind::Min: return "min";
        case AggKind::Max: return "max";
        case AggKind::First: return "first";
        case AggKind::Last: return "last";
        case AggKind::Stddev: return "stddev";
        case AggKind::Percentile: return "percentile";
    }
    return "?";
}

// Whether `v` can be added to `a` (null: a group not made yet). Checked for every
// aggregate before any is updated, so a message is counted whole or not at all.
std::optional<EvalError> acc_check(const Acc* a, const AggSpec& spec, const Value& v) {
    if (spec.arg == nullptr || v.is_null()) return std::nullopt;
    switch (spec.kind) {
        case AggKind::Count:
        case AggKind::CountDistinct:
        case AggKind::First:
        case AggKind::Last: return std::nullopt;
        case AggKind::Min:
        case AggKind::Max:
            if (!v.is_number() && v.type != Type::String) {
                return EvalError{ErrorKind::Type, std::string(agg_name(spec.kind)) + "() of a " + std::string(type_name(v.type))};
            }
            if (a != nullptr && a->n > 0 && !comparable(v, a->best.view())) {
                return EvalError{ErrorKind::Type, std::string(agg_name(spec.kind)) + "() over values of different types"};
            }
            return std::nullopt;
        default:
            if (!v.is_number()) {
                return EvalError{ErrorKind::Type, expr_text(*spec.arg) + " is " + std::string(type_name(v.type)) +
                                                      ", a number was expected"};
            }
            return std::nullopt;
    }
}

// Adds a value that acc_check() accepted.
void acc_add(Acc& a, const AggSpec& spec, const Value& v, std::string& scratch) {
    if (spec.kind == AggKind::Count && spec.arg == nullptr) {  // count(*)
        ++a.n;
        return;
    }
    if (v.is_null()) return;  // aggregates skip nulls, as in SQL
    switch (spec.kind) {
        case AggKind::Count: ++a.n; return;
        case AggKind::CountDistinct:
            scratch.clear();
            append_json(scratch, v);
            if (a.distinct.size() < kMaxSamples) a.distinct.insert(scratch);
            return;
        case AggKind::First:
            if (a.n++ == 0) a.first.assign(v);
            return;
        case AggKind::Last:
            ++a.n;
            a.last.assign(v);
            return;
        case AggKind::Min:
        case AggKind::Max: {
            if (a.n > 0) {
                int c = compare(v, a.best.view());
                if (spec.kind == AggKind::Min ? c >= 0 : c <= 0) return;
            }
            ++a.n;
            a.best.assign(v);
            return;
        }
        default: break;
    }
    ++a.n;
    const double x = v.as_double();
    if (!a.ints || v.type != Type::Int || __builtin_add_overflow(a.isum, v.i, &a.isum)) a.ints = false;
    a.sum += x;
    const double d = x - a.mean;
    a.mean += d / static_cast<double>(a.n);
    a.m2 += d * (x - a.mean);
    if (spec.kind == AggKind::Percentile && a.samples.size() < kMaxSamples) a.samples.push_back(x);
}

Value acc_result(const Acc& a, const AggSpec& spec, std::vector<double>& scratch) {
    switch (spec.kind) {
        case AggKind::Count: return Value::integer(static_cast<int64_t>(a.n));
        case AggKind::CountDistinct: return Value::integer(static_cast<int64_t>(a.distinct.size()));
        case AggKind::Sum:
            if (a.n == 0) return Value::null();
            return a.ints ? Value::integer(a.isum) : Value::real(a.sum);
        case AggKind::Avg: return a.n == 0 ? Value::null() : Value::real(a.sum / static_cast<double>(a.n));
        case AggKind::Min:
        case AggKind::Max: return a.n == 0 ? Value::null() : a.best.view();
        case AggKind::First: return a.first.view();
        case AggKind::Last: return a.last.view();
        case AggKind::Stddev:  // population standard deviation
            return a.n == 0 ? Value::null() : Value::real(std::sqrt(a.m2 / static_cast<double>(a.n)));
        case AggKind::Percentile: {
            if (a.samples.empty()) return Value::null();
            scratch.assign(a.samples.begin(), a.samples.end());
            std::sort(scratch.begin(), scratch.end());
            const double rank = spec.fraction * static_cast<double>(scratch.size() - 1);
            const auto lo = static_cast<std::size_t>(std::floor(rank));
            const std::size_t hi = std::min(lo + 1, scratch.size() - 1);
            return Value::real(scratch[lo] + (scratch[hi] - scratch[lo]) * (rank - static_cast<double>(lo)));
        }
    }
    return Value::null();
}

struct Group {
    std::string key;
    std::vector<Acc> accs;
    // The group's latest message: what non-aggregate columns are computed from.
    std::string topic;
    std::string payload;
    int64_t time_ms = 0;
    int64_t received_ms = 0;
};

struct Window {
    int64_t start = 0;
    int64_t end = 0;      // exclusive
    int64_t last_ms = 0;  // session: the latest message
    std::vector<Group> groups;
    std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> index;
};

// A message kept whole by a sliding or count window.
struct Event {
    int64_t time_ms = 0;
    int64_t received_ms = 0;
    std::string key;
    std::string topic;
    std::string payload;
    std::vector<OwnedValue> args;
};

constexpr std::size_t kMaxEvents = 1'000'000;

// The checkpoint format: little-endian fixed-width numbers, length-prefixed text.
// Version 1; a change of layout bumps it, and an old checkpoint is then ignored.
constexpr uint8_t kStateVersion = 1;

class StateWriter {
public:
    explicit StateWriter(std::string& out) : out_(out) {}
    void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u64(uint64_t v) {
        for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
    }
    void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
    void f64(double v) {
        uint64_t bits = 0;
        std::memcpy(&bits, &v, sizeof bits);
        u64(bits);
    }
    void str(std::string_view s) {
        u64(s.size());
        out_.append(s);
    }
    void value(const OwnedValue& o) {
        Value v = o.view();
        u8(static_cast<uint8_t>(v.type));
        switch (v.type) {
            case Type::Null: break;
            case Type::Bool: u8(v.b ? 1 : 0); break;
            case Type::Int: i64(v.i); break;
            case Type::Double: f64(v.d); break;
            case Type::String:
            case Type::Json: str(v.s); break;
        }
    }

private:
    std::string& out_;
};

class StateReader {
public:
    explicit StateReader(std::string_view in) : in_(in) {}
    bool ok() const { return ok_; }
    bool done() const { return ok_ && at_ == in_.size(); }
    uint8_t u8() {
        if (!need(1)) return 0;
        return static_cast<uint8_t>(in_[at_++]);
    }
    uint64_t u64() {
        if (!need(8)) return 0;
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[at_ + i])) << (8 * i);
        at_ += 8;
        return v;
    }
    int64_t i64() { return static_cast<int64_t>(u64()); }
    double f64() {
        uint64_t bits = u64();
        double v = 0;
        std::memcpy(&v, &bits, sizeof v);
        return v;
    }
    // A count of items that each take at least `min_bytes`: larger than what is
    // left means the bytes are damaged, not that memory should be reserved.
    uint64_t count(std::size_t min_bytes) {
        uint64_t n = u64();
        if (n > (in_.size() - std::min(at_, in_.size())) / std::max<std::size_t>(min_bytes, 1)) ok_ = false;
        return ok_ ? n : 0;
    }
    std::string str() {
        uint64_t n = u64();
        if (!need(n)) return {};
        std::string s(in_.substr(at_, n));
        at_ += n;
        return s;
    }
    void value(OwnedValue& o) {
        auto t = static_cast<Type>(u8());
        switch (t) {
            case Type::Null: o.assign(Value::null()); break;
            case Type::Bool: o.assign(Value::boolean(u8() != 0)); break;
            case Type::Int: o.assign(Value::integer(i64())); break;
            case Type::Double: o.assign(Value::real(f64())); break;
            case Type::String: {
                std::string s = str();
                o.assign(Value::string(s));
                break;
            }
            case Type::Json: {
                std::string s = str();
                o.assign(Value::json(s));
                break;
            }
            default: ok_ = false;
        }
    }

private:
    bool need(uint64_t n) {
        if (!ok_ || n > in_.size() - at_) ok_ = false;
        return ok_;
    }
    std::string_view in_;
    std::size_t at_ = 0;
    bool ok_ = true;
};

void save_acc(StateWriter& w, const Acc& a) {
    w.u64(a.n);
    w.u8(a.ints ? 1 : 0);
    w.i64(a.isum);
    w.f64(a.sum);
    w.f64(a.mean);
    w.f64(a.m2);
    w.value(a.best);
    w.value(a.first);
    w.value(a.last);
    w.u64(a.samples.size());
    for (double d : a.samples) w.f64(d);
    w.u64(a.distinct.size());
    for (const auto& d : a.distinct) w.str(d);
}

void load_acc(StateReader& r, Acc& a) {
    a.n = r.u64();
    a.ints = r.u8() != 0;
    a.isum = r.i64();
    a.sum = r.f64();
    a.mean = r.f64();
    a.m2 = r.f64();
    r.value(a.best);
    r.value(a.first);
    r.value(a.last);
    for (uint64_t i = 0, n = r.count(8); i < n && r.ok(); ++i) a.samples.push_back(r.f64());
    for (uint64_t i = 0, n = r.count(8); i < n && r.ok(); ++i) a.distinct.insert(r.str());
}

void save_group(StateWriter& w, const Group& g) {
    w.str(g.key);
    w.u64(g.accs.size());
    for (const Acc& a : g.accs) save_acc(w, a);
    w.str(g.topic);
    w.str(g.payload);
    w.i64(g.time_ms);
    w.i64(g.received_ms);
}

bool load_group(StateReader& r, Group& g, std::size_t aggregates) {
    g.key = r.str();
    if (r.u64() != aggregates) return false;
    g.accs.resize(aggregates);
    for (Acc& a : g.accs) load_acc(r, a);
    g.topic = r.str();
    g.payload = r.str();
    g.time_ms = r.i64();
    g.received_ms = r.i64();
    return r.ok();
}

}  // namespace

struct Rule::Impl {
    std::string sql;
    Plan plan;
    RuleOptions options;
    Expr event_time;  // a Field, when options.event_time_field is set
    bool use_event_time = false;

    simdjson::dom::parser parser;
    std::string padded;
    StringArena arena;
    std::string scratch;
    simdjson::dom::parser emit_parser;  // for closing windows: see emit_group
    std::string emit_padded;
    StringArena emit_arena;
    std::string emit_scratch;
    int64_t newest_event_ms = std::numeric_limits<int64_t>::min();
    std::string key;
    std::string out;
    std::vector<std::string> names;
    std::vector<Value> values;
    std::vector<Value> agg_args;
    std::vector<Value> agg_results;
    std::vector<double> sort_scratch;

    std::unordered_map<std::string, std::vector<HistorySlot>, StringHash, std::equal_to<>> partitions;
    std::deque<Window> windows;  // tumbling/hopping: by start; session: at most one
    std::deque<Event> events;    // sliding and count windows
    uint64_t since_emit = 0;     // count windows
    int64_t watermark = std::numeric_limits<int64_t>::min();

    RuleCounters counters;
    std::function<void(const OutputRow&)> emit;
    mutable uint64_t saved_in = 0;  // counters.in at the last save_state()

    const WindowSpec& window() const { return *plan.query.window; }

    void error(const EvalError& e, int64_t now_ms) {
        ++counters.errors[static_cast<int>(e.kind)];
        counters.last_error = e.message;
        counters.last_error_ms = now_ms;
    }

    // Parses into the rule's parser; the document lives until the next parse.
    std::expected<simdjson::dom::element, std::string> parse(std::span<const std::byte> payload) {
        const std::size_t n = payload.size();
        if (padded.size() < n + simdjson::SIMDJSON_PADDING) padded.resize(n + simdjson::SIMDJSON_PADDING);
        if (n > 0) std::memcpy(padded.data(), payload.data(), n);
        auto doc = parser.parse(padded.data(), n, false);
        if (doc.error()) return std::unexpected(std::string(simdjson::error_message(doc.error())));
        return doc.value_unsafe();
    }

    EvalContext context(std::string_view topic, simdjson::dom::element root, int64_t time_ms, int64_t received_ms) {
        EvalContext ctx;
        ctx.topic = topic;
        ctx.root = root;
        ctx.has_root = true;
        ctx.time_ms = time_ms;
        ctx.received_ms = received_ms;
        ctx.arena = &arena;
        ctx.scratch = &scratch;
        return ctx;
    }

    // The group key: each key's JSON text, separated by a byte JSON never holds.
    std::expected<void, EvalError> group_key(EvalContext& ctx) {
        key.clear();
        for (const auto& k : plan.query.group_keys) {
            auto v = eval(*k, ctx);
            if (!v) return std::unexpected(v.error());
            append_json(key, *v);
            key.push_back('\x1f');
        }
        return {};
    }

    HistorySlot* history_for_key() {
        auto it = partitions.find(std::string_view(key));
        if (it == partitions.end()) {
            if (partitions.size() >= options.max_groups) return nullptr;
            it = partitions.emplace(key, std::vector<HistorySlot>(static_cast<std::size_t>(plan.history_slots))).first;
        }
        return it->second.data();
    }

    // Evaluates the SELECT list into `out` and emits the row; HAVING first for windows.
    void project(EvalContext& ctx, int64_t now_ms) {
        if (plan.query.having) {
            auto keep = eval_condition(*plan.query.having, ctx);
            if (!keep) return error(keep.error(), now_ms);
            if (!*keep) return;
        }
        values.clear();
        out.clear();
        out.push_back('{');
        bool first = true;
        for (const auto& item : plan.query.items) {
            if (item.star) {
                simdjson::dom::object obj;
                if (ctx.root.get_object().get(obj) != simdjson::SUCCESS) continue;
                for (auto field : obj) {
                    // A named column of the same name replaces the payload's key.
                    if (std::find(names.begin(), names.end(), field.key) != names.end()) continue;
                    if (!first) out.push_back(',');
                    first = false;
                    append_json_string(out, field.key);
                    out.push_back(':');
                    append_element(out, field.value);
                }
                continue;
            }
            auto v = eval(*item.expr, ctx);
            if (!v) return error(v.error(), now_ms);
            values.push_back(*v);
            if (!first) out.push_back(',');
            first = false;
            append_json_string(out, item.name);
            out.push_back(':');
            append_json(out, *v);
        }
        out.push_back('}');
        ++counters.out;
        if (emit) {
            OutputRow row{out, names, values};
            emit(row);
        }
    }

    // ---- windows

    // Emitting parses each group's latest message with a parser and an arena of its
    // own, so a window can close in the middle of taking a message (a session that
    // a new message ends) without touching that message's document or text.
    void emit_group(const Group& g, int64_t start, int64_t end, int64_t now_ms) {
        emit_arena.reset();
        for (std::size_t i = 0; i < plan.aggregates.size(); ++i) {
            agg_results[i] = acc_result(g.accs[i], plan.aggregates[i], sort_scratch);
        }
        const std::size_t n = g.payload.size();
        if (emit_padded.size() < n + simdjson::SIMDJSON_PADDING) emit_padded.resize(n + simdjson::SIMDJSON_PADDING);
        if (n > 0) std::memcpy(emit_padded.data(), g.payload.data(), n);
        auto doc = emit_parser.parse(emit_padded.data(), n, false);
        if (doc.error()) return;  // it parsed when it arrived
        EvalContext ctx = context(g.topic, doc.value_unsafe(), g.time_ms, g.received_ms);
        ctx.arena = &emit_arena;
        ctx.scratch = &emit_scratch;
        ctx.aggregates = agg_results.data();
        ctx.in_window = true;
        ctx.window_start = start;
        ctx.window_end = end;
        project(ctx, now_ms);
    }

    void emit_window(Window& w, int64_t now_ms) {
        for (const Group& g : w.groups) emit_group(g, w.start, w.end, now_ms);
    }

    // Groups buffered events [first, last) (sliding, count, event-time sessions)
    // and emits one row per group.
    // With `only_after`/`up_to` only the events timed in (only_after, up_to] count (sliding windows).
    void emit_events(std::deque<Event>::const_iterator first, std::deque<Event>::const_iterator last, int64_t start,
                     int64_t end, int64_t now_ms, int64_t only_after = std::numeric_limits<int64_t>::min(),
                     int64_t up_to = std::numeric_limits<int64_t>::max()) {
        Window w;
        w.start = start;
        w.end = end;
        for (auto e = first; e != last; ++e) {
            if (e->time_ms <= only_after || e->time_ms > up_to) continue;
            auto [it, added] = w.index.try_emplace(e->key, w.groups.size());
            if (added) {
                w.groups.emplace_back();
                w.groups.back().accs.resize(plan.aggregates.size());
            }
            Group& g = w.groups[it->second];
            for (std::size_t i = 0; i < plan.aggregates.size(); ++i) {
                const Value v = e->args[i].view();
                // Checked for its type on arrival; min/max across groups' values can still disagree.
                if (!acc_check(&g.accs[i], plan.aggregates[i], v)) acc_add(g.accs[i], plan.aggregates[i], v, emit_scratch);
            }
            g.topic = e->topic;
            g.payload = e->payload;
            g.time_ms = e->time_ms;
            g.received_ms = e->received_ms;
        }
        emit_window(w, now_ms);
    }

    // Event-time sessions are computed from the buffered events, sorted by time,
    // so a message that arrives out of order within the tolerance joins (or joins
    // up) the sessions it belongs to. A session is emitted once the watermark has
    // passed its end.
    void close_event_sessions(int64_t until, int64_t now_ms) {
        const WindowSpec& spec = window();
        while (!events.empty()) {
            const int64_t start = events.front().time_ms;
            int64_t last_ms = start;
            auto it = events.begin() + 1;
            while (it != events.end() && it->time_ms < last_ms + spec.gap_ms && it->time_ms < start + spec.size_ms) {
                last_ms = it->time_ms;
                ++it;
            }
            const int64_t end = std::min(last_ms + spec.gap_ms, start + spec.size_ms);
            if (end > until) return;  // a message could still join it
            emit_events(events.begin(), it, start, end, now_ms);
            events.erase(events.begin(), it);
        }
    }

    // Closes windows whose end is at or before `t` (processing time: now; event time: the watermark).
    void close_until(int64_t t, int64_t now_ms) {
        const WindowSpec& spec = window();
        if (spec.kind == WindowKind::Session) {
            if (use_event_time) return close_event_sessions(t, now_ms);
            if (!windows.empty()) {
                Window& w = windows.front();
                if (t >= w.last_ms + spec.gap_ms || t >= w.start + spec.size_ms) {
                    w.end = std::min(w.last_ms + spec.gap_ms, w.start + spec.size_ms);
                    emit_window(w, now_ms);
                    windows.clear();
                }
            }
            return;
        }
        while (!windows.empty() && windows.front().end <= t) {
            emit_window(windows.front(), now_ms);
            windows.pop_front();
        }
    }

    Window* window_at(int64_t start, int64_t end) {
        auto it = std::lower_bound(windows.begin(), windows.end(), start,
                                   [](const Window& w, int64_t s) { return w.start < s; });
        if (it != windows.end() && it->start == start) return &*it;
        it = windows.emplace(it);
        it->start = start;
        it->end = end;
        return &*it;
    }

    Group* find_group(Window& w) {
        auto it = w.index.find(std::string_view(key));
        return it == w.index.end() ? nullptr : &w.groups[it->second];
    }

    // Every aggregate argument checked against the group it would go to (none yet: null).
    std::optional<EvalError> check_args(const Group* g) const {
        for (std::size_t i = 0; i < plan.aggregates.size(); ++i) {
            if (auto e = acc_check(g ? &g->accs[i] : nullptr, plan.aggregates[i], agg_args[i])) return e;
        }
        return std::nullopt;
    }

    void add_to(Window& w, std::string_view topic, std::span<const std::byte> payload, int64_t time_ms,
                int64_t received_ms) {
        Group* g = find_group(w);
        if (g == nullptr) {
            w.index.emplace(key, w.groups.size());
            g = &w.groups.emplace_back();
            g->key = key;
            g->accs.resize(plan.aggregates.size());
        }
        for (std::size_t i = 0; i < plan.aggregates.size(); ++i) acc_add(g->accs[i], plan.aggregates[i], agg_args[i], scratch);
        g->topic.assign(topic);
        g->payload.assign(reinterpret_cast<const char*>(payload.data()), payload.size());
        g->time_ms = time_ms;
        g->received_ms = received_ms;
        w.last_ms = std::max(w.last_ms, time_ms);
    }

    std::optional<EvalError> too_many_groups(const Window& w) const {
        if (w.groups.size() < options.max_groups) return std::nullopt;
        return EvalError{ErrorKind::Function, "more than " + std::to_string(options.max_groups) + " groups in one window"};
    }

    void keep_event(const EvalContext& ctx, std::span<const std::byte> payload) {
        const int64_t t = ctx.time_ms;
        // Sorted by time for event-time sessions (late arrivals go in their place); appended otherwise.
        auto at = events.end();
        if (use_event_time && window().kind == WindowKind::Session) {
            while (at != events.begin() && std::prev(at)->time_ms > t) --at;
        }
        Event& e = *events.emplace(at);
        e.time_ms = t;
        e.received_ms = ctx.received_ms;
        e.key = key;
        e.topic.assign(ctx.topic);
        e.payload.assign(reinterpret_cast<const char*>(payload.data()), payload.size());
        e.args.resize(agg_args.size());
        for (std::size_t i = 0; i < agg_args.size(); ++i) e.args[i].assign(agg_args[i]);
        if (events.size() > kMaxEvents) events.pop_front();
    }

    // Takes one message that passed WHERE into the window(s) it belongs to:
    // false when it is late. Nothing is changed unless the whole message is taken.
    std::expected<bool, EvalError> take(EvalContext& ctx, std::span<const std::byte> payload, int64_t now_ms) {
        const WindowSpec& spec = window();
        const int64_t t = ctx.time_ms;
        // A processing-time session that this message ends closes first, while the
        // message's own values are not yet computed (emitting does not touch them anyway).
        if (spec.kind == WindowKind::Session && !use_event_time && !windows.empty()) {
            Window& w = windows.front();
            if (t >= w.last_ms + spec.gap_ms || t >= w.start + spec.size_ms) close_until(t, now_ms);
        }
        for (std::size_t i = 0; i < plan.aggregates.size(); ++i) {
            const AggSpec& a = plan.aggregates[i];
            if (a.arg == nullptr) {
                agg_args[i] = Value::null();
                continue;
            }
            auto v = eval(*a.arg, ctx);
            if (!v) return std::unexpected(v.error());
            if (v->missing) return std::unexpected(EvalError{ErrorKind::MissingField, "field '" + expr_text(*a.arg) + "' is missing"});
            agg_args[i] = *v;
        }
        const bool has_watermark = watermark != std::numeric_limits<int64_t>::min();
        switch (spec.kind) {
            case WindowKind::Tumbling:
            case WindowKind::Hopping: {
                // Windows [s, s + size) with s a multiple of the hop and s <= t < s + size;
                // with event time, those the watermark has not closed.
                const int64_t last = t >= 0 ? t / spec.hop_ms * spec.hop_ms : -((-t + spec.hop_ms - 1) / spec.hop_ms) * spec.hop_ms;
                int64_t first = last;
                while (first - spec.hop_ms > t - spec.size_ms) first -= spec.hop_ms;
                if (use_event_time && has_watermark) {
                    while (first <= last && first + spec.size_ms <= watermark) first += spec.hop_ms;
                }
                if (first > last) return false;
                for (int64_t s = first; s <= last; s += spec.hop_ms) {
                    auto it = std::lower_bound(windows.begin(), windows.end(), s, [](const Window& w, int64_t x) { return w.start < x; });
                    const Group* g = nullptr;
                    if (it != windows.end() && it->start == s) {
                        g = find_group(*it);
                        if (g == nullptr) {
                            if (auto e = too_many_groups(*it)) return std::unexpected(*e);
                        }
                    }
                    if (auto e = check_args(g)) return std::unexpected(*e);
                }
                for (int64_t s = first; s <= last; s += spec.hop_ms) add_to(*window_at(s, s + spec.size_ms), ctx.topic, payload, t, ctx.received_ms);
                return true;
            }
            case WindowKind::Session: {
                if (use_event_time) {
                    if (has_watermark && t + spec.gap_ms <= watermark) return false;
                    if (auto e = check_args(nullptr)) return std::unexpected(*e);
                    keep_event(ctx, payload);
                    return true;
                }
                if (windows.empty()) {
                    if (auto e = check_args(nullptr)) return std::unexpected(*e);
                    windows.emplace_back();
                    windows.front().start = t;
                    windows.front().last_ms = t;
                } else {
                    const Group* g = find_group(windows.front());
                    if (g == nullptr) {
                        if (auto e = too_many_groups(windows.front())) return std::unexpected(*e);
                    }
                    if (auto e = check_args(g)) return std::unexpected(*e);
                }
                add_to(windows.front(), ctx.topic, payload, t, ctx.received_ms);
                return true;
            }
            case WindowKind::Sliding:
            case WindowKind::Count: {
                if (spec.kind == WindowKind::Sliding && use_event_time && has_watermark && t <= watermark - spec.size_ms) {
                    return false;
                }
                if (auto e = check_args(nullptr)) return std::unexpected(*e);
                keep_event(ctx, payload);
                return true;
            }
        }
        return true;
    }

    // After a message was taken: the windows that emit per message.
    void after_take(int64_t t, int64_t now_ms) {
        const WindowSpec& spec = window();
        if (spec.kind == WindowKind::Sliding) {
            // The window (t - size, t] ends at the message that triggers it, also
            // for a late one within the tolerance (which then sees no newer event).
            // Events stay while a message not yet late could still need them.
            const int64_t horizon = use_event_time ? watermark - 2 * spec.size_ms : t - spec.size_ms;
            while (!events.empty() && events.front().time_ms <= horizon) events.pop_front();
            emit_events(events.begin(), events.end(), t - spec.size_ms, t, now_ms, t - spec.size_ms, t);
        } else if (spec.kind == WindowKind::Count) {
            while (events.size() > spec.count) events.pop_front();
            if (++since_emit >= spec.every && events.size() >= spec.count) {
                since_emit = 0;
                emit_events(events.begin(), events.end(), 0, 0, now_ms);
                if (spec.every == spec.count) events.clear();
            }
        }
    }

    // With event time, the watermark moves with every message that has a time,
    // whether or not WHERE keeps it: time passes for the stream either way.
    void advance_watermark(int64_t t, int64_t now_ms) {
        newest_event_ms = std::max(newest_event_ms, t);
        watermark = std::max(watermark, t - options.late_tolerance_ms);
        const WindowKind k = window().kind;
        if (k != WindowKind::Sliding && k != WindowKind::Count) close_until(watermark, now_ms);
    }

    void on_message(std::string_view topic, std::span<const std::byte> payload, int64_t now_ms,
                    SharedDocument* shared) {
        ++counters.in;
        // Due windows close first: they hold messages older than this one.
        if (plan.windowed() && !use_event_time) close_until(now_ms, now_ms);
        arena.reset();
        SharedDocument::Use use(shared);
        auto root = shared ? shared->root() : parse(payload);
        if (!root) return error(EvalError{ErrorKind::Decode, "payload is not JSON: " + root.error()}, now_ms);
        EvalContext ctx = context(topic, *root, now_ms, now_ms);
        ctx.message_seq = counters.in;
        if (use_event_time) {
            auto t = eval(event_time, ctx);
            if (!t) return error(t.error(), now_ms);
            if (t->missing) return error(EvalError{ErrorKind::MissingField, "event time field '" + options.event_time_field + "' is missing"}, now_ms);
            if (!t->is_number()) return error(EvalError{ErrorKind::Type, "event time field '" + options.event_time_field + "' is not a number of milliseconds"}, now_ms);
            ctx.time_ms = static_cast<int64_t>(std::clamp(t->as_double(), -9.0e15, 9.0e15));
        }
        if (!plan.query.group_keys.empty() || plan.history_slots > 0) {
            if (auto r = group_key(ctx); !r) return error(r.error(), now_ms);
        }
        if (plan.history_slots > 0) {
            ctx.history = history_for_key();
            if (ctx.history == nullptr) {
                return error(EvalError{ErrorKind::Function, "more than " + std::to_string(options.max_groups) + " group keys"}, now_ms);
            }
        }
        if (plan.query.where) {
            auto keep = eval_condition(*plan.query.where, ctx);
            if (!keep) return error(keep.error(), now_ms);
            if (!*keep) {
                ++counters.filtered;
                if (use_event_time) advance_watermark(ctx.time_ms, now_ms);
                return;
            }
        }
        if (!plan.windowed()) return project(ctx, now_ms);
        auto taken = take(ctx, payload, now_ms);
        if (!taken) return error(taken.error(), now_ms);
        const int64_t t = ctx.time_ms;
        if (!*taken) {
            ++counters.late;
            return;
        }
        if (use_event_time) advance_watermark(t, now_ms);
        after_take(t, now_ms);
    }
};

std::string Rule::save_state() const {
    const Impl& r = *impl_;
    std::string out;
    StateWriter w(out);
    w.u8(kStateVersion);
    w.i64(r.watermark);
    w.i64(r.newest_event_ms);
    w.u64(r.since_emit);
    w.u64(r.partitions.size());
    for (const auto& [key, slots] : r.partitions) {
        w.str(key);
        w.u64(slots.size());
        for (const HistorySlot& h : slots) {
            w.value(h.prev);
            w.i64(h.prev_ms);
            w.u8(h.has ? 1 : 0);
        }
    }
    w.u64(r.windows.size());
    for (const Window& win : r.windows) {
        w.i64(win.start);
        w.i64(win.end);
        w.i64(win.last_ms);
        w.u64(win.groups.size());
        for (const Group& g : win.groups) save_group(w, g);
    }
    w.u64(r.events.size());
    for (const Event& e : r.events) {
        w.i64(e.time_ms);
        w.i64(e.received_ms);
        w.str(e.key);
        w.str(e.topic);
        w.str(e.payload);
        w.u64(e.args.size());
        for (const OwnedValue& v : e.args) w.value(v);
    }
    r.saved_in = r.counters.in;
    return out;
}

bool Rule::restore_state(std::string_view bytes) {
    Impl& r = *impl_;
    StateReader in(bytes);
    if (in.u8() != kStateVersion) return false;
    const std::size_t aggs = r.plan.aggregates.size();
    const auto slots = static_cast<std::size_t>(r.plan.history_slots);
    decltype(r.partitions) partitions;
    std::deque<Window> windows;
    std::deque<Event> events;
    const int64_t watermark = in.i64();
    const int64_t newest_event_ms = in.i64();
    const uint64_t since_emit = in.u64();
    for (uint64_t i = 0, n = in.count(16); i < n && in.ok(); ++i) {
        std::string key = in.str();
        if (in.u64() != slots) return false;
        std::vector<HistorySlot> hs(slots);
        for (HistorySlot& h : hs) {
            in.value(h.prev);
            h.prev_ms = in.i64();
            h.has = in.u8() != 0;
        }
        partitions.emplace(std::move(key), std::move(hs));
    }
    for (uint64_t i = 0, n = in.count(32); i < n && in.ok(); ++i) {
        Window& win = windows.emplace_back();
        win.start = in.i64();
        win.end = in.i64();
        win.last_ms = in.i64();
        for (uint64_t k = 0, groups = in.count(32); k < groups && in.ok(); ++k) {
            Group& g = win.groups.emplace_back();
            if (!load_group(in, g, aggs)) return false;
            win.index.emplace(g.key, win.groups.size() - 1);
        }
    }
    for (uint64_t i = 0, n = in.count(48); i < n && in.ok(); ++i) {
        Event& e = events.emplace_back();
        e.time_ms = in.i64();
        e.received_ms = in.i64();
        e.key = in.str();
        e.topic = in.str();
        e.payload = in.str();
        if (in.u64() != aggs) return false;
        e.args.resize(aggs);
        for (OwnedValue& v : e.args) in.value(v);
    }
    if (!in.done()) return false;
    r.watermark = watermark;
    r.newest_event_ms = newest_event_ms;
    r.since_emit = since_emit;
    r.partitions = std::move(partitions);
    r.windows = std::move(windows);
    r.events = std::move(events);
    return true;
}

bool Rule::state_dirty() const { return impl_->counters.in != impl_->saved_in; }
bool Rule::stateful() const { return impl_->plan.windowed() || impl_->plan.history_slots > 0; }

Rule::Rule(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Rule::~Rule() = default;

std::expected<std::unique_ptr<Rule>, std::string> Rule::compile(std::string_view sql, RuleOptions options) {
    auto plan = rules::compile(sql);
    if (!plan) return std::unexpected(format_error(sql, plan.error()));
    auto impl = std::make_unique<Impl>();
    impl->sql = std::string(sql);
    impl->plan = std::move(*plan);
    impl->options = std::move(options);
    if (!impl->options.event_time_field.empty()) {
        if (!impl->plan.windowed()) return std::unexpected("event time needs a window in GROUP BY");
        impl->use_event_time = true;
        impl->event_time.kind = ExprKind::Field;
        std::string_view f = impl->options.event_time_field;
        while (!f.empty()) {
            std::size_t dot = f.find('.');
            impl->event_time.path.push_back(PathStep{std::string(f.substr(0, dot)), -1});
            if (dot == std::string_view::npos) break;
            f.remove_prefix(dot + 1);
        }
    }
    for (const auto& item : impl->plan.query.items) {
        if (!item.star) impl->names.push_back(item.name);
    }
    impl->agg_args.resize(impl->plan.aggregates.size());
    impl->agg_results.resize(impl->plan.aggregates.size());
    return std::unique_ptr<Rule>(new Rule(std::move(impl)));
}

const std::string& Rule::from() const { return impl_->plan.query.from; }
const std::string& Rule::sql() const { return impl_->sql; }
bool Rule::windowed() const { return impl_->plan.windowed(); }
std::span<const std::string> Rule::columns() const { return impl_->names; }
bool Rule::select_star() const {
    const auto& items = impl_->plan.query.items;
    return std::any_of(items.begin(), items.end(), [](const SelectItem& i) { return i.star; });
}
void Rule::on_emit(std::function<void(const OutputRow&)> emit) { impl_->emit = std::move(emit); }

void Rule::on_message(std::string_view topic, std::span<const std::byte> payload, int64_t now_ms,
                      SharedDocument* shared) {
    impl_->on_message(topic, payload, now_ms, shared);
}

void Rule::on_time(int64_t now_ms) {
    if (impl_->plan.windowed() && !impl_->use_event_time) impl_->close_until(now_ms, now_ms);
}

std::optional<int64_t> Rule::next_deadline() const {
    const Impl& r = *impl_;
    if (!r.plan.windowed() || r.use_event_time || r.windows.empty()) return std::nullopt;
    const WindowSpec& spec = r.window();
    if (spec.kind == WindowKind::Session) {
        const Window& w = r.windows.front();
        return std::min(w.last_ms + spec.gap_ms, w.start + spec.size_ms);
    }
    return r.windows.front().end;
}

void Rule::flush() {
    Impl& r = *impl_;
    if (!r.plan.windowed()) return;
    if (r.window().kind == WindowKind::Session) {
        const int64_t last = !r.windows.empty() ? r.windows.front().last_ms : !r.events.empty() ? r.events.back().time_ms : 0;
        r.close_until(std::numeric_limits<int64_t>::max() / 2, last);
        return;
    }
    while (!r.windows.empty()) {
        r.emit_window(r.windows.front(), r.windows.front().end);
        r.windows.pop_front();
    }
}

void Rule::count_action_error(std::string message, int64_t now_ms) {
    impl_->error(EvalError{ErrorKind::Action, std::move(message)}, now_ms);
}

const RuleCounters& Rule::counters() const { return impl_->counters; }

}  // namespace ib::rules
