#include "drivers/opcua/variant_value.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

#include "drivers/opcua/node_id.hpp"

namespace ib::drivers::opcua {
namespace {

constexpr std::string_view kNames[] = {
    "Null",    "Boolean",       "SByte",          "Byte",          "Int16",        "UInt16",        "Int32",
    "UInt32",  "Int64",         "UInt64",         "Float",         "Double",       "String",        "DateTime",
    "Guid",    "ByteString",    "XmlElement",     "NodeId",        "ExpandedNodeId", "StatusCode",  "QualifiedName",
    "LocalizedText", "ExtensionObject", "DataValue", "Variant",   "DiagnosticInfo",
};

// One element as a Value; nullopt for the types value.hpp has no form for.
template <typename T>
std::optional<Value> element(const T& x) {
    if constexpr (std::is_same_v<T, bool>) return Value{x};
    else if constexpr (std::is_same_v<T, uint64_t>) return Value{x};
    else if constexpr (std::is_integral_v<T>) return Value{static_cast<int64_t>(x)};
    else if constexpr (std::is_floating_point_v<T>) return Value{static_cast<double>(x)};
    else if constexpr (std::is_same_v<T, std::string>) return Value{x};
    else if constexpr (std::is_same_v<T, DateTime>) return Value{static_cast<int64_t>(unix_ms(x))};
    else if constexpr (std::is_same_v<T, Guid>) return Value{to_string(x)};
    else if constexpr (std::is_same_v<T, ByteString>) {
        std::vector<uint8_t> out(x.size());
        for (size_t i = 0; i < x.size(); ++i) out[i] = static_cast<uint8_t>(x[i]);
        return Value{std::move(out)};
    } else if constexpr (std::is_same_v<T, NodeId>) return Value{to_string(x)};
    else if constexpr (std::is_same_v<T, StatusCode>) return Value{static_cast<int64_t>(x.value)};
    else if constexpr (std::is_same_v<T, QualifiedName>) return Value{x.name};
    else if constexpr (std::is_same_v<T, LocalizedText>) return Value{x.text};
    else return std::nullopt;
}

std::string no_form(BuiltinType t) {
    return "a " + std::string(builtin_name(t)) + " value cannot be published";
}

std::optional<double> as_number(const Value& v) {
    if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
    if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<double>(*u);
    if (const auto* d = std::get_if<double>(&v)) return *d;
    return std::nullopt;
}

std::string needs(BuiltinType t, const char* what) {
    return "the node is " + std::string(builtin_name(t)) + ": write " + what;
}

// An integer of type T from any numeric Value, within T's range and whole.
template <typename T>
std::expected<T, std::string> integer_of(const Value& v, BuiltinType type) {
    constexpr auto lo = std::numeric_limits<T>::min();
    constexpr auto hi = std::numeric_limits<T>::max();
    auto range = [&] {
        return needs(type, ("an integer from " + std::to_string(lo) + " to " + std::to_string(hi)).c_str());
    };
    if (const auto* b = std::get_if<bool>(&v)) return static_cast<T>(*b);
    if (const auto* i = std::get_if<int64_t>(&v)) {
        if constexpr (std::is_signed_v<T>) {
            if (*i < static_cast<int64_t>(lo) || *i > static_cast<int64_t>(hi)) return std::unexpected(range());
        } else {
            if (*i < 0 || static_cast<uint64_t>(*i) > static_cast<uint64_t>(hi)) return std::unexpected(range());
        }
        return static_cast<T>(*i);
    }
    if (const auto* u = std::get_if<uint64_t>(&v)) {
        if (*u > static_cast<uint64_t>(hi)) return std::unexpected(range());
        return static_cast<T>(*u);
    }
    if (const auto* d = std::get_if<double>(&v)) {
        if (!std::isfinite(*d) || std::trunc(*d) != *d || *d < static_cast<double>(lo) ||
            *d >= static_cast<double>(hi) + 1.0) {
            return std::unexpected(range());
        }
        return static_cast<T>(*d);
    }
    return std::unexpected(range());
}

template <BuiltinType B, typename T>
std::expected<Variant, std::string> integer_variant(const Value& v) {
    auto x = integer_of<T>(v, B);
    if (!x) return std::unexpected(x.error());
    return Variant::scalar<B>(*x);
}

}  // namespace

std::string_view builtin_name(BuiltinType type) {
    const auto i = static_cast<size_t>(type);
    return i < std::size(kNames) ? kNames[i] : "?";
}

std::expected<Value, std::string> to_value(const Variant& v) {
    if (v.is_null()) return std::unexpected(std::string("the node holds no value (Null)"));
    return std::visit(
        [&](const auto& elements) -> std::expected<Value, std::string> {
            using Vec = std::decay_t<decltype(elements)>;
            if constexpr (std::is_same_v<Vec, std::monostate>) {
                return std::unexpected(std::string("the node holds no value (Null)"));
            } else {
                if (!v.is_array) {
                    if (elements.empty()) return std::unexpected(std::string("the node holds no value"));
                    auto one = element(static_cast<const typename Vec::value_type&>(elements.front()));
                    if (!one) return std::unexpected(no_form(v.type()));
                    return std::move(*one);
                }
                JsonArray out;
                out.json += '[';
                for (size_t i = 0; i < elements.size(); ++i) {
                    auto one = element(static_cast<const typename Vec::value_type&>(elements[i]));
                    if (!one) return std::unexpected(no_form(v.type()) + " (in an array)");
                    if (i) out.json += ',';
                    append_json(out.json, *one);
                }
                out.json += ']';
                return Value{std::move(out)};
            }
        },
        v.values);
}

std::expected<Variant, std::string> to_variant(const Value& value, BuiltinType type) {
    switch (type) {
        case BuiltinType::Boolean: {
            if (const auto* b = std::get_if<bool>(&value)) return Variant::scalar<BuiltinType::Boolean>(*b);
            auto n = as_number(value);
            if (n && (*n == 0 || *n == 1)) return Variant::scalar<BuiltinType::Boolean>(*n == 1);
            return std::unexpected(needs(type, "true or false"));
        }
        case BuiltinType::SByte: return integer_variant<BuiltinType::SByte, int8_t>(value);
        case BuiltinType::Byte: return integer_variant<BuiltinType::Byte, uint8_t>(value);
        case BuiltinType::Int16: return integer_variant<BuiltinType::Int16, int16_t>(value);
        case BuiltinType::UInt16: return integer_variant<BuiltinType::UInt16, uint16_t>(value);
        case BuiltinType::Int32: return integer_variant<BuiltinType::Int32, int32_t>(value);
        case BuiltinType::UInt32: return integer_variant<BuiltinType::UInt32, uint32_t>(value);
        case BuiltinType::Int64: return integer_variant<BuiltinType::Int64, int64_t>(value);
        case BuiltinType::UInt64: return integer_variant<BuiltinType::UInt64, uint64_t>(value);
        case BuiltinType::Float: {
            auto n = as_number(value);
            if (!n || std::holds_alternative<bool>(value)) return std::unexpected(needs(type, "a number"));
            if (std::isfinite(*n) && std::fabs(*n) > std::numeric_limits<float>::max()) {
                return std::unexpected(needs(type, "a number within the range of a 32-bit float"));
            }
            return Variant::scalar<BuiltinType::Float>(static_cast<float>(*n));
        }
        case BuiltinType::Double: {
            auto n = as_number(value);
            if (!n || std::holds_alternative<bool>(value)) return std::unexpected(needs(type, "a number"));
            return Variant::scalar<BuiltinType::Double>(*n);
        }
        case BuiltinType::String:
            if (const auto* s = std::get_if<std::string>(&value)) return Variant::scalar<BuiltinType::String>(*s);
            return std::unexpected(needs(type, "a string"));
        case BuiltinType::DateTime: {
            auto ms = integer_of<int64_t>(value, type);
            if (!ms || std::holds_alternative<bool>(value)) {
                return std::unexpected(needs(type, "Unix milliseconds"));
            }
            return Variant::scalar<BuiltinType::DateTime>(from_unix_ms(*ms));
        }
        case BuiltinType::ByteString: {
            const auto* b = std::get_if<std::vector<uint8_t>>(&value);
            if (b == nullptr) return std::unexpected(needs(type, "an array of bytes"));
            ByteString out(b->size());
            for (size_t i = 0; i < b->size(); ++i) out[i] = static_cast<std::byte>((*b)[i]);
            return Variant::scalar<BuiltinType::ByteString>(std::move(out));
        }
        case BuiltinType::Guid: {
            const auto* s = std::get_if<std::string>(&value);
            auto id = s ? parse_node_id("g=" + *s) : Result<NodeId>(std::unexpected(Error{}));
            if (!id) return std::unexpected(needs(type, "a GUID such as \"72962b91-fa75-4ae6-8d28-b404dc7daf63\""));
            return Variant::scalar<BuiltinType::Guid>(std::get<Guid>(id->id));
        }
        default:
            return std::unexpected("writing a " + std::string(builtin_name(type)) + " node is not supported");
    }
}

std::optional<BuiltinType> builtin_of_data_type(const NodeId& data_type) {
    if (data_type.ns != 0) return std::nullopt;  // a server's own type: a structure or an enumeration of its own
    const auto* id = std::get_if<uint32_t>(&data_type.id);
    if (id == nullptr) return std::nullopt;
    if (*id >= 1 && *id <= 15) return static_cast<BuiltinType>(*id);
    // OPC 10000-6 Annex A (NodeIds.csv): the standard subtypes of the built-in
    // types that PLC variables use.
    switch (*id) {
        case 26: return BuiltinType::Double;   // Number: written as the widest
        case 27: return BuiltinType::Int64;    // Integer
        case 28: return BuiltinType::UInt64;   // UInteger
        case 29: return BuiltinType::Int32;    // Enumeration (its values are Int32)
        case 288: return BuiltinType::UInt32;  // IntegerId
        case 289: return BuiltinType::UInt32;  // Counter
        case 290: return BuiltinType::Double;  // Duration
        case 294: return BuiltinType::DateTime;  // UtcTime
        case 295: return BuiltinType::String;  // LocaleId
        case 851: return BuiltinType::Int32;   // ServerState
        default: return std::nullopt;
    }
}

}  // namespace ib::drivers::opcua
