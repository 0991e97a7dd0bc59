// The values a rule computes with: SQL-ish scalars over JSON payloads. A `Value`
// is a view (its text lives in the payload, the rule's arena or the SQL text) and
// costs nothing to copy; an `OwnedValue` holds its own text, for state kept
// across messages (window aggregates, change detection). No simdjson here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ib::rules {

// Json is an object or array, carried as its compact JSON text.
enum class Type : uint8_t { Null, Bool, Int, Double, String, Json };
std::string_view type_name(Type t);

struct Value {
    Type type = Type::Null;
    // A field the message does not have: null, but operators that need a value
    // report it by name instead of computing with it.
    bool missing = false;
    bool b = false;
    int64_t i = 0;
    double d = 0;
    std::string_view s;  // String and Json

    static Value null() { return {}; }
    static Value absent() {
        Value v;
        v.missing = true;
        return v;
    }
    static Value boolean(bool x) {
        Value v;
        v.type = Type::Bool;
        v.b = x;
        return v;
    }
    static Value integer(int64_t x) {
        Value v;
        v.type = Type::Int;
        v.i = x;
        return v;
    }
    static Value real(double x) {
        Value v;
        v.type = Type::Double;
        v.d = x;
        return v;
    }
    static Value string(std::string_view x) {
        Value v;
        v.type = Type::String;
        v.s = x;
        return v;
    }
    static Value json(std::string_view x) {
        Value v;
        v.type = Type::Json;
        v.s = x;
        return v;
    }

    bool is_null() const { return type == Type::Null; }
    bool is_number() const { return type == Type::Int || type == Type::Double; }
    double as_double() const { return type == Type::Int ? static_cast<double>(i) : d; }
};

// Equality as SQL `=` sees it: numbers by value across Int and Double, others by
// type and content; null equals nothing.
bool equal(const Value& a, const Value& b);
// Numbers order with numbers, strings with strings, booleans with booleans.
bool comparable(const Value& a, const Value& b);
// -1, 0 or 1, for two values that are comparable().
int compare(const Value& a, const Value& b);

// Appends `v` as JSON. Doubles in the shortest form that reads back the same;
// non-finite doubles become null (JSON has no NaN).
void append_json(std::string& out, const Value& v);
void append_json_string(std::string& out, std::string_view s);
// Text of a value as concat() and templates see it: strings without quotes.
void append_text(std::string& out, const Value& v);

class OwnedValue {
public:
    OwnedValue() = default;
    explicit OwnedValue(const Value& v) { assign(v); }
    // Reuses this value's buffer: no allocation once it has held text as long.
    void assign(const Value& v) {
        type_ = v.type;
        b_ = v.b;
        i_ = v.i;
        d_ = v.d;
        if (v.type == Type::String || v.type == Type::Json) text_.assign(v.s);
    }
    Value view() const {
        Value v;
        v.type = type_;
        v.b = b_;
        v.i = i_;
        v.d = d_;
        if (type_ == Type::String || type_ == Type::Json) v.s = text_;
        return v;
    }
    bool is_null() const { return type_ == Type::Null; }

private:
    Type type_ = Type::Null;
    bool b_ = false;
    int64_t i_ = 0;
    double d_ = 0;
    std::string text_;
};

// Text made while evaluating one message (concat, lower, to_json...). Chunks are
// kept across reset(), so steady state allocates nothing.
class StringArena {
public:
    // Space for `n` bytes that stays valid until reset().
    char* allocate(std::size_t n);
    std::string_view copy(std::string_view s);
    void reset();

private:
    struct Chunk {
        std::unique_ptr<char[]> data;
        std::size_t size = 0;
    };
    std::vector<Chunk> chunks_;
    std::size_t current_ = 0;
    std::size_t used_ = 0;
};

// A string built piecewise into the arena: a scratch std::string reused per call.
class ArenaBuilder {
public:
    explicit ArenaBuilder(StringArena& arena, std::string& scratch) : arena_(arena), buf_(scratch) { buf_.clear(); }
    std::string& buf() { return buf_; }
    std::string_view finish() { return arena_.copy(buf_); }

private:
    StringArena& arena_;
    std::string& buf_;
};

}  // namespace ib::rules
