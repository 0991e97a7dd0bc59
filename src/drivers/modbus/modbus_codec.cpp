// Modbus request builders, framing and reply checks. References: MODBUS Application
// Protocol v1.1b3 (PDUs, §4-§7), MODBUS Messaging on TCP/IP Implementation Guide
// v1.0b (MBAP, §3.1.3), MODBUS over Serial Line v1.02 (RTU, §2.5.1 and §6.2.2).
// Replies are untrusted: every check returns a value. Requests are ours: asserted.
#include "drivers/modbus/modbus_codec.hpp"

#include <algorithm>

#include "core/assert.hpp"

namespace ib::drivers::modbus {

namespace {

constexpr uint8_t kExceptionBit = 0x80;

uint16_t be16(std::span<const uint8_t> b, size_t at) {
    return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

void put_be16(uint8_t* out, uint16_t v) {
    out[0] = static_cast<uint8_t>(v >> 8);
    out[1] = static_cast<uint8_t>(v);
}

// The eight function codes this codec builds; a reply carrying any other code
// (with or without the exception bit) cannot answer one of our requests.
bool supported(uint8_t fc) {
    switch (fc) {
        case 0x01: case 0x02: case 0x03: case 0x04:
        case 0x05: case 0x06: case 0x0F: case 0x10: return true;
        default: return false;
    }
}

bool is_read(uint8_t fc) { return fc >= 0x01 && fc <= 0x04; }
bool is_bit_read(uint8_t fc) { return fc == 0x01 || fc == 0x02; }

// §6.1/§6.2: N = quantity / 8, plus 1 if the remainder is not 0;
// §6.3/§6.4: N = 2 x quantity.
uint16_t read_byte_count(uint8_t fc, uint16_t quantity) {
    return is_bit_read(fc) ? static_cast<uint16_t>((quantity + 7) / 8)
                           : static_cast<uint16_t>(quantity * 2);
}

// The largest read reply's byte count: 2000 bits (§6.1, §6.2) and 125 registers
// (§6.3, §6.4) are both 250 bytes, which keeps the RTU ADU within 256 bytes.
constexpr uint8_t kMaxReadByteCount = 250;

Pdu header_pdu(uint8_t fc, uint16_t address, uint16_t value) {
    Pdu pdu;
    pdu.bytes[0] = fc;
    put_be16(&pdu.bytes[1], address);
    put_be16(&pdu.bytes[3], value);
    pdu.size = 5;
    return pdu;
}

// CRC-16/MODBUS, reflected polynomial 0xA001, one table lookup per byte instead of
// eight shifts (MODBUS over Serial Line v1.02 §6.2.2 describes the bitwise form).
constexpr std::array<uint16_t, 256> make_crc_table() {
    std::array<uint16_t, 256> table{};
    for (unsigned i = 0; i < 256; ++i) {
        uint16_t crc = static_cast<uint16_t>(i);
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 1) ? static_cast<uint16_t>((crc >> 1) ^ 0xA001) : static_cast<uint16_t>(crc >> 1);
        }
        table[i] = crc;
    }
    return table;
}
constexpr std::array<uint16_t, 256> kCrcTable = make_crc_table();

FrameResult malformed(const char* why) {
    FrameResult r;
    r.status = FrameStatus::Malformed;
    r.error = why;
    return r;
}

std::unexpected<ReplyError> reply_error(ReplyErrc kind, const char* message, uint8_t exception = 0) {
    return std::unexpected(ReplyError{kind, exception, message});
}

}  // namespace

// MODBUS Application Protocol v1.1b3 §7: the exception codes.
std::string_view exception_name(uint8_t code) {
    switch (code) {
        case 0x01: return "illegal function";
        case 0x02: return "illegal data address";
        case 0x03: return "illegal data value";
        case 0x04: return "server device failure";
        case 0x05: return "acknowledge";
        case 0x06: return "server device busy";
        case 0x08: return "memory parity error";
        case 0x0A: return "gateway path unavailable";
        case 0x0B: return "gateway target device failed to respond";
        default: return "unknown exception";
    }
}

// §6.1-§6.4: function code, starting address, quantity; 1..2000 bits (0x7D0) or
// 1..125 registers (0x7D).
Pdu read_request(FunctionCode function, uint16_t address, uint16_t count) {
    const auto fc = static_cast<uint8_t>(function);
    IB_ASSERT(is_read(fc), "read_request builds functions 1-4 only; writes have their own builders");
    const uint16_t max = is_bit_read(fc) ? kMaxReadBits : kMaxReadRegisters;
    IB_ASSERT(count >= 1 && count <= max,
              "the read planner caps a request at the spec quantity (2000 bits, 125 registers)");
    return header_pdu(fc, address, count);
}

// §6.5: "A value of FF 00 hex requests the output to be ON. A value of 00 00
// requests it to be OFF. All other values are illegal".
Pdu write_single_coil(uint16_t address, bool on) {
    return header_pdu(0x05, address, on ? 0xFF00 : 0x0000);
}

// §6.6: function code, register address, register value.
Pdu write_single_register(uint16_t address, uint16_t value) {
    return header_pdu(0x06, address, value);
}

// §6.11: quantity 1..1968 (0x7B0), byte count N = ceil(quantity / 8), then the
// states packed LSB first: the first coil in bit 0 of the first byte, unused bits
// of the last byte zero.
Pdu write_multiple_coils(uint16_t address, std::span<const bool> states) {
    IB_ASSERT(!states.empty() && states.size() <= kMaxWriteCoils,
              "the driver splits coil writes at 1968, the §6.11 maximum");
    const auto quantity = static_cast<uint16_t>(states.size());
    Pdu pdu = header_pdu(0x0F, address, quantity);
    const auto byte_count = static_cast<uint8_t>((quantity + 7) / 8);
    pdu.bytes[5] = byte_count;
    // header_pdu left the data bytes zero (value-initialised array), so only set bits.
    for (size_t i = 0; i < states.size(); ++i) {
        if (states[i]) pdu.bytes[6 + i / 8] |= static_cast<uint8_t>(1u << (i % 8));
    }
    pdu.size = static_cast<uint8_t>(6 + byte_count);
    return pdu;
}

// §6.12: quantity 1..123 (0x7B), byte count 2 x N, then the values big-endian.
Pdu write_multiple_registers(uint16_t address, std::span<const uint16_t> values) {
    IB_ASSERT(!values.empty() && values.size() <= kMaxWriteRegisters,
              "the driver splits register writes at 123, the §6.12 maximum");
    const auto quantity = static_cast<uint16_t>(values.size());
    Pdu pdu = header_pdu(0x10, address, quantity);
    const auto byte_count = static_cast<uint8_t>(quantity * 2);
    pdu.bytes[5] = byte_count;
    for (size_t i = 0; i < values.size(); ++i) put_be16(&pdu.bytes[6 + 2 * i], values[i]);
    pdu.size = static_cast<uint8_t>(6 + byte_count);
    return pdu;
}

uint16_t crc16(std::span<const uint8_t> bytes) {
    uint16_t crc = 0xFFFF;  // §6.2.2: "preloaded with all 1's"
    for (uint8_t b : bytes) crc = static_cast<uint16_t>((crc >> 8) ^ kCrcTable[(crc ^ b) & 0xFF]);
    return crc;
}

// TCP/IP Implementation Guide v1.0b §3.1.3: transaction id, protocol id 0, length
// (the bytes that follow: unit id + PDU), unit id, then the PDU.
size_t frame_tcp(std::span<uint8_t, kMaxTcpAduSize> out, uint16_t transaction_id, uint8_t unit,
                 const Pdu& pdu) {
    IB_ASSERT(pdu.size >= 1 && pdu.size <= kMaxPduSize, "a Pdu comes from one of the builders");
    put_be16(&out[0], transaction_id);
    put_be16(&out[2], 0);
    put_be16(&out[4], static_cast<uint16_t>(pdu.size + 1));
    out[6] = unit;
    std::copy_n(pdu.bytes.begin(), pdu.size, out.begin() + kMbapHeaderSize);
    return kMbapHeaderSize + pdu.size;
}

// Serial Line v1.02 §2.5.1.1: address, PDU, CRC; §2.5.1.2: "The CRC field is
// appended to the message as the last field ... low-order byte first".
size_t frame_rtu(std::span<uint8_t, kMaxRtuAduSize> out, uint8_t unit, const Pdu& pdu) {
    IB_ASSERT(pdu.size >= 1 && pdu.size <= kMaxPduSize, "a Pdu comes from one of the builders");
    out[0] = unit;
    std::copy_n(pdu.bytes.begin(), pdu.size, out.begin() + 1);
    const size_t body = 1 + pdu.size;
    const uint16_t crc = crc16(std::span<const uint8_t>(out.data(), body));
    out[body] = static_cast<uint8_t>(crc);
    out[body + 1] = static_cast<uint8_t>(crc >> 8);
    return body + 2;
}

FrameResult decode_tcp_frame(std::span<const uint8_t> buffer) {
    // Each header field is checked as soon as it has arrived, so a stream that lost
    // its framing is refused now rather than after waiting for a bogus length.
    // TCP/IP Implementation Guide v1.0b §3.1.3: "Protocol Identifier ... 0 = MODBUS protocol".
    if (buffer.size() >= 4 && be16(buffer, 2) != 0) return malformed("MBAP protocol id is not 0");
    if (buffer.size() < 6) return {};
    // The length counts the unit id and the PDU, and a PDU is 1..253 bytes
    // (Application Protocol v1.1b3 §4.1).
    const uint16_t length = be16(buffer, 4);
    if (length < 2) return malformed("MBAP length leaves no room for a function code");
    if (length > 1 + kMaxPduSize) return malformed("MBAP length exceeds 254 (a PDU of 253 bytes)");
    const size_t total = 6 + size_t{length};
    if (buffer.size() < total) return {};

    FrameResult r;
    r.status = FrameStatus::Complete;
    r.frame.transaction_id = be16(buffer, 0);
    r.frame.unit = buffer[6];
    r.frame.pdu = buffer.subspan(kMbapHeaderSize, length - 1);
    r.frame.size = total;
    return r;
}

FrameResult decode_rtu_frame(std::span<const uint8_t> buffer) {
    // RTU has no length field (Serial Line v1.02 §2.5.1.1 delimits frames by silent
    // intervals, which a byte stream does not carry), so the length follows from
    // the function code of the reply, per Application Protocol v1.1b3 §6 and §7.
    if (buffer.size() < 2) return {};
    const uint8_t fc = buffer[1];
    size_t total = 0;
    if (fc & kExceptionBit) {
        // §7: address, function code + 0x80, one exception code byte, CRC: 5 bytes.
        if (!supported(static_cast<uint8_t>(fc & ~kExceptionBit))) {
            return malformed("RTU exception reply to a function code we never send");
        }
        total = 5;
    } else if (is_read(fc)) {
        // §6.1-§6.4: function code, byte count, data.
        if (buffer.size() < 3) return {};
        const uint8_t byte_count = buffer[2];
        if (byte_count > kMaxReadByteCount) return malformed("RTU read reply byte count exceeds 250");
        total = 1 + 2 + size_t{byte_count} + 2;
    } else if (supported(fc)) {
        // §6.5, §6.6, §6.11, §6.12: function code and two 16-bit fields.
        total = 8;
    } else {
        return malformed("RTU reply with an unknown function code");
    }
    if (buffer.size() < total) return {};

    const uint16_t crc = crc16(buffer.first(total - 2));
    const uint16_t sent = static_cast<uint16_t>(buffer[total - 2] | (buffer[total - 1] << 8));
    if (crc != sent) return malformed("RTU CRC mismatch");

    FrameResult r;
    r.status = FrameStatus::Complete;
    r.frame.unit = buffer[0];
    r.frame.pdu = buffer.subspan(1, total - 3);
    r.frame.size = total;
    return r;
}

std::expected<std::span<const uint8_t>, ReplyError> parse_reply(std::span<const uint8_t> request_pdu,
                                                                std::span<const uint8_t> reply_pdu) {
    IB_ASSERT(request_pdu.size() >= 5 && supported(request_pdu[0]),
              "the request is a Pdu built by this codec's builders");
    const uint8_t fc = request_pdu[0];
    if (reply_pdu.empty()) return reply_error(ReplyErrc::Malformed, "empty reply PDU");

    // §7: "the server returns ... the function code ... with its most significant bit
    // set to 1" followed by one exception code byte.
    if (reply_pdu[0] == (fc | kExceptionBit)) {
        if (reply_pdu.size() != 2) {
            return reply_error(ReplyErrc::Malformed,
                               "exception reply is not function code and one code byte");
        }
        return reply_error(ReplyErrc::Exception, "exception reply", reply_pdu[1]);
    }
    if (reply_pdu[0] != fc) return reply_error(ReplyErrc::FunctionMismatch, "reply to another function code");

    if (is_read(fc)) {
        // §6.1-§6.4: function code, byte count N, N bytes, where N follows from the
        // quantity we asked for.
        const uint16_t quantity = be16(request_pdu, 3);
        if (reply_pdu.size() < 2) return reply_error(ReplyErrc::Malformed, "read reply without a byte count");
        if (reply_pdu[1] != read_byte_count(fc, quantity)) {
            return reply_error(ReplyErrc::Malformed, "read reply byte count does not match the quantity");
        }
        if (reply_pdu.size() != size_t{2} + reply_pdu[1]) {
            return reply_error(ReplyErrc::Malformed, "read reply length does not match its byte count");
        }
        return reply_pdu.subspan(2);
    }
    if (fc == 0x05 || fc == 0x06) {
        // §6.5, §6.6: "The normal response is an echo of the request".
        if (!std::ranges::equal(reply_pdu, request_pdu.first(5))) {
            return reply_error(ReplyErrc::Malformed, "write reply is not an echo of the request");
        }
        return std::span<const uint8_t>{};
    }
    // §6.11, §6.12: "The normal response returns the function code, starting
    // address, and quantity".
    if (reply_pdu.size() != 5 || !std::ranges::equal(reply_pdu, request_pdu.first(5))) {
        return reply_error(ReplyErrc::Malformed, "write reply does not echo the address and quantity");
    }
    return std::span<const uint8_t>{};
}

}  // namespace ib::drivers::modbus
