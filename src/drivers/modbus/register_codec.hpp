// Tag values to and from Modbus registers, per data type and byte order. Pure
// functions; no scaling (that is the device layer's, for every driver alike).
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <span>

#include "drivers/modbus/modbus_address.hpp"
#include "drivers/value.hpp"

namespace ib::drivers::modbus {

// The value of a register-area tag from the `address.span()` registers read for it,
// as they came off the wire (2 bytes each, big-endian). Integers as int64_t
// (Uint64 as uint64_t), floats as double, Bool (a .BIT of a register) as bool,
// String as its text up to the first NUL, Bytes as the raw bytes.
// Errors (code TagErrc::Decode): a float that is NaN or infinite (JSON cannot
// carry it), a String that is not valid UTF-8.
std::expected<Value, TagError> decode_registers(std::span<const uint8_t> wire, const ModbusAddress& address);

struct Registers {
    std::array<uint16_t, 125> words{};
    uint16_t count = 0;
    std::span<const uint16_t> view() const { return {words.data(), count}; }
};

// The registers to write for a raw value (already unscaled) of a register-area
// tag. Accepts: integers for integer types when in range (a double only when it
// is integral), any number for floats, bool or 0/1 for nothing else, a string of at
// most 2*length bytes for String (NUL padded), bytes for Bytes (zero padded).
// Errors carry TagErrc::BadValue and say why: "70000 is out of range for int16".
// A Bool in a register (.BIT) is not handled here: the driver reads the register
// and sets the bit (see with_bit).
std::expected<Registers, TagError> encode_registers(const Value& raw, const ModbusAddress& address);

inline uint16_t with_bit(uint16_t word, uint8_t bit, bool on) {
    return on ? static_cast<uint16_t>(word | (1u << bit)) : static_cast<uint16_t>(word & ~(1u << bit));
}

}  // namespace ib::drivers::modbus
