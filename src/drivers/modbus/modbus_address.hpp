// Tag addresses in the form Neuron users know: UNIT!AREA ADDRESS[.BIT|.LEN[H|L]][#ORDER],
// e.g. 1!400001, 1!40001#BB, 1!400010.15, 1!400020.10H. Parsed once when a tag is
// created; a wrong address is refused there with a message showing the form.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "drivers/device_config.hpp"
#include "drivers/value.hpp"

namespace ib::drivers::modbus {

// The digit before the address number names the area.
enum class Area : uint8_t {
    Coil = 0,             // read 1, write 5/15
    DiscreteInput = 1,    // read 2
    InputRegister = 3,    // read 4
    HoldingRegister = 4,  // read 3, write 6/16
};

// How a value spanning registers is laid out. Named by two letters: the first is
// the word order (B: most significant register first), the second the byte
// order inside each register (B: high byte first). #BB = ABCD, #BL = BADC,
// #LB = CDAB, #LL = DCBA; 64-bit values follow the same two rules. A 16-bit
// value uses only the byte order (#B or #L).
struct ByteOrder {
    bool low_word_first = false;
    bool swap_bytes = false;
    friend bool operator==(const ByteOrder&, const ByteOrder&) = default;
};

// "BB", "BL", "LB", "LL"; nullopt otherwise.
std::optional<ByteOrder> parse_byte_order(std::string_view text);
std::string_view byte_order_name(ByteOrder order);

struct AddressOptions {
    // 1: 400001 is the first holding register (wire address 0), as in most PLC
    // manuals; 0: 400000 is the first.
    int base = 1;
    // Used when the address has no #ORDER.
    ByteOrder default_order;
};

struct ModbusAddress {
    uint8_t unit = 1;
    Area area = Area::HoldingRegister;
    uint16_t address = 0;          // on the wire (0-based)
    std::optional<uint8_t> bit;    // 0..15: a Bool tag that is one bit of a register
    uint16_t length = 0;           // String and Bytes: registers
    bool string_low_byte_first = false;  // .LEN L (String, Bytes): each register holds its low byte first
    ByteOrder order;
    DataType type = DataType::Uint16;

    // Registers (register areas) or bits (coil areas) this tag spans: 1 for bits,
    // Bool, 8- and 16-bit types; 2 for 32-bit; 4 for 64-bit; `length` for String/Bytes.
    uint16_t span() const;
    bool is_bit_area() const { return area == Area::Coil || area == Area::DiscreteInput; }
    bool writable() const { return area == Area::Coil || area == Area::HoldingRegister; }
};

// Refuses, with a message naming the problem and showing the expected form:
// a missing or non-numeric unit (0..255), an unknown area digit, a register number
// out of range for the base (the value plus its span must fit in 65536), a
// non-Bool type on a coil or discrete input, a .BIT that is not 0..15 or on a
// non-Bool type, a String/Bytes without .LEN (1..125), a .LEN on another type,
// an #ORDER that is unknown or does not fit the type's width (#B/#L for 16-bit;
// #BB/#BL/#LB/#LL for 32/64-bit; none for Bool, 8-bit, String, Bytes), trailing text.
// Example message:
//   "1!4x0001": the address number must be digits; expected
//   UNIT!AREA ADDRESS[.BIT|.LEN[H|L]][#ORDER], e.g. 1!400001, 1!400001#BB, 1!400010.15, 1!400020.10H
std::expected<ModbusAddress, std::string> parse_address(std::string_view text, DataType type,
                                                        const AddressOptions& options);

// The text form of a parsed address, with the base it was parsed with (for the REST
// API and logs): round-trips through parse_address.
std::string format_address(const ModbusAddress& address, int base);

// A tag of a Modbus device as the config checks it (the app hands this to the
// device settings as the address check of the modbus drivers): the address
// parses for the tag's type with the device's base and byte order, and a
// writable tag is not in a read-only area. "" when valid, otherwise why not.
std::string check_tag_address(const DeviceConfig& device, const TagConfig& tag);

}  // namespace ib::drivers::modbus
