#include "rules/compiler.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <re2/re2.h>

#include "core/suggest.hpp"

namespace ib::rules {
namespace {

enum class Clause : uint8_t { Select, Where, GroupBy, Having };

std::string_view clause_name(Clause c) {
    switch (c) {
        case Clause::Select: return "SELECT";
        case Clause::Where: return "WHERE";
        case Clause::GroupBy: return "GROUP BY";
        case Clause::Having: return "HAVING";
    }
    return "";
}

std::string arity_text(const ScalarFunction& f) {
    if (f.max_args == 255) return "at least " + std::to_string(f.min_args) + " argument" + (f.min_args == 1 ? "" : "s");
    if (f.min_args == f.max_args) {
        return std::to_string(f.min_args) + " argument" + (f.min_args == 1 ? "" : "s");
    }
    return std::to_string(f.min_args) + " to " + std::to_string(f.max_args) + " arguments";
}

// What one compiled pattern may use (its program and its DFA caches); beyond it
// RE2 refuses the pattern, or falls back to its slower NFA, still linear.
constexpr int64_t kPatternMemory = 1 << 20;

constexpr std::string_view kCastTypes[] = {"bigint", "int", "integer", "float", "double", "string", "boolean", "bool"};

class Compiler {
public:
    explicit Compiler(Plan& plan) : plan_(plan) {}

    std::expected<void, SqlError> run() {
        Query& q = plan_.query;
        if (q.from.empty()) return fail(q.from_pos, "the topic filter after FROM is empty");
        std::set<std::string> names;
        for (auto& item : q.items) {
            if (item.star) {
                if (plan_.windowed()) return fail(item.pos, "SELECT * cannot be used with a window: name the columns to compute");
                continue;
            }
            if (auto r = walk(*item.expr, Clause::Select, false); !r) return r;
            if (!names.insert(item.name).second) {
                return fail(item.expr->pos, "two columns are named '" + item.name + "': give one a name with AS");
            }
        }
        if (q.where) {
            if (auto r = walk(*q.where, Clause::Where, false); !r) return r;
        }
        for (auto& k : q.group_keys) {
            if (auto r = walk(*k, Clause::GroupBy, false); !r) return r;
        }
        if (q.having) {
            if (!plan_.windowed()) return fail(q.having->pos, "HAVING needs a window in GROUP BY");
            if (auto r = walk(*q.having, Clause::Having, false); !r) return r;
        }
        return {};
    }

private:
    std::unexpected<SqlError> fail(uint32_t pos, std::string msg) { return std::unexpected(SqlError{pos, std::move(msg)}); }

    std::expected<void, SqlError> walk(Expr& e, Clause clause, bool in_aggregate) {
        if (e.kind == ExprKind::Call) return resolve(e, clause, in_aggregate);
        if (e.kind == ExprKind::Like && e.args[1]->kind == ExprKind::Literal &&
            e.args[1]->literal.view().type != Type::String) {
            return fail(e.args[1]->pos, "LIKE needs a string pattern");
        }
        for (auto& a : e.args) {
            if (auto r = walk(*a, clause, in_aggregate); !r) return r;
        }
        return {};
    }

    std::expected<void, SqlError> resolve(Expr& e, Clause clause, bool in_aggregate) {
        const std::size_t n = e.args.size();
        if (e.distinct && e.name != "count") return fail(e.pos, "DISTINCT is only for count(DISTINCT x)");
        if (e.star && e.name != "count") return fail(e.pos, e.name + "(*) is not allowed; only count(*)");
        const AggregateFunction* agg = find_aggregate(e.name);
        const bool scalar_min_max = (e.name == "min" || e.name == "max") && n >= 2;
        if (agg != nullptr && !scalar_min_max) return aggregate(e, *agg, clause, in_aggregate);
        HistoryKind hk{};
        if (find_history(e.name, hk)) {
            if (n != 1) return fail(e.pos, e.name + "() takes 1 argument, got " + std::to_string(n));
            if (in_aggregate) return fail(e.pos, e.name + "() cannot be used inside an aggregate");
            if (clause == Clause::GroupBy) return fail(e.pos, e.name + "() cannot be a GROUP BY key");
            if (plan_.windowed() && clause != Clause::Where) {
                return fail(e.pos, e.name + "() looks at each message: in a window rule use it in WHERE");
            }
            // The same call written twice (in WHERE and in SELECT) is one slot: it
            // sees each message once.
            const std::string key = e.name + "(" + (e.args[0]->text.empty() ? std::to_string(e.pos) : e.args[0]->text) + ")";
            auto [it, added] = history_by_text_.try_emplace(key, plan_.history_slots);
            if (added) ++plan_.history_slots;
            e.state_slot = it->second;
            e.history_kind = static_cast<uint8_t>(hk);
            return walk(*e.args[0], clause, in_aggregate);
        }
        const ScalarFunction* f = find_scalar(e.name);
        if (f == nullptr) {
            std::vector<std::string_view> names = all_function_names();
            std::string_view hint = suggest(e.name, names);
            return fail(e.pos, "unknown function '" + e.name + "'" +
                                   (hint.empty() ? std::string() : " (did you mean '" + std::string(hint) + "'?)"));
        }
        if (n > 16) return fail(e.pos, e.name + "() takes at most 16 arguments, got " + std::to_string(n));
        if (n < f->min_args || n > f->max_args) {
            return fail(e.pos, e.name + "() takes " + arity_text(*f) + ", got " + std::to_string(n));
        }
        e.fn = f;
        for (std::size_t i = 0; i < n; ++i) {
            if ((f->const_arg_mask >> i) & 1) {
                const Expr& a = *e.args[i];
                if (a.kind != ExprKind::Literal || a.literal.view().type != Type::String) {
                    return fail(a.pos, e.name + "(): argument " + std::to_string(i + 1) + " must be a quoted constant");
                }
            }
            if (auto r = walk(*e.args[i], clause, in_aggregate); !r) return r;
        }
        if (e.name == "cast") {
            // Type names in any case: CAST(v, 'BIGINT') as cast(v, 'bigint').
            std::string lowered(e.args[1]->literal.view().s);
            for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            e.args[1]->literal.assign(Value::string(lowered));
            std::string_view to = e.args[1]->literal.view().s;
            bool known = false;
            for (auto t : kCastTypes) known = known || t == to;
            if (!known) {
                return fail(e.args[1]->pos, "cast(): unknown type '" + std::string(to) +
                                                "' (one of bigint, float, string, boolean)");
            }
        }
        if (e.name == "regexp_matches") {
            if (auto r = compile_pattern(e); !r) return r;
        }
        return {};
    }

    // RE2 matches in time linear in the text and never recurses per character,
    // so neither the pattern nor the text needs a limit of ours: RE2 refuses
    // what it cannot run in kPatternMemory (a repetition over 1000, nesting
    // that blows the program up) with its own message.
    std::expected<void, SqlError> compile_pattern(Expr& e) {
        std::string_view pattern = e.args[1]->literal.view().s;
        re2::RE2::Options options;
        options.set_log_errors(false);  // the error goes to the rule, not stderr
        options.set_max_mem(kPatternMemory);
        auto compiled = std::make_shared<const re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
        if (!compiled->ok()) {
            return fail(e.args[1]->pos, "regexp_matches(): invalid pattern: " + compiled->error());
        }
        e.regex = std::move(compiled);
        return {};
    }

    std::expected<void, SqlError> aggregate(Expr& e, const AggregateFunction& agg, Clause clause, bool in_aggregate) {
        if (in_aggregate) return fail(e.pos, "an aggregate cannot be inside another aggregate");
        if (clause == Clause::Where || clause == Clause::GroupBy) {
            return fail(e.pos, "aggregate " + e.name + "() cannot be used in " + std::string(clause_name(clause)) +
                                   (clause == Clause::Where ? " (filter the result with HAVING)" : ""));
        }
        if (!plan_.windowed()) {
            return fail(e.pos, "aggregate " + e.name + "() needs a window, e.g. GROUP BY TumblingWindow(ss, 10)");
        }
        AggSpec spec;
        spec.kind = e.distinct ? AggKind::CountDistinct : agg.kind;
        if (e.star) {
            spec.arg = nullptr;
        } else {
            if (e.args.size() != agg.args) {
                return fail(e.pos, e.name + "() takes " + std::to_string(agg.args) + " argument" + (agg.args == 1 ? "" : "s") +
                                       ", got " + std::to_string(e.args.size()));
            }
            spec.arg = e.args[0].get();
            if (auto r = walk(*e.args[0], clause, true); !r) return r;
        }
        if (agg.kind == AggKind::Percentile) {
            const Expr& p = *e.args[1];
            Value v = p.literal.view();
            if (p.kind != ExprKind::Literal || !v.is_number() || v.as_double() < 0 || v.as_double() > 1) {
                return fail(p.pos, "percentile(): the second argument must be a constant between 0 and 1");
            }
            spec.fraction = v.as_double();
        }
        e.agg_slot = static_cast<int>(plan_.aggregates.size());
        plan_.aggregates.push_back(spec);
        return {};
    }

    Plan& plan_;
    std::map<std::string, int> history_by_text_;
};

}  // namespace

std::expected<Plan, SqlError> compile(std::string_view sql) {
    auto q = parse_query(sql);
    if (!q) return std::unexpected(q.error());
    Plan plan;
    plan.query = std::move(*q);
    if (auto r = Compiler(plan).run(); !r) return std::unexpected(r.error());
    return plan;
}

}  // namespace ib::rules
