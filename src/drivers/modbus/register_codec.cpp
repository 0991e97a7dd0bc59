#include "drivers/modbus/register_codec.hpp"

#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "core/assert.hpp"

namespace ib::drivers::modbus {
namespace {

std::unexpected<TagError> fail_tag(TagErrc code, std::string message) {
    return std::unexpected(TagError{static_cast<uint16_t>(code), std::move(message)});
}

std::string type_name(DataType type) { return std::string(data_type_name(type)); }

// "a bool", "an int16": the article a type's name takes in a sentence.
std::string with_article(DataType type) {
    std::string name = type_name(type);
    return (name.front() == 'i' ? "an " : "a ") + name;
}

// The shortest text that reads back as the same double: "42.5", "1e+20".
std::string number_text(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    return std::string(buf, r.ptr);
}

std::string registers_text(uint32_t n) { return std::to_string(n) + (n == 1 ? " register" : " registers"); }

std::string hex_text(uint64_t bits, int digits) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out = "0x";
    for (int k = digits - 1; k >= 0; --k) out += kHex[(bits >> (4 * k)) & 0xF];
    return out;
}

// Registers holding one number of `words` 16-bit words. Word 0 is the most
// significant; on the wire it comes first unless low_word_first, and each
// register's two bytes come high first unless swap_bytes.
uint64_t gather(std::span<const uint8_t> wire, uint32_t words, ByteOrder order) {
    uint64_t bits = 0;
    for (uint32_t i = 0; i < words; ++i) {
        uint8_t hi = wire[2 * i];
        uint8_t lo = wire[2 * i + 1];
        if (order.swap_bytes) std::swap(hi, lo);
        const uint32_t k = order.low_word_first ? words - 1 - i : i;
        bits |= static_cast<uint64_t>((hi << 8) | lo) << (16 * (words - 1 - k));
    }
    return bits;
}

void scatter(uint64_t bits, uint32_t words, ByteOrder order, Registers& out) {
    for (uint32_t i = 0; i < words; ++i) {
        const uint32_t k = order.low_word_first ? words - 1 - i : i;
        auto word = static_cast<uint16_t>(bits >> (16 * (words - 1 - k)));
        if (order.swap_bytes) word = std::byteswap(word);
        out.words[i] = word;
    }
    out.count = static_cast<uint16_t>(words);
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
// Returns the offset of the first byte that breaks it, or npos.
size_t invalid_utf8_at(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<uint8_t>(s[i]);
        size_t n = 0;
        uint8_t lo = 0x80;
        uint8_t hi = 0xBF;
        if (c < 0x80) {
            ++i;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0) lo = 0xA0;  // overlong
            if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0) lo = 0x90;  // overlong
            if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
        } else {
            return i;
        }
        if (i + n >= s.size()) return i;  // truncated sequence
        for (size_t k = 1; k <= n; ++k) {
            const auto b = static_cast<uint8_t>(s[i + k]);
            const uint8_t min = k == 1 ? lo : 0x80;
            const uint8_t max = k == 1 ? hi : 0xBF;
            if (b < min || b > max) return i;
        }
        i += n + 1;
    }
    return std::string_view::npos;
}

struct IntRange {
    int64_t min;
    uint64_t max;
};

IntRange int_range(DataType type) {
    switch (type) {
        case DataType::Int8:
            return {INT8_MIN, INT8_MAX};
        case DataType::Uint8:
            return {0, UINT8_MAX};
        case DataType::Int16:
            return {INT16_MIN, INT16_MAX};
        case DataType::Uint16:
            return {0, UINT16_MAX};
        case DataType::Int32:
            return {INT32_MIN, INT32_MAX};
        case DataType::Uint32:
            return {0, UINT32_MAX};
        case DataType::Int64:
            return {INT64_MIN, INT64_MAX};
        default:
            return {0, UINT64_MAX};
    }
}

bool is_integer_type(DataType type) {
    switch (type) {
        case DataType::Int8:
        case DataType::Uint8:
        case DataType::Int16:
        case DataType::Uint16:
        case DataType::Int32:
        case DataType::Uint32:
        case DataType::Int64:
        case DataType::Uint64:
            return true;
        default:
            return false;
    }
}

// "a bool is", "bytes are": the subject of the sentence refusing a value of the wrong kind.
std::string_view kind_of(const Value& raw) {
    if (std::holds_alternative<bool>(raw)) return "a bool is";
    if (std::holds_alternative<std::string>(raw)) return "a string is";
    if (std::holds_alternative<std::vector<uint8_t>>(raw)) return "bytes are";
    return "a number is";
}

std::unexpected<TagError> wrong_kind(const Value& raw, DataType type) {
    return fail_tag(TagErrc::BadValue, std::string(kind_of(raw)) + " not a value for " + with_article(type) + " tag");
}

// The value as the two's complement bits of a 64-bit integer, after checking it
// fits the type.
std::expected<uint64_t, TagError> integer_bits(const Value& raw, DataType type) {
    const IntRange range = int_range(type);
    auto out_of_range = [&](const std::string& text) {
        return fail_tag(TagErrc::BadValue, text + " is out of range for " + type_name(type));
    };
    auto check_signed = [&](int64_t v) -> std::expected<uint64_t, TagError> {
        if (v < range.min || (v > 0 && static_cast<uint64_t>(v) > range.max)) return out_of_range(std::to_string(v));
        return static_cast<uint64_t>(v);
    };
    auto check_unsigned = [&](uint64_t v) -> std::expected<uint64_t, TagError> {
        if (v > range.max) return out_of_range(std::to_string(v));
        return v;
    };
    if (const auto* i = std::get_if<int64_t>(&raw)) return check_signed(*i);
    if (const auto* u = std::get_if<uint64_t>(&raw)) return check_unsigned(*u);
    if (const auto* d = std::get_if<double>(&raw)) {
        if (std::isnan(*d)) return fail_tag(TagErrc::BadValue, "nan is not a number");
        if (std::isinf(*d)) return out_of_range(number_text(*d));
        if (std::trunc(*d) != *d) return fail_tag(TagErrc::BadValue, number_text(*d) + " is not an integer");
        // 2^63 and 2^64 are exact doubles; casting outside them would be undefined.
        if (*d < 0) {
            if (*d < -9223372036854775808.0) return out_of_range(number_text(*d));
            const auto v = static_cast<int64_t>(*d);
            if (v < range.min) return out_of_range(number_text(*d));
            return static_cast<uint64_t>(v);
        }
        if (*d >= 18446744073709551616.0) return out_of_range(number_text(*d));
        const auto v = static_cast<uint64_t>(*d);
        if (v > range.max) return out_of_range(number_text(*d));
        return v;
    }
    return wrong_kind(raw, type);
}

std::expected<double, TagError> float_value(const Value& raw, DataType type) {
    double d = 0;
    if (const auto* i = std::get_if<int64_t>(&raw)) {
        d = static_cast<double>(*i);
    } else if (const auto* u = std::get_if<uint64_t>(&raw)) {
        d = static_cast<double>(*u);
    } else if (const auto* v = std::get_if<double>(&raw)) {
        d = *v;
    } else {
        return wrong_kind(raw, type);
    }
    if (std::isnan(d)) return fail_tag(TagErrc::BadValue, "nan is not a number");
    const double max =
        type == DataType::Float32 ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
    if (std::isinf(d) || std::fabs(d) > max) {
        return fail_tag(TagErrc::BadValue, number_text(d) + " is out of range for " + type_name(type));
    }
    return d;
}

}  // namespace

std::expected<Value, TagError> decode_registers(std::span<const uint8_t> wire, const ModbusAddress& address) {
    IB_ASSERT(!address.is_bit_area(), "coils and discrete inputs are read as bits, not registers");
    const uint32_t span = address.span();
    if (wire.size() < 2u * span) {
        return fail_tag(TagErrc::BadReply, "expected " + registers_text(span) + " (" + std::to_string(2 * span) +
                                               " bytes), got " + std::to_string(wire.size()) + " bytes");
    }
    switch (address.type) {
        case DataType::Bool: {
            IB_ASSERT(address.bit.has_value(), "parse_address refuses a bool in a register without .BIT");
            const uint64_t word = gather(wire, 1, ByteOrder{});
            return ((word >> *address.bit) & 1u) != 0;
        }
        case DataType::Int8:
            // The register's low byte, the second on the wire.
            return static_cast<int64_t>(static_cast<int8_t>(wire[1]));
        case DataType::Uint8:
            return static_cast<int64_t>(wire[1]);
        case DataType::Int16:
            return static_cast<int64_t>(static_cast<int16_t>(gather(wire, 1, address.order)));
        case DataType::Uint16:
            return static_cast<int64_t>(gather(wire, 1, address.order));
        case DataType::Int32:
            return static_cast<int64_t>(static_cast<int32_t>(gather(wire, 2, address.order)));
        case DataType::Uint32:
            return static_cast<int64_t>(gather(wire, 2, address.order));
        case DataType::Int64:
            return static_cast<int64_t>(gather(wire, 4, address.order));
        case DataType::Uint64:
            return gather(wire, 4, address.order);
        case DataType::Float32: {
            const auto bits = static_cast<uint32_t>(gather(wire, 2, address.order));
            const auto f = std::bit_cast<float>(bits);
            // JSON has no NaN or infinity: refuse them here rather than publish null.
            if (std::isnan(f)) return fail_tag(TagErrc::Decode, "float32 is NaN (" + hex_text(bits, 8) + ")");
            if (std::isinf(f)) return fail_tag(TagErrc::Decode, "float32 is infinite (" + hex_text(bits, 8) + ")");
            return static_cast<double>(f);
        }
        case DataType::Float64: {
            const uint64_t bits = gather(wire, 4, address.order);
            const auto d = std::bit_cast<double>(bits);
            if (std::isnan(d)) return fail_tag(TagErrc::Decode, "float64 is NaN (" + hex_text(bits, 16) + ")");
            if (std::isinf(d)) return fail_tag(TagErrc::Decode, "float64 is infinite (" + hex_text(bits, 16) + ")");
            return d;
        }
        case DataType::String: {
            std::string text;
            text.reserve(2u * span);
            for (uint32_t i = 0; i < span; ++i) {
                char first = static_cast<char>(wire[2 * i]);
                char second = static_cast<char>(wire[2 * i + 1]);
                if (address.string_low_byte_first) std::swap(first, second);
                if (first == '\0') break;
                text += first;
                if (second == '\0') break;
                text += second;
            }
            if (size_t at = invalid_utf8_at(text); at != std::string_view::npos) {
                return fail_tag(TagErrc::Decode, "the string is not valid UTF-8 (byte " + std::to_string(at) + ")");
            }
            return text;
        }
        case DataType::Bytes: {
            std::vector<uint8_t> bytes(wire.begin(), wire.begin() + 2 * span);
            if (address.string_low_byte_first) {
                for (size_t i = 0; i + 1 < bytes.size(); i += 2) std::swap(bytes[i], bytes[i + 1]);
            }
            return bytes;
        }
    }
    return fail_tag(TagErrc::Decode, "unknown data type");
}

std::expected<Registers, TagError> encode_registers(const Value& raw, const ModbusAddress& address) {
    IB_ASSERT(!address.is_bit_area(), "coils are written as bits, not registers");
    const uint32_t span = address.span();
    IB_ASSERT(span <= Registers{}.words.size(), "parse_address caps .LEN at 125 registers");
    Registers out;
    const DataType type = address.type;

    if (type == DataType::Bool) {
        return fail_tag(TagErrc::BadValue,
                        "a bool in a register is written by setting its bit in the register read back (with_bit)");
    }
    if (is_integer_type(type)) {
        auto bits = integer_bits(raw, type);
        if (!bits) return std::unexpected(std::move(bits.error()));
        // Int8 and Uint8 fill the whole register: sign- or zero-extended, as the
        // two's complement bits already are.
        const ByteOrder order = (type == DataType::Int8 || type == DataType::Uint8) ? ByteOrder{} : address.order;
        scatter(*bits, span, order, out);
        return out;
    }
    switch (type) {
        case DataType::Float32: {
            auto d = float_value(raw, type);
            if (!d) return std::unexpected(std::move(d.error()));
            scatter(std::bit_cast<uint32_t>(static_cast<float>(*d)), 2, address.order, out);
            return out;
        }
        case DataType::Float64: {
            auto d = float_value(raw, type);
            if (!d) return std::unexpected(std::move(d.error()));
            scatter(std::bit_cast<uint64_t>(*d), 4, address.order, out);
            return out;
        }
        case DataType::String: {
            const auto* s = std::get_if<std::string>(&raw);
            if (s == nullptr) return wrong_kind(raw, type);
            if (s->size() > 2u * span) {
                return fail_tag(TagErrc::BadValue, "a string of " + std::to_string(s->size()) +
                                                       " bytes does not fit in " + registers_text(span));
            }
            for (uint32_t i = 0; i < span; ++i) {
                // NUL padding past the end of the text.
                auto byte_at = [&](size_t k) { return k < s->size() ? static_cast<uint8_t>((*s)[k]) : uint8_t{0}; };
                uint8_t hi = byte_at(2 * i);
                uint8_t lo = byte_at(2 * i + 1);
                if (address.string_low_byte_first) std::swap(hi, lo);
                out.words[i] = static_cast<uint16_t>((hi << 8) | lo);
            }
            out.count = static_cast<uint16_t>(span);
            return out;
        }
        case DataType::Bytes: {
            const auto* b = std::get_if<std::vector<uint8_t>>(&raw);
            if (b == nullptr) return wrong_kind(raw, type);
            if (b->size() > 2u * span) {
                return fail_tag(TagErrc::BadValue,
                                std::to_string(b->size()) + " bytes do not fit in " + registers_text(span));
            }
            for (uint32_t i = 0; i < span; ++i) {
                auto byte_at = [&](size_t k) { return k < b->size() ? (*b)[k] : uint8_t{0}; };
                uint8_t hi = byte_at(2 * i);
                uint8_t lo = byte_at(2 * i + 1);
                if (address.string_low_byte_first) std::swap(hi, lo);
                out.words[i] = static_cast<uint16_t>((hi << 8) | lo);
            }
            out.count = static_cast<uint16_t>(span);
            return out;
        }
        default:
            break;
    }
    return fail_tag(TagErrc::BadValue, "unknown data type");
}

}  // namespace ib::drivers::modbus
