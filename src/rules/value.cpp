#include "rules/value.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace ib::rules {

std::string_view type_name(Type t) {
    switch (t) {
        case Type::Null: return "null";
        case Type::Bool: return "boolean";
        case Type::Int: return "integer";
        case Type::Double: return "number";
        case Type::String: return "string";
        case Type::Json: return "object";
    }
    return "?";
}

bool equal(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.type == Type::Int && b.type == Type::Int) return a.i == b.i;
        return a.as_double() == b.as_double();
    }
    if (a.type != b.type || a.is_null()) return false;
    switch (a.type) {
        case Type::Bool: return a.b == b.b;
        case Type::String:
        case Type::Json: return a.s == b.s;
        default: return false;
    }
}

bool comparable(const Value& a, const Value& b) {
    return (a.is_number() && b.is_number()) || (a.type == Type::String && b.type == Type::String) ||
           (a.type == Type::Bool && b.type == Type::Bool);
}

int compare(const Value& a, const Value& b) {
    if (a.type == Type::Int && b.type == Type::Int) return a.i < b.i ? -1 : (a.i > b.i ? 1 : 0);
    if (a.is_number()) {
        double x = a.as_double(), y = b.as_double();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.type == Type::Bool) return static_cast<int>(a.b) - static_cast<int>(b.b);
    int c = a.s.compare(b.s);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    static const char* hex = "0123456789abcdef";
                    out += "\\u00";
                    out.push_back(hex[c >> 4]);
                    out.push_back(hex[c & 15]);
                } else {
                    out.push_back(ch);
                }
        }
    }
    out.push_back('"');
}

namespace {

void append_number(std::string& out, const Value& v) {
    char buf[32];
    std::to_chars_result r;
    if (v.type == Type::Int) {
        r = std::to_chars(buf, buf + sizeof buf, v.i);
    } else {
        if (!std::isfinite(v.d)) {
            out += "null";
            return;
        }
        r = std::to_chars(buf, buf + sizeof buf, v.d);
    }
    out.append(buf, r.ptr);
}

}  // namespace

void append_json(std::string& out, const Value& v) {
    switch (v.type) {
        case Type::Null: out += "null"; break;
        case Type::Bool: out += v.b ? "true" : "false"; break;
        case Type::Int:
        case Type::Double: append_number(out, v); break;
        case Type::String: append_json_string(out, v.s); break;
        case Type::Json: out += v.s; break;
    }
}

void append_text(std::string& out, const Value& v) {
    switch (v.type) {
        case Type::Null: out += "null"; break;
        case Type::String: out += v.s; break;
        default: append_json(out, v);
    }
}

char* StringArena::allocate(std::size_t n) {
    constexpr std::size_t kChunk = 4096;
    while (current_ < chunks_.size() && chunks_[current_].size - used_ < n) {
        ++current_;
        used_ = 0;
    }
    if (current_ == chunks_.size()) {
        Chunk c;
        c.size = std::max(kChunk, n);
        c.data = std::make_unique<char[]>(c.size);
        chunks_.push_back(std::move(c));
        used_ = 0;
    }
    char* p = chunks_[current_].data.get() + used_;
    used_ += n;
    return p;
}

std::string_view StringArena::copy(std::string_view s) {
    if (s.empty()) return {};
    char* p = allocate(s.size());
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
}

void StringArena::reset() {
    current_ = 0;
    used_ = 0;
}

}  // namespace ib::rules
