#include "sparkplug/payload.hpp"

#include "sparkplug/sparkplug_b.pb.h"

#include <cmath>
#include <cstdint>

namespace ib::sparkplug {
namespace {

using PbPayload = pb::Payload;
using PbMetric = pb::Payload_Metric;

constexpr std::string_view kEngUnit = "engUnit";

template <class... F>
struct Overloaded : F... {
    using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;  // clang 16 deduces no aggregate's arguments

// A float as an integer: truncated, saturated at int64's range, NaN as 0 (a
// cast of a value out of range is undefined behaviour).
uint64_t saturated(double d) {
    if (std::isnan(d)) return 0;
    if (d <= -0x1p63) return static_cast<uint64_t>(INT64_MIN);
    if (d >= 0x1p63) return static_cast<uint64_t>(INT64_MAX);
    return static_cast<uint64_t>(static_cast<int64_t>(d));
}

// A value in the field its datatype names (§6.4.16). A value whose C++ type
// does not match the datatype is converted the way the datatype reads it.
void set_value(PbMetric& m, DataType type, const MetricValue& v) {
    auto as_u64 = [&]() -> uint64_t {
        return std::visit(Overloaded{[](std::monostate) -> uint64_t { return 0; },
                                     [](bool b) -> uint64_t { return b ? 1 : 0; },
                                     [](int64_t i) { return static_cast<uint64_t>(i); }, [](uint64_t u) { return u; },
                                     [](float f) { return saturated(f); }, [](double d) { return saturated(d); },
                                     [](const std::string&) -> uint64_t { return 0; },
                                     [](const std::vector<uint8_t>&) -> uint64_t { return 0; }},
                          v);
    };
    auto as_double = [&]() -> double {
        return std::visit(Overloaded{[](std::monostate) { return 0.0; }, [](bool b) { return b ? 1.0 : 0.0; },
                                     [](int64_t i) { return static_cast<double>(i); },
                                     [](uint64_t u) { return static_cast<double>(u); },
                                     [](float f) { return static_cast<double>(f); }, [](double d) { return d; },
                                     [](const std::string&) { return 0.0; },
                                     [](const std::vector<uint8_t>&) { return 0.0; }},
                          v);
    };
    switch (type) {
        // Cut to the datatype's width, signed values then sign-extended to 32
        // bits (two's complement), so one value has one encoding.
        case DataType::Int8: m.set_int_value(static_cast<uint32_t>(static_cast<int32_t>(static_cast<int8_t>(as_u64())))); return;
        case DataType::Int16: m.set_int_value(static_cast<uint32_t>(static_cast<int32_t>(static_cast<int16_t>(as_u64())))); return;
        case DataType::Int32:
        case DataType::UInt32: m.set_int_value(static_cast<uint32_t>(as_u64())); return;
        case DataType::UInt8: m.set_int_value(static_cast<uint32_t>(as_u64() & 0xFF)); return;
        case DataType::UInt16: m.set_int_value(static_cast<uint32_t>(as_u64() & 0xFFFF)); return;
        case DataType::Int64:
        case DataType::UInt64:
        case DataType::DateTime: m.set_long_value(as_u64()); return;
        case DataType::Float: m.set_float_value(static_cast<float>(as_double())); return;
        case DataType::Double: m.set_double_value(as_double()); return;
        case DataType::Boolean: m.set_boolean_value(as_u64() != 0 || as_double() != 0.0); return;
        case DataType::String:
        case DataType::Text:
        case DataType::UUID:
            if (const auto* s = std::get_if<std::string>(&v)) m.set_string_value(*s);
            else m.set_string_value("");
            return;
        case DataType::Bytes:
        case DataType::File:
            if (const auto* b = std::get_if<std::vector<uint8_t>>(&v)) {
                m.set_bytes_value(reinterpret_cast<const char*>(b->data()), b->size());
            } else {
                m.set_bytes_value("");
            }
            return;
        default: m.set_is_null(true); return;
    }
}

// The value of a decoded metric, read as its datatype says.
MetricValue read_value(const PbMetric& m, DataType type) {
    if (m.is_null()) return std::monostate{};
    const bool has_int = m.value_case() == PbMetric::kIntValue;
    const bool has_long = m.value_case() == PbMetric::kLongValue;
    switch (type) {
        case DataType::Int8:
            if (has_int) return static_cast<int64_t>(static_cast<int8_t>(m.int_value()));
            break;
        case DataType::Int16:
            if (has_int) return static_cast<int64_t>(static_cast<int16_t>(m.int_value()));
            break;
        case DataType::Int32:
            if (has_int) return static_cast<int64_t>(static_cast<int32_t>(m.int_value()));
            break;
        case DataType::UInt8:
            if (has_int) return static_cast<uint64_t>(m.int_value() & 0xFF);
            break;
        case DataType::UInt16:
            if (has_int) return static_cast<uint64_t>(m.int_value() & 0xFFFF);
            break;
        case DataType::UInt32:
            if (has_int) return static_cast<uint64_t>(m.int_value());
            if (has_long) return static_cast<uint64_t>(static_cast<uint32_t>(m.long_value()));
            break;
        case DataType::Int64:
            if (has_long) return static_cast<int64_t>(m.long_value());
            break;
        case DataType::UInt64:
        case DataType::DateTime:
            if (has_long) return static_cast<uint64_t>(m.long_value());
            break;
        default: break;
    }
    switch (m.value_case()) {
        case PbMetric::kIntValue: return static_cast<uint64_t>(m.int_value());
        case PbMetric::kLongValue: return static_cast<uint64_t>(m.long_value());
        case PbMetric::kFloatValue: return m.float_value();
        case PbMetric::kDoubleValue: return m.double_value();
        case PbMetric::kBooleanValue: return m.boolean_value();
        case PbMetric::kStringValue: return m.string_value();
        case PbMetric::kBytesValue: {
            const std::string& b = m.bytes_value();
            return std::vector<uint8_t>(b.begin(), b.end());
        }
        default: return std::monostate{};
    }
}

}  // namespace

std::string_view data_type_name(DataType type) {
    static constexpr std::string_view kNames[] = {
        "Unknown", "Int8",    "Int16",       "Int32",           "Int64",     "UInt8",      "UInt16",
        "UInt32",  "UInt64",  "Float",       "Double",          "Boolean",   "String",     "DateTime",
        "Text",    "UUID",    "DataSet",     "Bytes",           "File",      "Template",   "PropertySet",
        "PropertySetList", "Int8Array", "Int16Array", "Int32Array", "Int64Array", "UInt8Array", "UInt16Array",
        "UInt32Array", "UInt64Array", "FloatArray", "DoubleArray", "BooleanArray", "StringArray", "DateTimeArray"};
    auto i = static_cast<uint32_t>(type);
    return i < std::size(kNames) ? kNames[i] : std::string_view("Unknown");
}

struct PayloadEncoder::Impl {
    PbPayload message;
};

PayloadEncoder::PayloadEncoder() : impl_(std::make_unique<Impl>()) {}
PayloadEncoder::~PayloadEncoder() = default;

void PayloadEncoder::encode(const Payload& payload, std::vector<std::byte>& out) {
    PbPayload& p = impl_->message;
    p.Clear();  // keeps the cleared metrics and their strings for reuse
    if (payload.timestamp) p.set_timestamp(*payload.timestamp);
    if (payload.seq) p.set_seq(*payload.seq);
    for (const Metric& metric : payload.metrics) {
        PbMetric* m = p.add_metrics();
        if (!metric.name.empty()) m->set_name(metric.name);
        if (metric.alias) m->set_alias(*metric.alias);
        if (metric.timestamp) m->set_timestamp(*metric.timestamp);
        if (metric.datatype != DataType::Unknown) m->set_datatype(static_cast<uint32_t>(metric.datatype));
        if (std::holds_alternative<std::monostate>(metric.value)) m->set_is_null(true);
        else set_value(*m, metric.datatype, metric.value);
        if (!metric.eng_unit.empty()) {
            auto* props = m->mutable_properties();
            props->add_keys(std::string(kEngUnit));
            auto* v = props->add_values();
            v->set_type(static_cast<uint32_t>(DataType::String));
            v->set_string_value(metric.eng_unit);
        }
    }
    out.resize(p.ByteSizeLong());
    p.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data()));
}

std::expected<Payload, DecodeError> decode_payload(std::span<const std::byte> bytes) {
    PbPayload p;
    if (bytes.size() > static_cast<std::size_t>(INT32_MAX) ||
        !p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return std::unexpected(DecodeError{"not a Sparkplug B payload (protobuf decoding failed)"});
    }
    Payload out;
    if (p.has_timestamp()) out.timestamp = p.timestamp();
    if (p.has_seq()) out.seq = p.seq();
    out.metrics.reserve(static_cast<std::size_t>(p.metrics_size()));
    for (const PbMetric& m : p.metrics()) {
        Metric metric;
        metric.name = m.name();
        if (m.has_alias()) metric.alias = m.alias();
        if (m.has_timestamp()) metric.timestamp = m.timestamp();
        metric.datatype = static_cast<DataType>(m.datatype());
        metric.value = read_value(m, metric.datatype);
        if (m.has_properties()) {
            const auto& props = m.properties();
            for (int i = 0; i < props.keys_size() && i < props.values_size(); ++i) {
                if (props.keys(i) == kEngUnit && props.values(i).has_string_value()) {
                    metric.eng_unit = props.values(i).string_value();
                }
            }
        }
        out.metrics.push_back(std::move(metric));
    }
    return out;
}

}  // namespace ib::sparkplug
