// Writes JSON text into a caller's std::string: the REST bodies and the bus's
// JSON go through it, so commas, quoting and escaping are decided in one place.
// It does not check structure (a key outside an object is the caller's bug) and
// allocates nothing beyond the growth of the string it appends to.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace ib {

class JsonWriter {
public:
    // Appends to `out`, which must outlive the writer.
    explicit JsonWriter(std::string& out) : out_(out) {}

    JsonWriter& begin_object() { return open('{'); }
    JsonWriter& end_object() { return close('}'); }
    JsonWriter& begin_array() { return open('['); }
    JsonWriter& end_array() { return close(']'); }

    // The next value is this key's.
    JsonWriter& key(std::string_view name);

    JsonWriter& string(std::string_view s);
    JsonWriter& number(int64_t v);
    JsonWriter& number(uint64_t v);
    JsonWriter& number(int v) { return number(static_cast<int64_t>(v)); }
    JsonWriter& number(unsigned v) { return number(static_cast<uint64_t>(v)); }
    // The shortest text that reads back the same double; NaN and infinities,
    // which JSON cannot carry, become null.
    JsonWriter& number(double v);
    // With a fixed number of decimals (latencies, ages: "0.125").
    JsonWriter& fixed(double v, int decimals);
    JsonWriter& boolean(bool v);
    JsonWriter& null();
    // Text that is already JSON (a stored document, a value encoded elsewhere),
    // written as one value.
    JsonWriter& raw(std::string_view json);

    // A value appended by `append(std::string&)`, for encoders that write into a
    // string themselves (a tag's value in its data type).
    template <typename Append>
    JsonWriter& appended(Append&& append) {
        separate();
        append(out_);
        return *this;
    }

    // Shorthands for a key and its value.
    template <typename T>
    JsonWriter& field(std::string_view name, const T& value) {
        key(name);
        return value_of(value);
    }
    JsonWriter& raw_field(std::string_view name, std::string_view json) { return key(name).raw(json); }

private:
    JsonWriter& value_of(std::string_view s) { return string(s); }
    JsonWriter& value_of(const std::string& s) { return string(s); }
    JsonWriter& value_of(const char* s) { return string(s); }
    JsonWriter& value_of(bool v) { return boolean(v); }
    JsonWriter& value_of(double v) { return number(v); }
    template <typename T>
        requires std::is_integral_v<T>
    JsonWriter& value_of(T v) {
        if constexpr (std::is_signed_v<T>) return number(static_cast<int64_t>(v));
        else return number(static_cast<uint64_t>(v));
    }

    // Before every value and key: a comma unless it is the first in its
    // container or the value of the key just written.
    void separate() {
        if (need_comma_) out_ += ',';
        need_comma_ = true;
    }
    JsonWriter& open(char c) {
        separate();
        out_ += c;
        need_comma_ = false;
        return *this;
    }
    JsonWriter& close(char c) {
        out_ += c;
        need_comma_ = true;
        return *this;
    }

    std::string& out_;
    bool need_comma_ = false;
};

}  // namespace ib
