// OPC UA values and the device layer's: a Variant read from a node becomes a
// drivers::Value (value.hpp), and a Value written to a node becomes a Variant
// of the node's own DataType. Pure; the README's table says how each type maps.
#pragma once

#include <expected>
#include <optional>
#include <string>

#include "drivers/opcua/builtin_types.hpp"
#include "drivers/value.hpp"

namespace ib::drivers::opcua {

// Scalars as value.hpp carries them (integers as int64_t, UInt64 as uint64_t,
// Float and Double as double, DateTime as Unix milliseconds, Guid and NodeId
// in their string form, LocalizedText as its text); arrays as a JsonArray of
// those. Null, and types a collector cannot publish (ExtensionObject...), are
// errors naming the type.
std::expected<Value, std::string> to_value(const Variant& v);

// A scalar of the built-in type `type` holding `value`: numbers are checked
// against the type's range (an integer type takes no fraction), a Boolean takes
// true/false (or 0/1), a String any text, a DateTime Unix milliseconds, a
// ByteString bytes, a Guid its text. The error says what the node needs.
std::expected<Variant, std::string> to_variant(const Value& value, BuiltinType type);

// The built-in type a node of DataType `data_type` holds: the built-in types
// themselves (i=1..15) and the standard subtypes a PLC uses (Duration, UtcTime,
// enumerations...). nullopt for structures and other types not written here.
std::optional<BuiltinType> builtin_of_data_type(const NodeId& data_type);

std::string_view builtin_name(BuiltinType type);  // "Double"

}  // namespace ib::drivers::opcua
