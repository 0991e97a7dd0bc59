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
