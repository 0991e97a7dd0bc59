#include "rules/parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>

namespace ib::rules {
namespace {

enum class Tok : uint8_t { End, Ident, QuotedIdent, Int, Real, String, Punct };

struct Token {
    Tok kind = Tok::End;
    uint32_t pos = 0;
    uint32_t end = 0;
    std::string_view text;  // Punct: the symbol; Ident: as written
    std::string value;      // String / QuotedIdent: unescaped
    int64_t i = 0;
    double d = 0;
    bool min_magnitude = false;  // Int: 2^63, which only -2^63 can use
};

constexpr int kMaxDepth = 200;  // nesting, so a hostile rule cannot exhaust the stack
// Height of an expression tree: chains (a + b + c ...) grow it without recursing
// in the parser, but evaluating them recurses.
constexpr uint32_t kMaxHeight = 256;

void adopt(Expr& parent, ExprPtr child) {
    parent.height = std::max(parent.height, child->height + 1);
    parent.args.push_back(std::move(child));
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

constexpr std::string_view kKeywords[] = {"select", "from", "where", "group", "by", "having", "as",   "and",
                                          "or",     "not",  "case",  "when",  "then", "else",   "end",  "in",
                                          "between", "like", "is",   "null",  "true", "false", "distinct"};

bool is_keyword(std::string_view s) {
    return std::any_of(std::begin(kKeywords), std::end(kKeywords), [&](std::string_view k) { return iequals(s, k); });
}

class Lexer {
public:
    explicit Lexer(std::string_view sql) : sql_(sql) {}

    std::expected<Token, SqlError> next() {
        skip_space_and_comments();
        Token t;
        t.pos = static_cast<uint32_t>(at_);
        if (at_ >= sql_.size()) {
            t.end = t.pos;
            return t;
        }
        char c = sql_[at_];
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            size_t s = at_;
            while (at_ < sql_.size() && (std::isalnum(static_cast<unsigned char>(sql_[at_])) || sql_[at_] == '_')) ++at_;
            t.kind = Tok::Ident;
            t.text = sql_.substr(s, at_ - s);
        } else if (std::isdigit(static_cast<unsigned char>(c))) {
            return number(t);
        } else if (c == '\'' || c == '"' || c == '`') {
            auto r = quoted(c);
            if (!r) return std::unexpected(r.error());
            t.kind = c == '`' ? Tok::QuotedIdent : Tok::String;
            t.value = std::move(*r);
        } else {
            static constexpr std::string_view two[] = {"<=", ">=", "<>", "!=", "||"};
            t.kind = Tok::Punct;
            for (std::string_view p : two) {
                if (sql_.substr(at_, 2) == p) {
                    t.text = sql_.substr(at_, 2);
                    at_ += 2;
                    t.end = static_cast<uint32_t>(at_);
                    return t;
                }
            }
            if (c == '\0' || std::strchr(",().[]*+-/%=<>", c) == nullptr) {
                // The whole UTF-8 sequence, so the message is valid text.
                size_t n = 1;
                auto lead = static_cast<unsigned char>(c);
                if (lead >= 0xC0) n = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
                return std::unexpected(SqlError{t.pos, "unexpected character '" + std::string(sql_.substr(at_, n)) + "'"});
            }
            t.text = sql_.substr(at_, 1);
            ++at_;
        }
        t.end = static_cast<uint32_t>(at_);
        if (t.kind == Tok::Ident || t.kind == Tok::Punct) {
        } else {
            t.text = sql_.substr(t.pos, t.end - t.pos);
        }
        return t;
    }

private:
    void skip_space_and_comments() {
        for (;;) {
            while (at_ < sql_.size() && std::isspace(static_cast<unsigned char>(sql_[at_]))) ++at_;
            if (sql_.substr(at_, 2) == "--") {
                while (at_ < sql_.size() && sql_[at_] != '\n') ++at_;
                continue;
            }
            return;
        }
    }

    std::expected<Token, SqlError> number(Token& t) {
        size_t s = at_;
        bool real = false;
        while (at_ < sql_.size() && std::isdigit(static_cast<unsigned char>(sql_[at_]))) ++at_;
        if (at_ + 1 < sql_.size() && sql_[at_] == '.' && std::isdigit(static_cast<unsigned char>(sql_[at_ + 1]))) {
            real = true;
            ++at_;
            while (at_ < sql_.size() && std::isdigit(static_cast<unsigned char>(sql_[at_]))) ++at_;
        }
        if (at_ < sql_.size() && (sql_[at_] == 'e' || sql_[at_] == 'E')) {
            size_t e = at_ + 1;
            if (e < sql_.size() && (sql_[e] == '+' || sql_[e] == '-')) ++e;
            if (e < sql_.size() && std::isdigit(static_cast<unsigned char>(sql_[e]))) {
                real = true;
                at_ = e;
                while (at_ < sql_.size() && std::isdigit(static_cast<unsigned char>(sql_[at_]))) ++at_;
            }
        }
        std::string_view text = sql_.substr(s, at_ - s);
        t.text = text;
        t.end = static_cast<uint32_t>(at_);
        if (real) {
            t.kind = Tok::Real;
            auto r = std::from_chars(text.data(), text.data() + text.size(), t.d);
            if (r.ec != std::errc{}) return std::unexpected(SqlError{t.pos, "number out of range"});
        } else {
            t.kind = Tok::Int;
            auto r = std::from_chars(text.data(), text.data() + text.size(), t.i);
            if (r.ec != std::errc{}) {
                // 9223372036854775808 is valid only after a minus: the unary minus folds it.
                if (text != "9223372036854775808") return std::unexpected(SqlError{t.pos, "integer out of range"});
                t.i = std::numeric_limits<int64_t>::min();
                t.min_magnitude = true;
            }
        }
        return t;
    }

    // A doubled quote inside stands for one; backslash escapes \n \t \\ and the quote.
    std::expected<std::string, SqlError> quoted(char q) {
        size_t start = at_++;
        std::string out;
        while (at_ < sql_.size()) {
            char c = sql_[at_++];
            if (c == q) {
                if (at_ < sql_.size() && sql_[at_] == q) {
                    out.push_back(q);
                    ++at_;
                    continue;
                }
                return out;
            }
            if (c == '\\' && at_ < sql_.size()) {
                // \n, \t, \\ and the quote are escapes; any other backslash stays, so
                // a regular expression such as '^PLC\d+$' means what it says.
                char e = sql_[at_];
                if (e == 'n' || e == 't' || e == '\\' || e == q) {
                    ++at_;
                    out.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
                } else {
                    out.push_back('\\');
                }
                continue;
            }
            out.push_back(c);
        }
        return std::unexpected(SqlError{static_cast<uint32_t>(start), std::string("unterminated ") +
                                                                           (q == '`' ? "quoted name" : "string")});
    }

    std::string_view sql_;
    size_t at_ = 0;
};

bool is_window_name(std::string_view name) {
    return name == "tumblingwindow" || name == "hoppingwindow" || name == "slidingwindow" ||
           name == "sessionwindow" || name == "countwindow";
}

class Parser {
public:
    explicit Parser(std::string_view sql) : sql_(sql), lexer_(sql) {}

    std::expected<Query, SqlError> run() {
        if (auto r = advance(); !r) return std::unexpected(r.error());
        Query q;
        if (!keyword("select")) return fail_expected("SELECT");
        if (auto r = items(q); !r) return std::unexpected(r.error());
        if (!keyword("from")) return fail_expected(q.items.empty() ? "a column" : "',' or FROM");
        if (tok_.kind != Tok::String) return fail_expected("a quoted topic filter after FROM");
        q.from = tok_.value;
        q.from_pos = tok_.pos;
        if (auto r = advance(); !r) return std::unexpected(r.error());
        if (keyword("where")) {
            auto e = expr();
            if (!e) return std::unexpected(e.error());
            q.where = std::move(*e);
        }
        if (keyword("group")) {
            if (!keyword("by")) return fail_expected("BY after GROUP");
            if (auto r = group_by(q); !r) return std::unexpected(r.error());
        }
        if (keyword("having")) {
            auto e = expr();
            if (!e) return std::unexpected(e.error());
            q.having = std::move(*e);
        }
        if (pending_) return std::unexpected(*pending_);
        if (tok_.kind != Tok::End) {
            return fail_expected(q.having          ? "the end of the rule"
                                 : !q.group_keys.empty() || q.window ? "HAVING or the end of the rule"
                                 : q.where          ? "GROUP BY, HAVING or the end of the rule"
                                                    : "WHERE, GROUP BY, HAVING or the end of the rule");
        }
        fill_text(q);
        return q;
    }

private:
    std::expected<void, SqlError> advance() {
        auto t = lexer_.next();
        if (!t) return std::unexpected(t.error());
        prev_end_ = tok_.end;
        tok_ = std::move(*t);
        return {};
    }

    bool is_kw(std::string_view k) const { return tok_.kind == Tok::Ident && iequals(tok_.text, k); }
    bool is_punct(std::string_view p) const { return tok_.kind == Tok::Punct && tok_.text == p; }

    // Consumes the keyword if it is next. A lexer error here surfaces at the next
    // advance(), which re-reads nothing: keep the error for then.
    bool keyword(std::string_view k) {
        if (!is_kw(k)) return false;
        if (auto r = advance(); !r) {
            pending_ = r.error();
            tok_ = Token{};
            tok_.kind = Tok::End;
            tok_.pos = pending_->pos;
        }
        return true;
    }
    bool punct(std::string_view p) {
        if (!is_punct(p)) return false;
        if (auto r = advance(); !r) {
            pending_ = r.error();
            tok_ = Token{};
            tok_.kind = Tok::End;
            tok_.pos = pending_->pos;
        }
        return true;
    }

    std::string describe(const Token& t) const {
        switch (t.kind) {
            case Tok::End: return "the end of the rule";
            case Tok::String: return "string '" + t.value + "'";
            default: return "'" + std::string(sql_.substr(t.pos, t.end - t.pos)) + "'";
        }
    }

    std::unexpected<SqlError> fail_expected(std::string_view what) const {
        if (pending_) return std::unexpected(*pending_);
        return std::unexpected(SqlError{tok_.pos, "expected " + std::string(what) + ", found " + describe(tok_)});
    }
    std::unexpected<SqlError> fail_at(uint32_t pos, std::string msg) const {
        if (pending_) return std::unexpected(*pending_);
        return std::unexpected(SqlError{pos, std::move(msg)});
    }

    std::expected<void, SqlError> items(Query& q) {
        do {
            SelectItem item;
            item.pos = tok_.pos;
            if (is_punct("*")) {
                item.star = true;
                item.name = "*";
                punct("*");
            } else {
                auto e = expr();
                if (!e) return std::unexpected(e.error());
                item.expr = std::move(*e);
                if (keyword("as")) {
                    if (tok_.kind != Tok::Ident && tok_.kind != Tok::QuotedIdent) return fail_expected("a name after AS");
                    if (tok_.kind == Tok::Ident && is_keyword(tok_.text)) return fail_expected("a name after AS");
                    item.name = tok_.kind == Tok::Ident ? std::string(tok_.text) : tok_.value;
                    if (auto r = advance(); !r) return std::unexpected(r.error());
                } else {
                    item.name = derived_name(*item.expr);
                }
            }
            q.items.push_back(std::move(item));
        } while (punct(","));
        return {};
    }

    std::string derived_name(const Expr& e) const {
        if (e.kind == ExprKind::Field && !e.path.empty()) {
            for (auto it = e.path.rbegin(); it != e.path.rend(); ++it) {
                if (it->index < 0) return it->key;
            }
        }
        if (e.kind == ExprKind::Call) return e.name;
        return std::string(sql_.substr(e.pos, e.end - e.pos));
    }

    std::expected<void, SqlError> group_by(Query& q) {
        do {
            if (tok_.kind == Tok::Ident && is_window_name(lower(tok_.text))) {
                if (q.window) return fail_at(tok_.pos, "only one window per rule");
                auto w = window();
                if (!w) return std::unexpected(w.error());
                q.window = *w;
                continue;
            }
            auto e = expr();
            if (!e) return std::unexpected(e.error());
            q.group_keys.push_back(std::move(*e));
        } while (punct(","));
        return {};
    }

    std::expected<int64_t, SqlError> positive_int(std::string_view what) {
        if (tok_.kind != Tok::Int || tok_.i <= 0) return fail_expected("a positive integer " + std::string(what));
        int64_t v = tok_.i;
        if (auto r = advance(); !r) return std::unexpected(r.error());
        return v;
    }

    std::expected<WindowSpec, SqlError> window() {
        WindowSpec w;
        w.pos = tok_.pos;
        std::string name = lower(tok_.text);
        const std::string written(tok_.text);
        if (auto r = advance(); !r) return std::unexpected(r.error());
        if (!punct("(")) return fail_expected("'(' after " + written);
        if (name == "countwindow") {
            w.kind = WindowKind::Count;
            auto n = positive_int("(the number of messages in the window)");
            if (!n) return std::unexpected(n.error());
            if (*n > 1'000'000) return fail_at(w.pos, "a count window holds at most 1000000 messages");
            w.count = w.every = static_cast<uint32_t>(*n);
            if (punct(",")) {
                uint32_t at = tok_.pos;
                auto every = positive_int("(emit every this many messages)");
                if (!every) return std::unexpected(every.error());
                if (*every > *n) return fail_at(at, "a count window cannot emit less often than its length");
                w.every = static_cast<uint32_t>(*every);
            }
        } else {
            if (tok_.kind != Tok::Ident) return fail_expected("a time unit (dd, hh, mi, ss or ms)");
            std::string unit = lower(tok_.text);
            int64_t scale = unit == "dd" ? 86'400'000 : unit == "hh" ? 3'600'000 : unit == "mi" ? 60'000
                          : unit == "ss" ? 1000 : unit == "ms" ? 1 : 0;
            if (scale == 0) return fail_expected("a time unit (dd, hh, mi, ss or ms)");
            if (auto r = advance(); !r) return std::unexpected(r.error());
            if (!punct(",")) return fail_expected("',' after the time unit");
            constexpr int64_t kMaxUnits = 1'000'000'000;
            auto first = positive_int(name == "sessionwindow" ? "(the longest a session lasts)" : "(the window's length)");
            if (!first) return std::unexpected(first.error());
            if (*first > kMaxUnits) return fail_at(w.pos, "window length too large");
            w.size_ms = *first * scale;
            if (name == "tumblingwindow") {
                w.kind = WindowKind::Tumbling;
                w.hop_ms = w.size_ms;
            } else if (name == "slidingwindow") {
                w.kind = WindowKind::Sliding;
            } else {
                if (!punct(",")) return fail_expected(name == "hoppingwindow" ? "',' and the hop" : "',' and the gap that ends a session");
                uint32_t at = tok_.pos;
                auto second = positive_int(name == "hoppingwindow" ? "(the hop)" : "(the gap)");
                if (!second) return std::unexpected(second.error());
                if (*second > kMaxUnits) return fail_at(at, "window length too large");
                if (name == "hoppingwindow") {
                    w.kind = WindowKind::Hopping;
                    w.hop_ms = *second * scale;
                    if (w.hop_ms > w.size_ms) return fail_at(at, "the hop cannot be longer than the window");
                    if (w.size_ms / w.hop_ms > 1000) return fail_at(at, "a message would be in more than 1000 windows");
                } else {
                    w.kind = WindowKind::Session;
                    w.gap_ms = *second * scale;
                    if (w.gap_ms > w.size_ms) return fail_at(at, "the gap cannot be longer than the session");
                }
            }
        }
        if (!punct(")")) return fail_expected("')' to close the window");
        return w;
    }

    ExprPtr make(ExprKind k, uint32_t pos) {
        auto e = std::make_unique<Expr>();
        e->kind = k;
        e->pos = pos;
        return e;
    }

    std::expected<ExprPtr, SqlError> expr() {
        if (++depth_ > kMaxDepth) return fail_at(tok_.pos, "expression nested too deeply");
        auto r = or_expr();
        --depth_;
        return r;
    }

    std::expected<ExprPtr, SqlError> binary_chain(std::expected<ExprPtr, SqlError> (Parser::*next)(),
                                                  std::initializer_list<std::pair<std::string_view, Op>> ops,
                                                  bool keywords) {
        auto left = (this->*next)();
        if (!left) return left;
        for (;;) {
            const std::pair<std::string_view, Op>* hit = nullptr;
            for (const auto& o : ops) {
                if (keywords ? is_kw(o.first) : is_punct(o.first)) hit = &o;
            }
            if (hit == nullptr) return left;
            uint32_t pos = (*left)->pos;
            if (auto r = advance(); !r) return std::unexpected(r.error());
            auto right = (this->*next)();
            if (!right) return right;
            auto e = make(ExprKind::Binary, pos);
            e->op = hit->second;
            e->end = (*right)->end;
            adopt(*e, std::move(*left));
            adopt(*e, std::move(*right));
            if (e->height > kMaxHeight) return fail_at(pos, "expression nested too deeply");
            left = std::move(e);
        }
    }

    std::expected<ExprPtr, SqlError> or_expr() { return binary_chain(&Parser::and_expr, {{"or", Op::Or}}, true); }
    std::expected<ExprPtr, SqlError> and_expr() { return binary_chain(&Parser::not_expr, {{"and", Op::And}}, true); }

    std::expected<ExprPtr, SqlError> not_expr() {
        if (is_kw("not")) {
            uint32_t pos = tok_.pos;
            if (auto r = advance(); !r) return std::unexpected(r.error());
            if (++depth_ > kMaxDepth) return fail_at(pos, "expression nested too deeply");
            auto inner = not_expr();
            --depth_;
            if (!inner) return inner;
            auto e = make(ExprKind::Unary, pos);
            e->op = Op::Not;
            e->end = (*inner)->end;
            adopt(*e, std::move(*inner));
            return e;
        }
        return predicate();
    }

    std::expected<ExprPtr, SqlError> predicate() {
        auto left = additive();
        if (!left) return left;
        static constexpr std::pair<std::string_view, Op> cmps[] = {{"=", Op::Eq},  {"!=", Op::Ne}, {"<>", Op::Ne},
                                                                   {"<", Op::Lt},  {"<=", Op::Le}, {">", Op::Gt},
                                                                   {">=", Op::Ge}};
        for (const auto& [sym, op] : cmps) {
            if (is_punct(sym)) {
                uint32_t pos = (*left)->pos;
                if (auto r = advance(); !r) return std::unexpected(r.error());
                auto right = additive();
                if (!right) return right;
                auto e = make(ExprKind::Binary, pos);
                e->op = op;
                e->end = (*right)->end;
                adopt(*e, std::move(*left));
                adopt(*e, std::move(*right));
                return e;
            }
        }
        uint32_t pos = (*left)->pos;
        if (is_kw("is")) {
            if (auto r = advance(); !r) return std::unexpected(r.error());
            auto e = make(ExprKind::IsNull, pos);
            e->negated = keyword("not");
            if (!is_kw("null")) return fail_expected("NULL after IS");
            e->end = tok_.end;
            keyword("null");
            adopt(*e, std::move(*left));
            return e;
        }
        bool negated = false;
        if (is_kw("not")) {
            keyword("not");
            negated = true;
            if (!is_kw("in") && !is_kw("between") && !is_kw("like")) return fail_expected("IN, BETWEEN or LIKE after NOT");
        }
        if (keyword("in")) {
            auto e = make(ExprKind::In, pos);
            e->negated = negated;
            adopt(*e, std::move(*left));
            if (!punct("(")) return fail_expected("'(' after IN");
            do {
                auto item = additive();
                if (!item) return item;
                adopt(*e, std::move(*item));
            } while (punct(","));
            e->end = tok_.end;
            if (!punct(")")) return fail_expected("',' or ')' in the IN list");
            return e;
        }
        if (keyword("between")) {
            auto e = make(ExprKind::Between, pos);
            e->negated = negated;
            auto low = additive();
            if (!low) return low;
            if (!keyword("and")) return fail_expected("AND in BETWEEN ... AND ...");
            auto high = additive();
            if (!high) return high;
            e->end = (*high)->end;
            adopt(*e, std::move(*left));
            adopt(*e, std::move(*low));
            adopt(*e, std::move(*high));
            return e;
        }
        if (keyword("like")) {
            auto e = make(ExprKind::Like, pos);
            e->negated = negated;
            auto pattern = additive();
            if (!pattern) return pattern;
            e->end = (*pattern)->end;
            adopt(*e, std::move(*left));
            adopt(*e, std::move(*pattern));
            return e;
        }
        return left;
    }

    std::expected<ExprPtr, SqlError> additive() {
        return binary_chain(&Parser::multiplicative, {{"+", Op::Add}, {"-", Op::Sub}, {"||", Op::Concat}}, false);
    }
    std::expected<ExprPtr, SqlError> multiplicative() {
        return binary_chain(&Parser::unary, {{"*", Op::Mul}, {"/", Op::Div}, {"%", Op::Mod}}, false);
    }

    std::expected<ExprPtr, SqlError> unary() {
        if (is_punct("-")) {
            uint32_t pos = tok_.pos;
            if (auto r = advance(); !r) return std::unexpected(r.error());
            if (tok_.kind == Tok::Int && tok_.min_magnitude) {
                auto e = make(ExprKind::Literal, pos);
                e->literal.assign(Value::integer(std::numeric_limits<int64_t>::min()));
                e->end = tok_.end;
                if (auto r = advance(); !r) return std::unexpected(r.error());
                return e;
            }
            if (++depth_ > kMaxDepth) return fail_at(pos, "expression nested too deeply");
            auto inner = unary();
            --depth_;
            if (!inner) return inner;
            // Fold a negative literal, so -9223372036854775808 and ranges read naturally.
            if ((*inner)->kind == ExprKind::Literal) {
                Value v = (*inner)->literal.view();
                if (v.type == Type::Int) {
                    (*inner)->literal.assign(Value::integer(-v.i));
                    (*inner)->pos = pos;
                    return inner;
                }
                if (v.type == Type::Double) {
                    (*inner)->literal.assign(Value::real(-v.d));
                    (*inner)->pos = pos;
                    return inner;
                }
            }
            auto e = make(ExprKind::Unary, pos);
            e->op = Op::Neg;
            e->end = (*inner)->end;
            adopt(*e, std::move(*inner));
            return e;
        }
        return primary();
    }

    std::expected<ExprPtr, SqlError> primary() {
        uint32_t pos = tok_.pos;
        switch (tok_.kind) {
            case Tok::Int:
            case Tok::Real:
            case Tok::String: {
                if (tok_.kind == Tok::Int && tok_.min_magnitude) return fail_at(pos, "integer out of range");
                auto e = make(ExprKind::Literal, pos);
                e->end = tok_.end;
                if (tok_.kind == Tok::Int) e->literal.assign(Value::integer(tok_.i));
                else if (tok_.kind == Tok::Real) e->literal.assign(Value::real(tok_.d));
                else e->literal.assign(Value::string(tok_.value));
                if (auto r = advance(); !r) return std::unexpected(r.error());
                return e;
            }
            case Tok::QuotedIdent: return field(pos);
            case Tok::Ident: break;
            case Tok::Punct:
                if (is_punct("(")) {
                    punct("(");
                    auto inner = expr();
                    if (!inner) return inner;
                    if (!is_punct(")")) return fail_expected("')'");
                    (*inner)->pos = pos;
                    (*inner)->end = tok_.end;
                    punct(")");
                    return inner;
                }
                return fail_expected("an expression");
            case Tok::End: return fail_expected("an expression");
        }
        if (is_kw("true") || is_kw("false") || is_kw("null")) {
            auto e = make(ExprKind::Literal, pos);
            e->end = tok_.end;
            if (!is_kw("null")) e->literal.assign(Value::boolean(is_kw("true")));
            if (auto r = advance(); !r) return std::unexpected(r.error());
            return e;
        }
        if (is_kw("case")) return case_expr();
        if (is_keyword(tok_.text)) return fail_expected("an expression");
        std::string name = lower(tok_.text);
        Token ident = tok_;
        if (auto r = advance(); !r) return std::unexpected(r.error());
        if (is_punct("(")) {
            if (is_window_name(name)) return fail_at(pos, "a window belongs in GROUP BY: GROUP BY " + std::string(ident.text) + "(...)");
            return call(std::move(name), pos);
        }
        return field(pos, std::string(ident.text), ident.end);
    }

    std::expected<ExprPtr, SqlError> case_expr() {
        auto e = make(ExprKind::Case, tok_.pos);
        keyword("case");
        while (keyword("when")) {
            auto cond = expr();
            if (!cond) return cond;
            if (!keyword("then")) return fail_expected("THEN");
            auto val = expr();
            if (!val) return val;
            adopt(*e, std::move(*cond));
            adopt(*e, std::move(*val));
        }
        if (e->args.empty()) return fail_expected("WHEN after CASE");
        if (keyword("else")) {
            auto val = expr();
            if (!val) return val;
            adopt(*e, std::move(*val));
            e->has_else = true;
        }
        e->end = tok_.end;
        if (!keyword("end")) return fail_expected(e->has_else ? "END" : "WHEN, ELSE or END");
        return e;
    }

    std::expected<ExprPtr, SqlError> call(std::string name, uint32_t pos) {
        auto e = make(ExprKind::Call, pos);
        e->name = std::move(name);
        punct("(");
        if (is_punct("*")) {
            e->star = true;
            punct("*");
        } else if (!is_punct(")")) {
            e->distinct = keyword("distinct");
            do {
                auto a = expr();
                if (!a) return a;
                adopt(*e, std::move(*a));
            } while (punct(","));
        }
        e->end = tok_.end;
        if (!punct(")")) return fail_expected("',' or ')' after the arguments of " + e->name);
        return e;
    }

    // `values.temp`, `a.b[0]`, `` `odd name`.x ``.
    std::expected<ExprPtr, SqlError> field(uint32_t pos, std::string first = {}, uint32_t end = 0) {
        auto e = make(ExprKind::Field, pos);
        if (tok_.kind == Tok::QuotedIdent && first.empty()) {
            first = tok_.value;
            end = tok_.end;
            if (auto r = advance(); !r) return std::unexpected(r.error());
        }
        e->path.push_back(PathStep{std::move(first), -1});
        e->end = end;
        for (;;) {
            if (is_punct(".")) {
                punct(".");
                if (tok_.kind != Tok::Ident && tok_.kind != Tok::QuotedIdent) return fail_expected("a field name after '.'");
                e->path.push_back(PathStep{tok_.kind == Tok::Ident ? std::string(tok_.text) : tok_.value, -1});
                e->end = tok_.end;
                if (auto r = advance(); !r) return std::unexpected(r.error());
            } else if (is_punct("[")) {
                punct("[");
                if (tok_.kind != Tok::Int) return fail_expected("an array index");
                e->path.push_back(PathStep{{}, tok_.i});
                if (auto r = advance(); !r) return std::unexpected(r.error());
                e->end = tok_.end;
                if (!punct("]")) return fail_expected("']'");
            } else {
                return e;
            }
        }
    }

    void fill_text(Expr& e) const {
        e.text = std::string(sql_.substr(e.pos, e.end > e.pos ? e.end - e.pos : 0));
        for (auto& a : e.args) fill_text(*a);  // the height is bounded: this recursion is too
    }
    void fill_text(Query& q) const {
        for (auto& item : q.items) {
            if (item.expr) fill_text(*item.expr);
        }
        if (q.where) fill_text(*q.where);
        for (auto& k : q.group_keys) fill_text(*k);
        if (q.having) fill_text(*q.having);
    }

    std::string_view sql_;
    Lexer lexer_;
    Token tok_;
    uint32_t prev_end_ = 0;
    int depth_ = 0;
    std::optional<SqlError> pending_;
};

}  // namespace

std::string format_error(std::string_view sql, const SqlError& e) {
    uint32_t line = 1, col = 1;
    for (uint32_t i = 0; i < e.pos && i < sql.size(); ++i) {
        if (sql[i] == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return std::to_string(line) + ":" + std::to_string(col) + ": " + e.message;
}

std::expected<Query, SqlError> parse_query(std::string_view sql) {
    if (sql.size() > 64 * 1024) return std::unexpected(SqlError{0, "rule longer than 64 KiB"});
    return Parser(sql).run();
}

}  // namespace ib::rules
