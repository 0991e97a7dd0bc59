// The Sparkplug B payload (Eclipse Sparkplug 3.0, chapter 6) as plain C++
// values, and its codec: encode for births, data and deaths, decode for
// commands. The protobuf classes generated from sparkplug_b.proto stay inside
// payload.cpp, so no other file sees protobuf. Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ib::sparkplug {

// §6.4.16: the codes a metric's datatype (and a property's type) takes.
enum class DataType : uint32_t {
    Unknown = 0,
    Int8 = 1,
    Int16 = 2,
    Int32 = 3,
    Int64 = 4,
    UInt8 = 5,
    UInt16 = 6,
    UInt32 = 7,
    UInt64 = 8,
    Float = 9,
    Double = 10,
    Boolean = 11,
    String = 12,
    DateTime = 13,
    Text = 14,
    UUID = 15,
    DataSet = 16,
    Bytes = 17,
    File = 18,
    Template = 19,
    PropertySet = 20,
    PropertySetList = 21,
    // 22..34: the array types (packed little-endian in bytes_value)
    DateTimeArray = 34,
};

std::string_view data_type_name(DataType type);

// A metric's value as this node uses it. Signed types are carried as int64_t,
// unsigned ones and DateTime as uint64_t; Float as float. monostate: null, or a
// value this node does not take apart (a DataSet, a Template, an extension).
using MetricValue = std::variant<std::monostate, bool, int64_t, uint64_t, float, double, std::string, std::vector<uint8_t>>;

struct Metric {
    std::string name;  // empty in data messages, which name a metric by its alias
    std::optional<uint64_t> alias;
    std::optional<uint64_t> timestamp;  // ms since the epoch, UTC
    DataType datatype = DataType::Unknown;  // Unknown: not sent (data messages may leave it out)
    MetricValue value;
    // The "engUnit" property (§6.4.5's example of a well-known property); empty: none.
    std::string eng_unit;
};

struct Payload {
    std::optional<uint64_t> timestamp;
    std::optional<uint64_t> seq;  // absent in NDEATH
    std::vector<Metric> metrics;
};

// Encodes payloads, reusing one protobuf message (and the memory its repeated
// fields and strings grew) from one call to the next: a steady stream of data
// messages allocates nothing once the largest has been seen.
class PayloadEncoder {
public:
    PayloadEncoder();
    ~PayloadEncoder();
    PayloadEncoder(const PayloadEncoder&) = delete;
    PayloadEncoder& operator=(const PayloadEncoder&) = delete;

    // Replaces `out` with the encoded payload. The value is written to the field
    // §6.4.16 names for the datatype (Int8..Int32, UInt8..UInt32: int_value as
    // 32-bit two's complement; Int64, UInt64, DateTime: long_value); a value
    // that is monostate is sent as is_null.
    void encode(const Payload& payload, std::vector<std::byte>& out);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

struct DecodeError {
    std::string message;
};

// Untrusted bytes (NCMD, DCMD) to a Payload; bytes that are not a Sparkplug B
// payload are an error, never a crash. A metric's value is read from the field
// its datatype names; UInt32 is also accepted in long_value (Eclipse Tahu's
// JavaScript and Java libraries put it there). Values of complex types
// (DataSet, Template) decode as monostate.
std::expected<Payload, DecodeError> decode_payload(std::span<const std::byte> bytes);

}  // namespace ib::sparkplug
