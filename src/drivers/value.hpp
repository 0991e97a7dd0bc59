// What a tag holds: its declared data type and a value read from or written to a
// device. Shared by every driver, the device manager and the JSON encoders; knows
// no protocol and does no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ib::drivers {

enum class DataType : uint8_t {
    Bool,  // a coil, a discrete input, or one bit of a register (address ".BIT")
    Int8,
    Uint8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Uint64,
    Float32,
    Float64,
    String,  // N registers (address ".LEN"), trailing NULs dropped
    Bytes,   // N registers of raw bytes (address ".LEN")
};

// "bool", "int8", ..., "float64", "string", "bytes".
std::string_view data_type_name(DataType type);
// Accepts the names above (and "float"/"double" as float32/float64); nullopt otherwise.
std::optional<DataType> parse_data_type(std::string_view name);
// Every accepted name, comma separated, for error messages.
std::string_view data_type_names();

// An array read from a device (OPC UA arrays), kept as the JSON array it is
// published as: the device layer only compares and publishes it, and writes of
// arrays are not offered, so its elements need no typed form here.
struct JsonArray {
    std::string json;  // "[1,-2,3]"
    bool operator==(const JsonArray&) const = default;
};

// Integers are carried as int64_t or uint64_t (uint64 only for Uint64 tags, so a
// value above INT64_MAX survives); Float32/Float64 and any scaled tag as double.
using Value = std::variant<bool, int64_t, uint64_t, double, std::string, std::vector<uint8_t>, JsonArray>;

// Per-tag error codes. 1..11 are Modbus exception codes, passed through as the
// device sent them; our own codes start at 1000 so the two never collide.
enum class TagErrc : uint16_t {
    Timeout = 1000,       // no reply within the device's timeout
    Disconnected = 1001,  // no connection to the device
    BadReply = 1002,      // a reply that did not match the request
    Decode = 1003,        // bytes that are not a value of the tag's type
    NotWritable = 1004,   // a write to a read-only tag or area
    BadValue = 1005,      // a write whose value does not fit the tag's type
    UnknownTag = 1006,    // a write naming no tag of the device
    Cancelled = 1007,     // the device was stopped or changed while waiting
    DeviceStatus = 1008,  // the device's own status refused it; the message names it (OPC UA: "BadNodeIdUnknown")
};

struct TagError {
    uint16_t code = 0;
    std::string message;
};

}  // namespace ib::drivers

namespace ib::drivers {

// Appends the value as JSON: true/false, integers, the shortest text of a double
// that reads back the same, a quoted string, bytes as an array of numbers.
void append_json(std::string& out, const Value& value);
// The same, but a Float32 tag's double is written as the shortest text of the
// float the device holds (21.5, not 21.500000953674316).
void append_json(std::string& out, const Value& value, DataType type);

}  // namespace ib::drivers
