// Modbus Application Protocol v1.1b3 and Modbus over serial line v1.02: request
// builders, TCP (MBAP) and RTU framing, and reply decoding. Pure functions over
// bytes, no I/O, no allocation. Untrusted replies return errors as values; our
// own requests are only asserted.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string_view>

namespace ib::drivers::modbus {

enum class FunctionCode : uint8_t {
    ReadCoils = 0x01,
    ReadDiscreteInputs = 0x02,
    ReadHoldingRegisters = 0x03,
    ReadInputRegisters = 0x04,
    WriteSingleCoil = 0x05,
    WriteSingleRegister = 0x06,
    WriteMultipleCoils = 0x0F,
    WriteMultipleRegisters = 0x10,
};

// Quantity limits per request (§6.1-6.4, §6.11, §6.12).
inline constexpr uint16_t kMaxReadBits = 2000;
inline constexpr uint16_t kMaxReadRegisters = 125;
inline constexpr uint16_t kMaxWriteCoils = 1968;
inline constexpr uint16_t kMaxWriteRegisters = 123;

inline constexpr size_t kMaxPduSize = 253;
inline constexpr size_t kMbapHeaderSize = 7;
inline constexpr size_t kMaxTcpAduSize = kMbapHeaderSize + kMaxPduSize;  // 260
inline constexpr size_t kMaxRtuAduSize = 1 + kMaxPduSize + 2;            // 256

// "illegal function", "illegal data address", "illegal data value", "server device
// failure", "acknowledge", "server device busy", "memory parity error", "gateway
// path unavailable", "gateway target device failed to respond"; "unknown exception"
// for any other code.
std::string_view exception_name(uint8_t code);

// A request PDU (function code first), built in place.
struct Pdu {
    std::array<uint8_t, kMaxPduSize> bytes{};
    uint8_t size = 0;

    std::span<const uint8_t> view() const { return {bytes.data(), size}; }
    FunctionCode function() const { return static_cast<FunctionCode>(bytes[0]); }
};

// Reads: functions 1-4. `count` must be 1..kMaxReadBits for 1/2 and
// 1..kMaxReadRegisters for 3/4 (asserted: our own input).
Pdu read_request(FunctionCode function, uint16_t address, uint16_t count);
Pdu write_single_coil(uint16_t address, bool on);                           // 0xFF00 / 0x0000
Pdu write_single_register(uint16_t address, uint16_t value);
Pdu write_multiple_coils(uint16_t address, std::span<const bool> states);     // 1..kMaxWriteCoils
Pdu write_multiple_registers(uint16_t address, std::span<const uint16_t> values);  // 1..kMaxWriteRegisters

// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first.
uint16_t crc16(std::span<const uint8_t> bytes);

// Whole ADUs, written into `out`; returns the frame's length.
size_t frame_tcp(std::span<uint8_t, kMaxTcpAduSize> out, uint16_t transaction_id, uint8_t unit,
                 const Pdu& pdu);
size_t frame_rtu(std::span<uint8_t, kMaxRtuAduSize> out, uint8_t unit, const Pdu& pdu);

// One reply frame found at the start of a receive buffer.
struct Frame {
    uint16_t transaction_id = 0;    // TCP only
    uint8_t unit = 0;
    std::span<const uint8_t> pdu;   // view into the buffer: function code first
    size_t size = 0;                // bytes of the buffer the frame used
};

enum class FrameStatus : uint8_t {
    Complete,   // `frame` is set
    NeedMore,   // not an error: read more bytes and call again
    Malformed,  // framing is lost; the caller drops the connection; `error` says why
};

struct FrameResult {
    FrameStatus status = FrameStatus::NeedMore;
    Frame frame;
    const char* error = "";
};

// MBAP: protocol id must be 0; length must be 2..254 (unit + PDU of 1..253).
FrameResult decode_tcp_frame(std::span<const uint8_t> buffer);
// A reply from a server on a serial line (or RTU over TCP): its length follows
// from the function code: 5 for an exception (code | 0x80), 5 + byte count for
// functions 1-4, 8 for functions 5, 6, 15 and 16. Another function code or a
// CRC mismatch is Malformed.
FrameResult decode_rtu_frame(std::span<const uint8_t> buffer);

enum class ReplyErrc : uint8_t {
    Exception,         // the server answered with an exception; `exception` holds its code
    FunctionMismatch,  // a reply to another function
    Malformed,         // wrong length or byte count, or a write echo that differs
};

struct ReplyError {
    ReplyErrc kind = ReplyErrc::Malformed;
    uint8_t exception = 0;
    const char* message = "";
};

// Checks the reply PDU against the request PDU it answers. For reads, returns the
// data: 2 bytes per register, big-endian, or bits packed LSB first (§6.1); for
// writes, an empty span.
std::expected<std::span<const uint8_t>, ReplyError> parse_reply(std::span<const uint8_t> request_pdu,
                                                                std::span<const uint8_t> reply_pdu);

// Register `index` of read data (big-endian on the wire).
inline uint16_t register_at(std::span<const uint8_t> data, size_t index) {
    return static_cast<uint16_t>((data[2 * index] << 8) | data[2 * index + 1]);
}
// Bit `index` of read data from functions 1 or 2.
inline bool bit_at(std::span<const uint8_t> data, size_t index) {
    return ((data[index / 8] >> (index % 8)) & 1) != 0;
}

}  // namespace ib::drivers::modbus
