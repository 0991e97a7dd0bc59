#include "sparkplug/json_value.hpp"

#include <cmath>

#include "core/json_writer.hpp"

namespace ib::sparkplug {
namespace {

// An integer written as a number with an exponent or a fraction ("4e+09",
// "12.0"), as JSON allows and some writers do; nullopt for a true fraction.
std::optional<double> integral_double(simdjson::ondemand::value& json) {
    double d;
    if (json.get_double().get(d) || d != std::floor(d)) return std::nullopt;
    return d;
}

}  // namespace

std::optional<MetricValue> value_from_json(simdjson::ondemand::value json, DataType type) {
    switch (type) {
        case DataType::Boolean: {
            bool b;
            if (json.get_bool().get(b)) return std::nullopt;
            return b;
        }
        case DataType::Int8:
        case DataType::Int16:
        case DataType::Int32:
        case DataType::Int64: {
            int64_t i;
            if (!json.get_int64().get(i)) return i;
            if (auto d = integral_double(json); d && *d >= -0x1p63 && *d < 0x1p63) return static_cast<int64_t>(*d);
            return std::nullopt;
        }
        case DataType::UInt8:
        case DataType::UInt16:
        case DataType::UInt32:
        case DataType::UInt64: {
            uint64_t u;
            if (!json.get_uint64().get(u)) return u;
            if (auto d = integral_double(json); d && *d >= 0 && *d < 0x1p64) return static_cast<uint64_t>(*d);
            return std::nullopt;
        }
        case DataType::Float:
        case DataType::Double: {
            double d;
            if (json.get_double().get(d)) return std::nullopt;
            if (type == DataType::Float) return static_cast<float>(d);
            return d;
        }
        case DataType::String: {
            std::string_view s;
            if (json.get_string().get(s)) return std::nullopt;
            return std::string(s);
        }
        case DataType::Bytes: {
            simdjson::ondemand::array a;
            if (json.get_array().get(a)) return std::nullopt;
            std::vector<uint8_t> bytes;
            for (auto e : a) {
                uint64_t b;
                if (e.get_uint64().get(b) || b > 255) return std::nullopt;
                bytes.push_back(static_cast<uint8_t>(b));
            }
            return bytes;
        }
        default: return std::nullopt;
    }
}

std::optional<std::string> value_to_json(const MetricValue& value) {
    std::string out;
    JsonWriter w(out);
    bool ok = std::visit(
        [&](const auto& v) {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, std::monostate>) {
                return false;
            } else if constexpr (std::is_same_v<V, bool>) {
                w.boolean(v);
            } else if constexpr (std::is_same_v<V, int64_t> || std::is_same_v<V, uint64_t>) {
                w.number(v);
            } else if constexpr (std::is_same_v<V, float> || std::is_same_v<V, double>) {
                w.number(static_cast<double>(v));
            } else if constexpr (std::is_same_v<V, std::string>) {
                w.string(v);
            } else {
                w.begin_array();
                for (uint8_t b : v) w.number(static_cast<uint64_t>(b));
                w.end_array();
            }
            return true;
        },
        value);
    if (!ok) return std::nullopt;
    return out;
}

}  // namespace ib::sparkplug
