#include "drivers/modbus/modbus_address.hpp"

#include "core/quote.hpp"

namespace ib::drivers::modbus {
namespace {

constexpr std::string_view kExpectedForm =
    "; expected UNIT!AREA ADDRESS[.BIT|.LEN[H|L]][#ORDER], e.g. 1!400001, 1!400001#BB, 1!400010.15, 1!400020.10H";

// Registers (or bits) in one Modbus address space: wire addresses 0..65535.
constexpr uint32_t kAddressSpace = 65536;
// The register number after the area digit: "0001" or "00001".
constexpr size_t kMaxNumberDigits = 5;
// A String or Bytes tag must be read in one request (§6.3: at most 125 registers).
constexpr uint32_t kMaxLength = 125;
constexpr uint32_t kMaxBit = 15;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view s) {
    for (char c : s) {
        if (!is_digit(c)) return false;
    }
    return !s.empty();
}

// Decimal digits only (no sign, no spaces); nullopt when empty, not digits or above `max`.
std::optional<uint32_t> parse_decimal(std::string_view s, uint32_t max) {
    if (!all_digits(s)) return std::nullopt;
    uint64_t value = 0;
    for (char c : s) {
        value = value * 10 + static_cast<uint64_t>(c - '0');
        if (value > max) return std::nullopt;  // also stops overflow on long inputs
    }
    return static_cast<uint32_t>(value);
}

enum class Width : uint8_t { None, Bits16, Wide };

// Which #ORDER forms a type takes: none (a bit, a byte, a string), #B/#L, or two letters.
Width order_width(DataType type) {
    switch (type) {
        case DataType::Int16:
        case DataType::Uint16:
            return Width::Bits16;
        case DataType::Int32:
        case DataType::Uint32:
        case DataType::Float32:
        case DataType::Int64:
        case DataType::Uint64:
        case DataType::Float64:
            return Width::Wide;
        default:
            return Width::None;
    }
}

bool has_length(DataType type) { return type == DataType::String || type == DataType::Bytes; }

std::unexpected<std::string> refuse(std::string_view text, std::string_view problem) {
    std::string message = quoted(text);
    message += ": ";
    message += problem;
    message += kExpectedForm;
    return std::unexpected(std::move(message));
}

std::string type_name(DataType type) { return std::string(data_type_name(type)); }

// "a bool", "an int16": the article a type's name takes in a sentence.
std::string with_article(DataType type) {
    std::string name = type_name(type);
    return (name.front() == 'i' ? "an " : "a ") + name;
}

std::string_view area_name(Area area) {
    switch (area) {
        case Area::Coil:
            return "coil";
        case Area::DiscreteInput:
            return "discrete input";
        case Area::InputRegister:
            return "input register";
        case Area::HoldingRegister:
            return "holding register";
    }
    return "?";
}

}  // namespace

std::optional<ByteOrder> parse_byte_order(std::string_view text) {
    if (text.size() != 2) return std::nullopt;
    auto letter = [](char c) { return c == 'B' || c == 'L'; };
    if (!letter(text[0]) || !letter(text[1])) return std::nullopt;
    return ByteOrder{.low_word_first = text[0] == 'L', .swap_bytes = text[1] == 'L'};
}

std::string_view byte_order_name(ByteOrder order) {
    if (order.low_word_first) return order.swap_bytes ? "LL" : "LB";
    return order.swap_bytes ? "BL" : "BB";
}

uint16_t ModbusAddress::span() const {
    if (is_bit_area()) return 1;
    switch (type) {
        case DataType::Bool:
        case DataType::Int8:
        case DataType::Uint8:
        case DataType::Int16:
        case DataType::Uint16:
            return 1;
        case DataType::Int32:
        case DataType::Uint32:
        case DataType::Float32:
            return 2;
        case DataType::Int64:
        case DataType::Uint64:
        case DataType::Float64:
            return 4;
        case DataType::String:
        case DataType::Bytes:
            return length;
    }
    return 1;
}

std::expected<ModbusAddress, std::string> parse_address(std::string_view text, DataType type,
                                                        const AddressOptions& options) {
    ModbusAddress out;
    out.type = type;

    // UNIT!
    const size_t bang = text.find('!');
    if (bang == std::string_view::npos) return refuse(text, "missing the unit and '!'");
    auto unit = parse_decimal(text.substr(0, bang), 255);
    if (!unit) return refuse(text, "the unit before '!' must be a number 0..255");
    out.unit = static_cast<uint8_t>(*unit);

    // AREA ADDRESS: everything up to the first '.' or '#'.
    std::string_view rest = text.substr(bang + 1);
    const size_t number_end = rest.find_first_of(".#");
    std::string_view area_and_number = rest.substr(0, number_end);
    std::string_view suffix = number_end == std::string_view::npos ? std::string_view{} : rest.substr(number_end);
    if (area_and_number.empty()) {
        return refuse(text, "missing the area digit (0 coil, 1 discrete input, 3 input register, 4 holding register)");
    }
    switch (area_and_number[0]) {
        case '0':
            out.area = Area::Coil;
            break;
        case '1':
            out.area = Area::DiscreteInput;
            break;
        case '3':
            out.area = Area::InputRegister;
            break;
        case '4':
            out.area = Area::HoldingRegister;
            break;
        default:
            return refuse(text, "unknown area '" + std::string(area_and_number.substr(0, 1)) +
                                    "' (0 coil, 1 discrete input, 3 input register, 4 holding register)");
    }
    std::string_view number_text = area_and_number.substr(1);
    if (number_text.empty()) return refuse(text, "missing the address number after the area digit");
    if (!all_digits(number_text)) return refuse(text, "the address number must be digits");
    if (number_text.size() > kMaxNumberDigits) {
        return refuse(text, "the address number has more than 5 digits");
    }
    const uint32_t number = *parse_decimal(number_text, 99999);

    // Coils and discrete inputs are single bits.
    if (out.is_bit_area() && type != DataType::Bool) {
        return refuse(text, with_article(type) + " tag cannot be a " + std::string(area_name(out.area)) +
                                "; coils and discrete inputs hold only bool tags");
    }

    // [.BIT | .LEN[H|L]]
    std::string_view dot_part;
    std::string_view order_part;
    if (!suffix.empty() && suffix[0] == '.') {
        const size_t hash = suffix.find('#');
        dot_part = suffix.substr(1, hash == std::string_view::npos ? std::string_view::npos : hash - 1);
        if (hash != std::string_view::npos) order_part = suffix.substr(hash);
    } else {
        order_part = suffix;
    }
    const bool has_dot = !suffix.empty() && suffix[0] == '.';

    if (type == DataType::Bool && !out.is_bit_area()) {
        if (!has_dot) {
            return refuse(text, "a bool tag in a register area is one bit of a register: add .BIT (0..15), e.g. "
                                "1!400010.15");
        }
        auto bit = parse_decimal(dot_part, kMaxBit);
        if (!bit) return refuse(text, ".BIT must be a number 0..15");
        out.bit = static_cast<uint8_t>(*bit);
    } else if (has_length(type)) {
        if (!has_dot) {
            return refuse(text, with_article(type) + " tag needs .LEN, its length in registers (1..125)");
        }
        size_t digits = 0;
        while (digits < dot_part.size() && is_digit(dot_part[digits])) ++digits;
        auto length = parse_decimal(dot_part.substr(0, digits), kMaxLength);
        if (!length || *length == 0) return refuse(text, ".LEN must be a number of registers 1..125");
        out.length = static_cast<uint16_t>(*length);
        std::string_view after = dot_part.substr(digits);
        if (!after.empty() && (after[0] == 'H' || after[0] == 'L')) {
            out.string_low_byte_first = after[0] == 'L';
            after.remove_prefix(1);
        }
        if (!after.empty()) return refuse(text, "unexpected text " + quoted(after) + " after .LEN");
    } else if (has_dot) {
        if (out.is_bit_area()) {
            return refuse(text, "a " + std::string(area_name(out.area)) + " is a single bit and takes no .BIT");
        }
        return refuse(text, with_article(type) +
                                " tag takes no '.' suffix (.BIT is for bool tags in a register, .LEN for string "
                                "and bytes tags)");
    }

    // [#ORDER]
    const Width width = order_width(type);
    if (!order_part.empty()) {
        std::string_view order_text = order_part.substr(1);
        if (width == Width::None) return refuse(text, with_article(type) + " tag takes no #ORDER");
        if (width == Width::Bits16) {
            if (order_text != "B" && order_text != "L") {
                return refuse(text, with_article(type) + " tag takes #B or #L (the byte order in its register), not #" +
                                        std::string(order_text));
            }
            out.order = ByteOrder{.low_word_first = false, .swap_bytes = order_text == "L"};
        } else {
            auto order = parse_byte_order(order_text);
            if (!order) {
                return refuse(text, with_article(type) + " tag takes #BB, #BL, #LB or #LL, not #" +
                                        std::string(order_text));
            }
            out.order = *order;
        }
    } else if (width == Width::Bits16) {
        // A single register has no word order; only the byte order of the default applies.
        out.order = ByteOrder{.low_word_first = false, .swap_bytes = options.default_order.swap_bytes};
    } else if (width == Width::Wide) {
        out.order = options.default_order;
    }
    // Types without an order keep ByteOrder{} so the parsed address does not depend on the default.

    // The number against the base and the address space.
    const uint32_t base = options.base == 0 ? 0 : 1;
    if (number < base) {
        return refuse(text, "address number 0 does not exist with address_base 1 (the first is 1)");
    }
    const uint32_t wire = number - base;
    const uint32_t span = out.span();
    if (wire + span > kAddressSpace) {
        const uint32_t last = kAddressSpace - 1 + base;
        std::string problem = "address number " + std::to_string(number);
        if (span > 1) problem += " with its " + std::to_string(span) + " registers";
        problem += " goes past the last address, " + std::to_string(last) + " with address_base " +
                   std::to_string(base);
        return refuse(text, problem);
    }
    out.address = static_cast<uint16_t>(wire);
    return out;
}

std::string format_address(const ModbusAddress& address, int base) {
    std::string out = std::to_string(address.unit);
    out += '!';
    out += static_cast<char>('0' + static_cast<int>(address.area));
    const uint32_t number = static_cast<uint32_t>(address.address) + (base == 0 ? 0 : 1);
    std::string digits = std::to_string(number);
    if (digits.size() < kMaxNumberDigits) out.append(kMaxNumberDigits - digits.size(), '0');
    out += digits;
    if (address.bit) {
        out += '.';
        out += std::to_string(*address.bit);
    } else if (has_length(address.type)) {
        out += '.';
        out += std::to_string(address.length);
        if (address.string_low_byte_first) out += 'L';
    }
    switch (order_width(address.type)) {
        case Width::Bits16:
            out += address.order.swap_bytes ? "#L" : "#B";
            break;
        case Width::Wide:
            out += '#';
            out += byte_order_name(address.order);
            break;
        case Width::None:
            break;
    }
    return out;
}

std::string check_tag_address(const DeviceConfig& device, const TagConfig& tag) {
    AddressOptions options;
    options.base = device.address_base;
    options.default_order = parse_byte_order(device.byte_order).value_or(ByteOrder{});
    auto address = parse_address(tag.address(), tag.type, options);
    if (!address) return address.error();
    if (drivers::writable(tag.access) && !address->writable()) {
        return "\"" + std::string(tag.address()) +
               "\" is in a read-only area (discrete inputs and input registers); use access = \"read\"";
    }
    return {};
}

}  // namespace ib::drivers::modbus
