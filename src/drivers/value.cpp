#include "drivers/value.hpp"

#include <array>
#include <utility>

namespace ib::drivers {
namespace {

constexpr std::array<std::pair<std::string_view, DataType>, 13> kNames{{
    {"bool", DataType::Bool},
    {"int8", DataType::Int8},
    {"uint8", DataType::Uint8},
    {"int16", DataType::Int16},
    {"uint16", DataType::Uint16},
    {"int32", DataType::Int32},
    {"uint32", DataType::Uint32},
    {"int64", DataType::Int64},
    {"uint64", DataType::Uint64},
    {"float32", DataType::Float32},
    {"float64", DataType::Float64},
    {"string", DataType::String},
    {"bytes", DataType::Bytes},
}};

}  // namespace

std::string_view data_type_name(DataType type) {
    for (const auto& [name, t] : kNames) {
        if (t == type) return name;
    }
    return "?";
}

std::optional<DataType> parse_data_type(std::string_view name) {
    for (const auto& [n, t] : kNames) {
        if (n == name) return t;
    }
    if (name == "float") return DataType::Float32;
    if (name == "double") return DataType::Float64;
    return std::nullopt;
}

std::string_view data_type_names() {
    return "bool, int8, uint8, int16, uint16, int32, uint32, int64, uint64, float32, float64, string, bytes";
}

}  // namespace ib::drivers

#include <charconv>
#include <cmath>

#include "core/quote.hpp"

namespace ib::drivers {

void append_json(std::string& out, const Value& value) {
    char buf[32];
    if (const auto* b = std::get_if<bool>(&value)) {
        out += *b ? "true" : "false";
    } else if (const auto* i = std::get_if<int64_t>(&value)) {
        auto r = std::to_chars(buf, buf + sizeof buf, *i);
        out.append(buf, r.ptr);
    } else if (const auto* u = std::get_if<uint64_t>(&value)) {
        auto r = std::to_chars(buf, buf + sizeof buf, *u);
        out.append(buf, r.ptr);
    } else if (const auto* d = std::get_if<double>(&value)) {
        if (!std::isfinite(*d)) {
            out += "null";  // JSON has no NaN; decoders refuse them before this
            return;
        }
        auto r = std::to_chars(buf, buf + sizeof buf, *d);
        out.append(buf, r.ptr);
    } else if (const auto* s = std::get_if<std::string>(&value)) {
        out += quoted(*s);
    } else if (const auto* a = std::get_if<JsonArray>(&value)) {
        out += a->json;
    } else {
        const auto& bytes = std::get<std::vector<uint8_t>>(value);
        out += '[';
        for (size_t k = 0; k < bytes.size(); ++k) {
            if (k) out += ',';
            auto r = std::to_chars(buf, buf + sizeof buf, bytes[k]);
            out.append(buf, r.ptr);
        }
        out += ']';
    }
}

void append_json(std::string& out, const Value& value, DataType type) {
    const auto* d = std::get_if<double>(&value);
    if (type != DataType::Float32 || d == nullptr || !std::isfinite(*d)) return append_json(out, value);
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<float>(*d));
    out.append(buf, r.ptr);
}

}  // namespace ib::drivers
