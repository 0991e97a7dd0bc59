// The Modbus codec against the examples of MODBUS Application Protocol v1.1b3 §6
// and §7, written out by hand, and every way a reply can be short or wrong. The fuzz
// seed corpus (tests/data/modbus/corpus) is generated here from the same replies:
//   drivers_test --gtest_also_run_disabled_tests --gtest_filter='ModbusCorpusGen.*'
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "drivers/modbus/modbus_codec.hpp"

namespace ib::drivers::modbus {
namespace {

using Buf = std::vector<uint8_t>;

Buf bytes(std::initializer_list<int> v) {
    Buf out;
    for (int b : v) out.push_back(static_cast<uint8_t>(b));
    return out;
}

Buf pdu_bytes(const Pdu& pdu) {
    const auto v = pdu.view();
    return Buf(v.begin(), v.end());
}

Buf to_buf(std::span<const uint8_t> s) { return Buf(s.begin(), s.end()); }

Buf concat(const Buf& a, const Buf& b) {
    Buf out = a;
    out.insert(out.end(), b.begin(), b.end());
    return out;
}

// A TCP reply ADU written out field by field (not with frame_tcp, which is under test).
Buf tcp(uint16_t transaction_id, uint8_t unit, const Buf& pdu) {
    const size_t length = pdu.size() + 1;
    Buf out = bytes({transaction_id >> 8, transaction_id & 0xFF, 0x00, 0x00,
                     static_cast<int>(length >> 8), static_cast<int>(length & 0xFF), unit});
    return concat(out, pdu);
}

// An RTU reply ADU: unit, PDU, CRC low byte first. crc16 is checked against known
// values in ModbusCrc before anything relies on this helper.
Buf rtu(uint8_t unit, const Buf& pdu) {
    Buf out = concat(bytes({unit}), pdu);
    const uint16_t crc = crc16(out);
    out.push_back(static_cast<uint8_t>(crc & 0xFF));
    out.push_back(static_cast<uint8_t>(crc >> 8));
    return out;
}

// The request/reply pairs of the §6 examples, one per function, and the §7 example.
struct Exchange {
    const char* name;
    Pdu request;
    Buf reply;
};

std::vector<Exchange> spec_exchanges() {
    const std::array<bool, 10> coils = {true, false, true, true, false, false, true, true, true, false};
    const std::array<uint16_t, 2> registers = {0x000A, 0x0102};
    return {
        {"read_coils", read_request(FunctionCode::ReadCoils, 0x0013, 0x0013),
         bytes({0x01, 0x03, 0xCD, 0x6B, 0x05})},
        {"read_discrete_inputs", read_request(FunctionCode::ReadDiscreteInputs, 0x00C4, 0x0016),
         bytes({0x02, 0x03, 0xAC, 0xDB, 0x35})},
        {"read_holding_registers", read_request(FunctionCode::ReadHoldingRegisters, 0x006B, 0x0003),
         bytes({0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64})},
        {"read_input_registers", read_request(FunctionCode::ReadInputRegisters, 0x0008, 0x0001),
         bytes({0x04, 0x02, 0x00, 0x0A})},
        {"write_single_coil", write_single_coil(0x00AC, true), bytes({0x05, 0x00, 0xAC, 0xFF, 0x00})},
        {"write_single_register", write_single_register(0x0001, 0x0003),
         bytes({0x06, 0x00, 0x01, 0x00, 0x03})},
        {"write_multiple_coils", write_multiple_coils(0x0013, coils), bytes({0x0F, 0x00, 0x13, 0x00, 0x0A})},
        {"write_multiple_registers", write_multiple_registers(0x0001, registers),
         bytes({0x10, 0x00, 0x01, 0x00, 0x02})},
        {"exception", read_request(FunctionCode::ReadInputRegisters, 0xA100, 0x0001), bytes({0x84, 0x02})},
    };
}

// ------------------------------------------------------------------ exception names

// §7 MODBUS Exception Responses: the codes the spec defines, and nothing else.
TEST(ModbusExceptionName, NamesEveryCodeOfTheSpec) {
    EXPECT_EQ(exception_name(0x01), "illegal function");
    EXPECT_EQ(exception_name(0x02), "illegal data address");
    EXPECT_EQ(exception_name(0x03), "illegal data value");
    EXPECT_EQ(exception_name(0x04), "server device failure");
    EXPECT_EQ(exception_name(0x05), "acknowledge");
    EXPECT_EQ(exception_name(0x06), "server device busy");
    EXPECT_EQ(exception_name(0x08), "memory parity error");
    EXPECT_EQ(exception_name(0x0A), "gateway path unavailable");
    EXPECT_EQ(exception_name(0x0B), "gateway target device failed to respond");
}

TEST(ModbusExceptionName, CallsEveryOtherCodeUnknown) {
    for (int code : {0x00, 0x07, 0x09, 0x0C, 0x80, 0xFF}) {
        EXPECT_EQ(exception_name(static_cast<uint8_t>(code)), "unknown exception") << code;
    }
}

// ------------------------------------------------------------------ builders

// §6.1 example: read coils 20-38 (address 0x13, quantity 0x13).
TEST(ModbusReadRequest, ReadCoilsMatchesSpecExample) {
    EXPECT_EQ(pdu_bytes(read_request(FunctionCode::ReadCoils, 0x0013, 0x0013)),
              bytes({0x01, 0x00, 0x13, 0x00, 0x13}));
}

// §6.2 example: read discrete inputs 197-218.
TEST(ModbusReadRequest, ReadDiscreteInputsMatchesSpecExample) {
    EXPECT_EQ(pdu_bytes(read_request(FunctionCode::ReadDiscreteInputs, 0x00C4, 0x0016)),
              bytes({0x02, 0x00, 0xC4, 0x00, 0x16}));
}

// §6.3 example: read holding registers 108-110.
TEST(ModbusReadRequest, ReadHoldingRegistersMatchesSpecExample) {
    const Pdu pdu = read_request(FunctionCode::ReadHoldingRegisters, 0x006B, 0x0003);
    EXPECT_EQ(pdu_bytes(pdu), bytes({0x03, 0x00, 0x6B, 0x00, 0x03}));
    EXPECT_EQ(pdu.function(), FunctionCode::ReadHoldingRegisters);
}

// §6.4 example: read input register 9.
TEST(ModbusReadRequest, ReadInputRegistersMatchesSpecExample) {
    EXPECT_EQ(pdu_bytes(read_request(FunctionCode::ReadInputRegisters, 0x0008, 0x0001)),
              bytes({0x04, 0x00, 0x08, 0x00, 0x01}));
}

TEST(ModbusReadRequest, AcceptsTheQuantityLimits) {
    EXPECT_EQ(pdu_bytes(read_request(FunctionCode::ReadCoils, 0xFFFF, kMaxReadBits)),
              bytes({0x01, 0xFF, 0xFF, 0x07, 0xD0}));
    EXPECT_EQ(pdu_bytes(read_request(FunctionCode::ReadDiscreteInputs, 0, 1)),
              bytes({0x02, 0x00, 0x00, 0x00, 0x01}));
    EXPECT_EQ(pdu_bytes(read_request(FunctionCode::ReadHoldingRegisters, 0, kMaxReadRegisters)),
              bytes({0x03, 0x00, 0x00, 0x00, 0x7D}));
    EXPECT_EQ(pdu_bytes(read_request(FunctionCode::ReadInputRegisters, 0, kMaxReadRegisters)),
              bytes({0x04, 0x00, 0x00, 0x00, 0x7D}));
}

TEST(ModbusReadRequestDeathTest, AssertsOnQuantitiesOutsideTheSpec) {
    EXPECT_DEATH(read_request(FunctionCode::ReadCoils, 0, 0), "spec quantity");
    EXPECT_DEATH(read_request(FunctionCode::ReadDiscreteInputs, 0, kMaxReadBits + 1), "spec quantity");
    EXPECT_DEATH(read_request(FunctionCode::ReadHoldingRegisters, 0, 0), "spec quantity");
    EXPECT_DEATH(read_request(FunctionCode::ReadInputRegisters, 0, kMaxReadRegisters + 1), "spec quantity");
}

TEST(ModbusReadRequestDeathTest, AssertsOnAWriteFunctionCode) {
    EXPECT_DEATH(read_request(FunctionCode::WriteSingleCoil, 0, 1), "functions 1-4");
}

// §6.5 example: coil 173 ON is FF 00; OFF is 00 00.
TEST(ModbusWriteSingleCoil, MatchesSpecExampleAndWritesOffAsZero) {
    EXPECT_EQ(pdu_bytes(write_single_coil(0x00AC, true)), bytes({0x05, 0x00, 0xAC, 0xFF, 0x00}));
    EXPECT_EQ(pdu_bytes(write_single_coil(0x00AC, false)), bytes({0x05, 0x00, 0xAC, 0x00, 0x00}));
}

// §6.6 example: register 2 set to 00 03.
TEST(ModbusWriteSingleRegister, MatchesSpecExample) {
    EXPECT_EQ(pdu_bytes(write_single_register(0x0001, 0x0003)), bytes({0x06, 0x00, 0x01, 0x00, 0x03}));
    EXPECT_EQ(pdu_bytes(write_single_register(0xABCD, 0xFEDC)), bytes({0x06, 0xAB, 0xCD, 0xFE, 0xDC}));
}

// §6.11 example: coils 20-29 set to 1,0,1,1,0,0,1,1 | 1,0 -> CD 01 (first coil in bit 0).
TEST(ModbusWriteMultipleCoils, MatchesSpecExamplePackingLsbFirst) {
    const std::array<bool, 10> states = {true, false, true, true, false, false, true, true, true, false};
    EXPECT_EQ(pdu_bytes(write_multiple_coils(0x0013, states)),
              bytes({0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01}));
}

TEST(ModbusWriteMultipleCoils, PadsTheLastByteWithZeroBits) {
    const std::array<bool, 1> one = {true};
    EXPECT_EQ(pdu_bytes(write_multiple_coils(0x0000, one)),
              bytes({0x0F, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01}));
    const std::array<bool, 9> nine = {true, true, true, true, true, true, true, true, true};
    EXPECT_EQ(pdu_bytes(write_multiple_coils(0x0102, nine)),
              bytes({0x0F, 0x01, 0x02, 0x00, 0x09, 0x02, 0xFF, 0x01}));
}

TEST(ModbusWriteMultipleCoils, FitsTheMaximumQuantityInOnePdu) {
    std::array<bool, kMaxWriteCoils> states{};
    states.back() = true;
    const Pdu pdu = write_multiple_coils(0, states);
    ASSERT_EQ(pdu.size, 6 + 246);
    EXPECT_EQ(pdu.bytes[3], 0x07);
    EXPECT_EQ(pdu.bytes[4], 0xB0);
    EXPECT_EQ(pdu.bytes[5], 246);
    // 1968 = 246 * 8: the last coil is bit 7 of the last byte.
    EXPECT_EQ(pdu.bytes[pdu.size - 1], 0x80);
}

TEST(ModbusWriteMultipleCoilsDeathTest, AssertsOnNoCoilsOrTooMany) {
    std::array<bool, kMaxWriteCoils + 1> too_many{};
    EXPECT_DEATH(write_multiple_coils(0, std::span<const bool>{}), "1968");
    EXPECT_DEATH(write_multiple_coils(0, too_many), "1968");
}

// §6.12 example: registers 2 and 3 set to 00 0A and 01 02.
TEST(ModbusWriteMultipleRegisters, MatchesSpecExample) {
    const std::array<uint16_t, 2> values = {0x000A, 0x0102};
    EXPECT_EQ(pdu_bytes(write_multiple_registers(0x0001, values)),
              bytes({0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02}));
}

TEST(ModbusWriteMultipleRegisters, FitsTheMaximumQuantityInOnePdu) {
    std::array<uint16_t, kMaxWriteRegisters> values{};
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint16_t>(0x0100 + i);
    const Pdu pdu = write_multiple_registers(0x1234, values);
    ASSERT_EQ(pdu.size, 6 + 246);
    EXPECT_EQ(pdu.bytes[4], 0x7B);
    EXPECT_EQ(pdu.bytes[5], 246);
    EXPECT_EQ(register_at(std::span<const uint8_t>(pdu.bytes).subspan(6), 122), 0x0100 + 122);
}

TEST(ModbusWriteMultipleRegistersDeathTest, AssertsOnNoRegistersOrTooMany) {
    std::array<uint16_t, kMaxWriteRegisters + 1> too_many{};
    EXPECT_DEATH(write_multiple_registers(0, std::span<const uint16_t>{}), "123");
    EXPECT_DEATH(write_multiple_registers(0, too_many), "123");
}

// ------------------------------------------------------------------ CRC

TEST(ModbusCrc, MatchesKnownValues) {
    EXPECT_EQ(crc16(bytes({0x01, 0x03, 0x00, 0x00, 0x00, 0x0A})), 0xCDC5);
    // The catalogue check value of CRC-16/MODBUS.
    const std::string check = "123456789";
    EXPECT_EQ(crc16(std::span(reinterpret_cast<const uint8_t*>(check.data()), check.size())), 0x4B37);
    EXPECT_EQ(crc16({}), 0xFFFF);  // the preset, untouched
}

TEST(ModbusCrc, IsZeroOverAFrameWithItsCrcAppendedLowByteFirst) {
    EXPECT_EQ(crc16(bytes({0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD})), 0x0000);
}

// ------------------------------------------------------------------ framing requests

TEST(ModbusTcpFrame, WritesTheMbapHeaderThenThePdu) {
    std::array<uint8_t, kMaxTcpAduSize> out{};
    const Pdu pdu = read_request(FunctionCode::ReadHoldingRegisters, 0x006B, 3);
    const size_t n = frame_tcp(out, 0x1501, 0xFF, pdu);
    EXPECT_EQ(to_buf(std::span(out).first(n)),
              bytes({0x15, 0x01, 0x00, 0x00, 0x00, 0x06, 0xFF, 0x03, 0x00, 0x6B, 0x00, 0x03}));
}

TEST(ModbusTcpFrame, FitsTheLargestRequestPdu) {
    std::array<uint16_t, kMaxWriteRegisters> values{};
    std::array<uint8_t, kMaxTcpAduSize> out{};
    const size_t n = frame_tcp(out, 7, 1, write_multiple_registers(0, values));
    EXPECT_EQ(n, kMbapHeaderSize + 252);
    EXPECT_EQ(out[4], 0x00);
    EXPECT_EQ(out[5], 253);  // unit + 252-byte PDU
}

TEST(ModbusRtuFrame, AppendsTheCrcLowByteFirst) {
    std::array<uint8_t, kMaxRtuAduSize> out{};
    size_t n = frame_rtu(out, 0x01, read_request(FunctionCode::ReadHoldingRegisters, 0x0000, 0x000A));
    EXPECT_EQ(to_buf(std::span(out).first(n)), bytes({0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD}));
    n = frame_rtu(out, 0x11, read_request(FunctionCode::ReadHoldingRegisters, 0x006B, 0x0003));
    EXPECT_EQ(to_buf(std::span(out).first(n)), bytes({0x11, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0x87}));
}

TEST(ModbusRtuFrame, FitsTheLargestRequestPdu) {
    std::array<bool, kMaxWriteCoils> states{};
    std::array<uint8_t, kMaxRtuAduSize> out{};
    const size_t n = frame_rtu(out, 0xF7, write_multiple_coils(0, states));
    EXPECT_EQ(n, 1 + 252 + 2);
    EXPECT_EQ(crc16(std::span(out).first(n)), 0);
}

// ------------------------------------------------------------------ decode_tcp_frame

TEST(ModbusTcpFrame, DecodesAReplyAsAViewIntoTheBuffer) {
    const Buf wire = tcp(0x0001, 0x11, bytes({0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64}));
    const FrameResult r = decode_tcp_frame(wire);
    ASSERT_EQ(r.status, FrameStatus::Complete) << r.error;
    EXPECT_EQ(r.frame.transaction_id, 0x0001);
    EXPECT_EQ(r.frame.unit, 0x11);
    EXPECT_EQ(r.frame.size, wire.size());
    EXPECT_EQ(r.frame.pdu.data(), wire.data() + kMbapHeaderSize);
    EXPECT_EQ(to_buf(r.frame.pdu), bytes({0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64}));
}

TEST(ModbusTcpFrame, NeedsMoreUntilTheMbapLengthArrives) {
    for (const auto& e : spec_exchanges()) {
        const Buf wire = tcp(0xBEEF, 0x01, e.reply);
        for (size_t n = 0; n < wire.size(); ++n) {
            EXPECT_EQ(decode_tcp_frame(std::span(wire).first(n)).status, FrameStatus::NeedMore)
                << e.name << " prefix " << n;
        }
        EXPECT_EQ(decode_tcp_frame(wire).status, FrameStatus::Complete) << e.name;
    }
}

TEST(ModbusTcpFrame, TakesOneFrameAndLeavesTheNext) {
    const Buf first = tcp(1, 1, bytes({0x84, 0x02}));
    const Buf second = tcp(2, 1, bytes({0x06, 0x00, 0x01, 0x00, 0x03}));
    const Buf wire = concat(concat(first, second), bytes({0x00}));
    FrameResult r = decode_tcp_frame(wire);
    ASSERT_EQ(r.status, FrameStatus::Complete);
    EXPECT_EQ(r.frame.size, first.size());
    EXPECT_EQ(r.frame.transaction_id, 1);
    r = decode_tcp_frame(std::span(wire).subspan(first.size()));
    ASSERT_EQ(r.status, FrameStatus::Complete);
    EXPECT_EQ(r.frame.transaction_id, 2);
    EXPECT_EQ(to_buf(r.frame.pdu), bytes({0x06, 0x00, 0x01, 0x00, 0x03}));
    EXPECT_EQ(decode_tcp_frame(std::span(wire).subspan(first.size() + second.size())).status,
              FrameStatus::NeedMore);
}

TEST(ModbusTcpFrame, RoundTripsEveryBuilder) {
    std::array<uint8_t, kMaxTcpAduSize> out{};
    uint16_t tid = 100;
    for (const auto& e : spec_exchanges()) {
        const size_t n = frame_tcp(out, tid, 0x2A, e.request);
        const FrameResult r = decode_tcp_frame(std::span<const uint8_t>(out).first(n));
        ASSERT_EQ(r.status, FrameStatus::Complete) << e.name;
        EXPECT_EQ(r.frame.transaction_id, tid) << e.name;
        EXPECT_EQ(r.frame.unit, 0x2A) << e.name;
        EXPECT_EQ(r.frame.size, n) << e.name;
        EXPECT_EQ(to_buf(r.frame.pdu), pdu_bytes(e.request)) << e.name;
        ++tid;
    }
}

TEST(ModbusTcpFrame, AcceptsTheLargestPdu) {
    const Buf wire = tcp(9, 1, Buf(kMaxPduSize, 0x03));
    ASSERT_EQ(wire.size(), kMaxTcpAduSize);
    EXPECT_EQ(decode_tcp_frame(std::span(wire).first(kMaxTcpAduSize - 1)).status, FrameStatus::NeedMore);
    const FrameResult r = decode_tcp_frame(wire);
    ASSERT_EQ(r.status, FrameStatus::Complete);
    EXPECT_EQ(r.frame.pdu.size(), kMaxPduSize);
}

// TCP/IP Implementation Guide v1.0b §3.1.3: protocol id 0 is MODBUS.
TEST(ModbusTcpFrame, RejectsANonZeroProtocolIdAsSoonAsItArrives) {
    Buf wire = tcp(1, 1, bytes({0x03, 0x02, 0x00, 0x01}));
    wire[3] = 0x01;
    EXPECT_EQ(decode_tcp_frame(std::span(wire).first(3)).status, FrameStatus::NeedMore);
    for (size_t n = 4; n <= wire.size(); ++n) {
        const FrameResult r = decode_tcp_frame(std::span(wire).first(n));
        EXPECT_EQ(r.status, FrameStatus::Malformed) << n;
        EXPECT_STREQ(r.error, "MBAP protocol id is not 0");
    }
    wire[3] = 0x00;
    wire[2] = 0x80;
    EXPECT_EQ(decode_tcp_frame(wire).status, FrameStatus::Malformed);
}

TEST(ModbusTcpFrame, RejectsLengthsZeroAndOneWhichHoldNoFunctionCode) {
    for (int length : {0, 1}) {
        const Buf wire = bytes({0x00, 0x01, 0x00, 0x00, 0x00, length, 0x01, 0x03});
        for (size_t n = 6; n <= wire.size(); ++n) {
            EXPECT_EQ(decode_tcp_frame(std::span(wire).first(n)).status, FrameStatus::Malformed)
                << length << " prefix " << n;
        }
    }
}

TEST(ModbusTcpFrame, RejectsLengthsAbove254) {
    for (int length : {255, 256, 0x7FFF, 0xFFFF}) {
        const Buf wire = bytes({0x00, 0x01, 0x00, 0x00, length >> 8, length & 0xFF});
        const FrameResult r = decode_tcp_frame(wire);
        EXPECT_EQ(r.status, FrameStatus::Malformed) << length;
        EXPECT_STREQ(r.error, "MBAP length exceeds 254 (a PDU of 253 bytes)");
    }
    // 254 itself is a whole 253-byte PDU: wait for it.
    EXPECT_EQ(decode_tcp_frame(bytes({0x00, 0x01, 0x00, 0x00, 0x00, 0xFE})).status, FrameStatus::NeedMore);
}

// ------------------------------------------------------------------ decode_rtu_frame

TEST(ModbusRtuFrame, DecodesAReadReplyAsAViewIntoTheBuffer) {
    const Buf pdu = bytes({0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64});
    const Buf wire = rtu(0x11, pdu);
    const FrameResult r = decode_rtu_frame(wire);
    ASSERT_EQ(r.status, FrameStatus::Complete) << r.error;
    EXPECT_EQ(r.frame.unit, 0x11);
    EXPECT_EQ(r.frame.transaction_id, 0);
    EXPECT_EQ(r.frame.size, wire.size());
    EXPECT_EQ(r.frame.pdu.data(), wire.data() + 1);
    EXPECT_EQ(to_buf(r.frame.pdu), pdu);
}

TEST(ModbusRtuFrame, DerivesTheLengthOfEveryReplyFromItsFunctionCode) {
    for (const auto& e : spec_exchanges()) {
        const Buf wire = rtu(0x01, e.reply);
        const FrameResult r = decode_rtu_frame(wire);
        ASSERT_EQ(r.status, FrameStatus::Complete) << e.name << ": " << r.error;
        EXPECT_EQ(r.frame.size, wire.size()) << e.name;
        EXPECT_EQ(to_buf(r.frame.pdu), e.reply) << e.name;
    }
}

TEST(ModbusRtuFrame, NeedsMoreAtEveryPrefixOfEveryReply) {
    for (const auto& e : spec_exchanges()) {
        const Buf wire = rtu(0x01, e.reply);
        for (size_t n = 0; n < wire.size(); ++n) {
            EXPECT_EQ(decode_rtu_frame(std::span(wire).first(n)).status, FrameStatus::NeedMore)
                << e.name << " prefix " << n;
        }
    }
}

TEST(ModbusRtuFrame, TakesOneFrameAndLeavesTheNext) {
    const Buf first = rtu(1, bytes({0x01, 0x01, 0x01}));
    const Buf second = rtu(2, bytes({0x90, 0x04}));
    const Buf wire = concat(first, second);
    FrameResult r = decode_rtu_frame(wire);
    ASSERT_EQ(r.status, FrameStatus::Complete);
    EXPECT_EQ(r.frame.size, first.size());
    r = decode_rtu_frame(std::span(wire).subspan(first.size()));
    ASSERT_EQ(r.status, FrameStatus::Complete);
    EXPECT_EQ(r.frame.unit, 2);
    EXPECT_EQ(to_buf(r.frame.pdu), bytes({0x90, 0x04}));
}

// A write's normal reply is an echo (§6.5, §6.6), so a framed single-write request
// decodes as the reply it expects.
TEST(ModbusRtuFrame, RoundTripsSingleWrites) {
    std::array<uint8_t, kMaxRtuAduSize> out{};
    for (const Pdu& pdu : {write_single_coil(0x00AC, true), write_single_register(0x0001, 0x0003)}) {
        const size_t n = frame_rtu(out, 0x05, pdu);
        const FrameResult r = decode_rtu_frame(std::span<const uint8_t>(out).first(n));
        ASSERT_EQ(r.status, FrameStatus::Complete);
        EXPECT_EQ(r.frame.unit, 0x05);
        EXPECT_EQ(r.frame.size, n);
        EXPECT_EQ(to_buf(r.frame.pdu), pdu_bytes(pdu));
    }
}

TEST(ModbusRtuFrame, AcceptsTheLargestReadReply) {
    Buf pdu = bytes({0x03, 250});
    pdu.resize(252, 0x5A);
    const Buf wire = rtu(1, pdu);
    ASSERT_EQ(wire.size(), 255u);
    const FrameResult r = decode_rtu_frame(wire);
    ASSERT_EQ(r.status, FrameStatus::Complete);
    EXPECT_EQ(r.frame.pdu.size(), 252u);
}

TEST(ModbusRtuFrame, RejectsACrcMismatch) {
    for (const auto& e : spec_exchanges()) {
        const Buf good = rtu(0x01, e.reply);
        // Corrupt every byte that does not decide the frame's length (unit, data, CRC).
        for (size_t i = 0; i < good.size(); ++i) {
            if (i == 1 || (i == 2 && (e.reply[0] >= 1 && e.reply[0] <= 4))) continue;
            Buf bad = good;
            bad[i] ^= 0x01;
            const FrameResult r = decode_rtu_frame(bad);
            EXPECT_EQ(r.status, FrameStatus::Malformed) << e.name << " byte " << i;
            EXPECT_STREQ(r.error, "RTU CRC mismatch");
        }
    }
}

TEST(ModbusRtuFrame, RejectsAnUnknownFunctionCodeAsSoonAsItArrives) {
    for (int fc : {0x00, 0x07, 0x08, 0x11, 0x17, 0x2B, 0x7F}) {
        const Buf wire = rtu(0x01, bytes({fc, 0x00, 0x00, 0x00, 0x00}));
        for (size_t n = 2; n <= wire.size(); ++n) {
            const FrameResult r = decode_rtu_frame(std::span(wire).first(n));
            EXPECT_EQ(r.status, FrameStatus::Malformed) << fc << " prefix " << n;
            EXPECT_STREQ(r.error, "RTU reply with an unknown function code");
        }
    }
}

TEST(ModbusRtuFrame, RejectsAnExceptionToAFunctionWeNeverSend) {
    for (int fc : {0x80, 0x87, 0x91, 0xAB, 0xFF}) {
        const FrameResult r = decode_rtu_frame(rtu(0x01, bytes({fc, 0x01})));
        EXPECT_EQ(r.status, FrameStatus::Malformed) << fc;
    }
}

TEST(ModbusRtuFrame, RejectsAByteCountNoReadCanProduce) {
    for (int count : {251, 252, 255}) {
        const Buf wire = bytes({0x01, 0x03, count});
        const FrameResult r = decode_rtu_frame(wire);
        EXPECT_EQ(r.status, FrameStatus::Malformed) << count;
        EXPECT_STREQ(r.error, "RTU read reply byte count exceeds 250");
    }
}

// On a half-duplex line whose adapter echoes what it sends, our own read request
// comes back first: it is not a reply (byte count 0x00, then a CRC mismatch).
TEST(ModbusRtuFrame, RefusesOurOwnReadRequestEchoedByTheLine) {
    const Buf echo = bytes({0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD});
    EXPECT_EQ(decode_rtu_frame(echo).status, FrameStatus::Malformed);
}

// ------------------------------------------------------------------ parse_reply

TEST(ModbusParseReply, ReturnsTheDataOfEverySpecExample) {
    for (const auto& e : spec_exchanges()) {
        if (std::string(e.name) == "exception") continue;
        auto r = parse_reply(e.request.view(), e.reply);
        ASSERT_TRUE(r.has_value()) << e.name << ": " << r.error().message;
        if (e.reply[0] <= 0x04) {
            EXPECT_EQ(r->data(), e.reply.data() + 2) << e.name;
            EXPECT_EQ(r->size(), e.reply.size() - 2) << e.name;
        } else {
            EXPECT_TRUE(r->empty()) << e.name;
        }
    }
}

// §6.1 example: coils 27..20 are CD (1100 1101), 35..28 are 6B, 38..36 are 05.
TEST(ModbusParseReply, ReadCoilsPacksTheFirstCoilInBitZero) {
    const Buf reply = bytes({0x01, 0x03, 0xCD, 0x6B, 0x05});
    auto data = parse_reply(read_request(FunctionCode::ReadCoils, 0x0013, 0x0013).view(), reply);
    ASSERT_TRUE(data.has_value());
    const std::array<bool, 19> expected = {1, 0, 1, 1, 0, 0, 1, 1,  1, 1, 0, 1, 0, 1, 1, 0,  1, 0, 1};
    for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(bit_at(*data, i), expected[i]) << "coil " << 20 + i;
    }
}

// §6.3 example: registers 108-110 hold 555, 0 and 100.
TEST(ModbusParseReply, ReadHoldingRegistersAreBigEndian) {
    const Buf reply = bytes({0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64});
    auto data = parse_reply(read_request(FunctionCode::ReadHoldingRegisters, 0x006B, 3).view(), reply);
    ASSERT_TRUE(data.has_value());
    EXPECT_EQ(register_at(*data, 0), 555);
    EXPECT_EQ(register_at(*data, 1), 0);
    EXPECT_EQ(register_at(*data, 2), 100);
}

// §6.4 example: input register 9 holds 10.
TEST(ModbusParseReply, ReadInputRegisterMatchesSpecExample) {
    const Buf reply = bytes({0x04, 0x02, 0x00, 0x0A});
    auto data = parse_reply(read_request(FunctionCode::ReadInputRegisters, 0x0008, 1).view(), reply);
    ASSERT_TRUE(data.has_value());
    EXPECT_EQ(register_at(*data, 0), 10);
}

TEST(ModbusParseReply, ExpectsCeilOfCountOver8BytesForBits) {
    struct Case {
        uint16_t count;
        size_t bytes;
    };
    const Case cases[] = {{1, 1}, {8, 1}, {9, 2}, {16, 2}, {17, 3}, {kMaxReadBits, 250}};
    for (const Case c : cases) {
        for (FunctionCode f : {FunctionCode::ReadCoils, FunctionCode::ReadDiscreteInputs}) {
            Buf reply = {static_cast<uint8_t>(f), static_cast<uint8_t>(c.bytes)};
            reply.resize(2 + c.bytes, 0xFF);
            auto data = parse_reply(read_request(f, 0, c.count).view(), reply);
            ASSERT_TRUE(data.has_value()) << c.count;
            EXPECT_EQ(data->size(), c.bytes);
            // One byte count too many or too few is refused.
            for (int delta : {-1, +1}) {
                Buf wrong = {static_cast<uint8_t>(f), static_cast<uint8_t>(c.bytes + delta)};
                wrong.resize(2 + c.bytes + delta, 0xFF);
                auto r = parse_reply(read_request(f, 0, c.count).view(), wrong);
                ASSERT_FALSE(r.has_value()) << c.count << " " << delta;
                EXPECT_EQ(r.error().kind, ReplyErrc::Malformed);
            }
        }
    }
}

TEST(ModbusParseReply, ExpectsTwoBytesPerRegister) {
    for (uint16_t count : {uint16_t{1}, uint16_t{2}, uint16_t{64}, kMaxReadRegisters}) {
        for (FunctionCode f : {FunctionCode::ReadHoldingRegisters, FunctionCode::ReadInputRegisters}) {
            Buf reply = {static_cast<uint8_t>(f), static_cast<uint8_t>(2 * count)};
            reply.resize(2 + 2 * count, 0x12);
            auto data = parse_reply(read_request(f, 0, count).view(), reply);
            ASSERT_TRUE(data.has_value()) << count;
            EXPECT_EQ(data->size(), 2u * count);
        }
    }
}

TEST(ModbusParseReply, RefusesAReadByteCountThatDoesNotMatchTheQuantity) {
    const Pdu request = read_request(FunctionCode::ReadHoldingRegisters, 0x006B, 3);
    // A consistent PDU for two registers, not the three we asked for.
    auto r = parse_reply(request.view(), bytes({0x03, 0x04, 0x02, 0x2B, 0x00, 0x00}));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, ReplyErrc::Malformed);
    EXPECT_STREQ(r.error().message, "read reply byte count does not match the quantity");
}

TEST(ModbusParseReply, RefusesAReadPduShorterOrLongerThanItsByteCount) {
    const Pdu request = read_request(FunctionCode::ReadHoldingRegisters, 0x006B, 3);
    const Buf good = bytes({0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64});
    for (size_t n = 1; n < good.size(); ++n) {
        auto r = parse_reply(request.view(), std::span(good).first(n));
        ASSERT_FALSE(r.has_value()) << n;
        EXPECT_EQ(r.error().kind, ReplyErrc::Malformed) << n;
    }
    auto r = parse_reply(request.view(), concat(good, bytes({0x00})));
    ASSERT_FALSE(r.has_value());
    EXPECT_STREQ(r.error().message, "read reply length does not match its byte count");
}

TEST(ModbusParseReply, AcceptsAnIdenticalSingleWriteEcho) {
    for (const Pdu& request : {write_single_coil(0x00AC, true), write_single_coil(0x00AC, false),
                               write_single_register(0x0001, 0x0003)}) {
        auto r = parse_reply(request.view(), pdu_bytes(request));
        ASSERT_TRUE(r.has_value());
        EXPECT_TRUE(r->empty());
    }
}

TEST(ModbusParseReply, RefusesASingleWriteEchoThatDiffersInAnyByte) {
    for (const Pdu& request : {write_single_coil(0x00AC, true), write_single_register(0x0001, 0x0003)}) {
        const Buf echo = pdu_bytes(request);
        for (size_t i = 1; i < echo.size(); ++i) {
            Buf bad = echo;
            bad[i] ^= 0x10;
            auto r = parse_reply(request.view(), bad);
            ASSERT_FALSE(r.has_value()) << i;
            EXPECT_EQ(r.error().kind, ReplyErrc::Malformed);
            EXPECT_STREQ(r.error().message, "write reply is not an echo of the request");
        }
        for (size_t n = 1; n < echo.size(); ++n) {
            auto r = parse_reply(request.view(), std::span(echo).first(n));
            ASSERT_FALSE(r.has_value()) << n;
            EXPECT_EQ(r.error().kind, ReplyErrc::Malformed);
        }
        auto r = parse_reply(request.view(), concat(echo, bytes({0x00})));
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().kind, ReplyErrc::Malformed);
    }
}

TEST(ModbusParseReply, AcceptsAMultipleWriteEchoOfAddressAndQuantity) {
    const std::array<bool, 10> coils = {true, false, true, true, false, false, true, true, true, false};
    const std::array<uint16_t, 2> registers = {0x000A, 0x0102};
    auto r = parse_reply(write_multiple_coils(0x0013, coils).view(), bytes({0x0F, 0x00, 0x13, 0x00, 0x0A}));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->empty());
    r = parse_reply(write_multiple_registers(0x0001, registers).view(),
                    bytes({0x10, 0x00, 0x01, 0x00, 0x02}));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->empty());
}

TEST(ModbusParseReply, RefusesAMultipleWriteEchoWithAnotherAddressQuantityOrLength) {
    const std::array<uint16_t, 2> registers = {0x000A, 0x0102};
    const std::array<bool, 10> coils{};
    const Pdu requests[] = {write_multiple_registers(0x0001, registers), write_multiple_coils(0x0013, coils)};
    for (const Pdu& request : requests) {
        const Buf echo = to_buf(request.view().first(5));
        for (size_t i = 1; i < echo.size(); ++i) {
            Buf bad = echo;
            bad[i] ^= 0x01;
            auto r = parse_reply(request.view(), bad);
            ASSERT_FALSE(r.has_value()) << i;
            EXPECT_EQ(r.error().kind, ReplyErrc::Malformed);
            EXPECT_STREQ(r.error().message, "write reply does not echo the address and quantity");
        }
        for (size_t n = 1; n < echo.size(); ++n) {
            auto r = parse_reply(request.view(), std::span(echo).first(n));
            ASSERT_FALSE(r.has_value()) << n;
            EXPECT_EQ(r.error().kind, ReplyErrc::Malformed);
        }
        // The whole request echoed back (byte count and data too) is not the §6.11/§6.12 reply.
        auto r = parse_reply(request.view(), pdu_bytes(request));
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().kind, ReplyErrc::Malformed);
    }
}

// §7 example: reading input register 0xA100 answered with 84 02 (illegal data address).
TEST(ModbusParseReply, PassesTheExceptionCodeThroughForEveryFunction) {
    const std::array<bool, 1> coil = {true};
    const std::array<uint16_t, 1> reg = {1};
    const Pdu requests[] = {
        read_request(FunctionCode::ReadCoils, 0, 1),
        read_request(FunctionCode::ReadDiscreteInputs, 0, 1),
        read_request(FunctionCode::ReadHoldingRegisters, 0, 1),
        read_request(FunctionCode::ReadInputRegisters, 0xA100, 1),
        write_single_coil(0, true),
        write_single_register(0, 1),
        write_multiple_coils(0, coil),
        write_multiple_registers(0, reg),
    };
    for (const Pdu& request : requests) {
        for (int code : {0x01, 0x02, 0x03, 0x04, 0x06, 0x0B, 0x00, 0x42}) {
            const uint8_t fc = request.bytes[0] | 0x80;
            auto r = parse_reply(request.view(), bytes({fc, code}));
            ASSERT_FALSE(r.has_value());
            EXPECT_EQ(r.error().kind, ReplyErrc::Exception) << int(fc);
            EXPECT_EQ(r.error().exception, code) << int(fc);
        }
    }
}

TEST(ModbusParseReply, RefusesAnExceptionWithoutExactlyOneCodeByte) {
    const Pdu request = read_request(FunctionCode::ReadHoldingRegisters, 0, 1);
    for (const Buf& reply : {bytes({0x83}), bytes({0x83, 0x02, 0x00})}) {
        auto r = parse_reply(request.view(), reply);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().kind, ReplyErrc::Malformed) << reply.size();
    }
}

TEST(ModbusParseReply, ReportsAReplyToAnotherFunction) {
    const Pdu request = read_request(FunctionCode::ReadHoldingRegisters, 0, 1);
    // A well-formed reply to function 4, an exception to function 4, a write echo,
    // and 0x13 (function 3 with another bit set).
    const Buf replies[] = {bytes({0x04, 0x02, 0x00, 0x01}), bytes({0x84, 0x02}),
                           bytes({0x06, 0x00, 0x00, 0x00, 0x01}), bytes({0x13, 0x02, 0x00, 0x01})};
    for (const Buf& reply : replies) {
        auto r = parse_reply(request.view(), reply);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().kind, ReplyErrc::FunctionMismatch) << int(reply[0]);
    }
    const std::array<uint16_t, 1> reg = {1};
    auto r = parse_reply(write_multiple_registers(0, reg).view(), bytes({0x06, 0x00, 0x00, 0x00, 0x01}));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, ReplyErrc::FunctionMismatch);
}

TEST(ModbusParseReply, RefusesAnEmptyReply) {
    auto r = parse_reply(read_request(FunctionCode::ReadCoils, 0, 1).view(), {});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, ReplyErrc::Malformed);
}

TEST(ModbusParseReplyDeathTest, AssertsOnARequestNotBuiltByTheCodec) {
    EXPECT_DEATH(parse_reply({}, bytes({0x03, 0x02, 0x00, 0x00})), "builders");
    EXPECT_DEATH(parse_reply(bytes({0x07, 0x00, 0x00, 0x00, 0x00}), bytes({0x07})), "builders");
}

// Decoded frames feed parse_reply directly: the whole path for both transports.
TEST(ModbusParseReply, AcceptsFramedRepliesOnBothTransports) {
    for (const auto& e : spec_exchanges()) {
        const Buf tcp_wire = tcp(3, 1, e.reply);
        const Buf rtu_wire = rtu(1, e.reply);
        for (const FrameResult& f : {decode_tcp_frame(tcp_wire), decode_rtu_frame(rtu_wire)}) {
            ASSERT_EQ(f.status, FrameStatus::Complete) << e.name;
            auto r = parse_reply(e.request.view(), f.frame.pdu);
            if (std::string(e.name) == "exception") {
                ASSERT_FALSE(r.has_value());
                EXPECT_EQ(r.error().kind, ReplyErrc::Exception);
                EXPECT_EQ(exception_name(r.error().exception), "illegal data address");
            } else {
                EXPECT_TRUE(r.has_value()) << e.name;
            }
        }
    }
}

// ------------------------------------------------------------------ fuzz seed corpus

namespace fs = std::filesystem;

fs::path corpus_dir() { return fs::path(IB_SOURCE_DIR) / "tests/data/modbus/corpus"; }

// Each spec reply as a TCP ADU and as an RTU ADU. The transaction id of the TCP
// seeds is the request's address, which is where the fuzz target takes the
// address of its requests from.
std::vector<std::pair<std::string, Buf>> seeds() {
    std::vector<std::pair<std::string, Buf>> out;
    for (const auto& e : spec_exchanges()) {
        const uint16_t address = static_cast<uint16_t>((e.request.bytes[1] << 8) | e.request.bytes[2]);
        out.emplace_back(std::string("tcp_") + e.name, tcp(address, 0x01, e.reply));
        out.emplace_back(std::string("rtu_") + e.name, rtu(0x01, e.reply));
    }
    return out;
}

TEST(ModbusCorpusGen, DISABLED_WriteSeedCorpus) {
    fs::create_directories(corpus_dir());
    for (const auto& [name, wire] : seeds()) {
        std::ofstream f(corpus_dir() / (name + ".bin"), std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(wire.data()), static_cast<std::streamsize>(wire.size()));
    }
}

TEST(ModbusCorpus, EverySeedOnDiskIsOneCompleteFrame) {
    ASSERT_TRUE(fs::exists(corpus_dir())) << corpus_dir();
    int count = 0;
    for (const auto& entry : fs::directory_iterator(corpus_dir())) {
        const std::string name = entry.path().filename().string();
        std::ifstream f(entry.path(), std::ios::binary);
        const Buf wire((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        const FrameResult r = name.starts_with("tcp_") ? decode_tcp_frame(wire) : decode_rtu_frame(wire);
        EXPECT_EQ(r.status, FrameStatus::Complete) << name << ": " << r.error;
        EXPECT_EQ(r.frame.size, wire.size()) << name;
        ++count;
    }
    EXPECT_EQ(count, static_cast<int>(seeds().size()));
}

}  // namespace
}  // namespace ib::drivers::modbus
