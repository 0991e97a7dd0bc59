// libFuzzer target for the Modbus codec: read the input as a TCP stream and as an
// RTU stream, frame by frame until NeedMore or Malformed, and check each frame's
// invariants (inside the buffer, CRC right, re-framing gives the same bytes); then
// check every decoded PDU against one request of each function, built from the
// first input bytes (address from bytes 0-1, quantity and values from bytes 2-3).
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "drivers/modbus/modbus_codec.hpp"

namespace {

using namespace ib::drivers::modbus;

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "modbus invariant broken: %s\n", what);
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok) broken(what);
}

bool inside(std::span<const uint8_t> part, std::span<const uint8_t> whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

struct Requests {
    std::array<Pdu, 8> pdus;
};

Requests make_requests(std::span<const uint8_t> input) {
    const uint16_t address = input.size() >= 2 ? static_cast<uint16_t>((input[0] << 8) | input[1]) : 0;
    const uint16_t n = input.size() >= 4 ? static_cast<uint16_t>((input[2] << 8) | input[3]) : 0;
    std::array<bool, kMaxWriteCoils> states{};
    std::array<uint16_t, kMaxWriteRegisters> values{};
    const size_t coils = n % kMaxWriteCoils + 1;
    const size_t registers = n % kMaxWriteRegisters + 1;
    for (size_t i = 0; i < coils; ++i) states[i] = ((n >> (i % 16)) & 1) != 0;
    for (size_t i = 0; i < registers; ++i) values[i] = static_cast<uint16_t>(n + i);
    const auto bits = static_cast<uint16_t>(n % kMaxReadBits + 1);
    const auto regs = static_cast<uint16_t>(n % kMaxReadRegisters + 1);
    return {{
        read_request(FunctionCode::ReadCoils, address, bits),
        read_request(FunctionCode::ReadDiscreteInputs, address, bits),
        read_request(FunctionCode::ReadHoldingRegisters, address, regs),
        read_request(FunctionCode::ReadInputRegisters, address, regs),
        write_single_coil(address, (n & 1) != 0),
        write_single_register(address, n),
        write_multiple_coils(address, std::span<const bool>(states.data(), coils)),
        write_multiple_registers(address, std::span<const uint16_t>(values.data(), registers)),
    }};
}

void check_reply(const Pdu& request, std::span<const uint8_t> reply) {
    const uint8_t fc = request.bytes[0];
    auto r = parse_reply(request.view(), reply);
    if (r) {
        check(reply[0] == fc, "accepted a reply with another function code");
        if (fc <= 0x04) {
            const uint16_t quantity = static_cast<uint16_t>((request.bytes[3] << 8) | request.bytes[4]);
            const size_t expected = fc <= 0x02 ? (quantity + 7u) / 8u : 2u * quantity;
            check(r->size() == expected, "read data size does not follow the quantity");
            check(r->data() == reply.data() + 2 && r->size() + 2 == reply.size(),
                  "read data is not the rest of the reply");
            // The accessors the driver uses stay inside the data.
            if (fc <= 0x02) (void)bit_at(*r, quantity - 1u);
            else (void)register_at(*r, quantity - 1u);
        } else {
            check(r->empty(), "write reply returned data");
            check(reply.size() == 5 && std::memcmp(reply.data(), request.bytes.data(), 5) == 0,
                  "accepted a write reply that is not the echo");
        }
        return;
    }
    const ReplyError& e = r.error();
    check(e.message != nullptr && e.message[0] != '\0', "reply error without a message");
    if (e.kind == ReplyErrc::Exception) {
        check(reply.size() == 2 && reply[0] == (fc | 0x80) && e.exception == reply[1],
              "exception not taken from a two-byte exception reply");
        check(!exception_name(e.exception).empty(), "exception without a name");
    } else if (e.kind == ReplyErrc::FunctionMismatch) {
        check(!reply.empty() && reply[0] != fc && reply[0] != (fc | 0x80), "mismatch on our own function code");
    }
}

void check_pdu(const Requests& requests, std::span<const uint8_t> pdu) {
    for (const Pdu& request : requests.pdus) check_reply(request, pdu);
}

Pdu copy_pdu(std::span<const uint8_t> view) {
    check(!view.empty() && view.size() <= kMaxPduSize, "frame PDU outside 1..253 bytes");
    Pdu pdu;
    std::memcpy(pdu.bytes.data(), view.data(), view.size());
    pdu.size = static_cast<uint8_t>(view.size());
    return pdu;
}

void consume_tcp(std::span<const uint8_t> input, const Requests& requests) {
    std::span<const uint8_t> rest = input;
    for (;;) {
        const FrameResult r = decode_tcp_frame(rest);
        if (r.status == FrameStatus::Malformed) check(r.error[0] != '\0', "Malformed without a reason");
        if (r.status != FrameStatus::Complete) return;
        const Frame& f = r.frame;
        check(f.size >= kMbapHeaderSize + 1 && f.size <= rest.size() && f.size <= kMaxTcpAduSize,
              "TCP frame size outside the buffer");
        check(inside(f.pdu, rest.first(f.size)), "TCP frame PDU outside the frame");
        // Framing the decoded PDU again gives back the very same bytes.
        std::array<uint8_t, kMaxTcpAduSize> out{};
        const size_t n = frame_tcp(out, f.transaction_id, f.unit, copy_pdu(f.pdu));
        check(n == f.size && std::memcmp(out.data(), rest.data(), n) == 0, "TCP re-framing differs");
        check_pdu(requests, f.pdu);
        rest = rest.subspan(f.size);
    }
}

void consume_rtu(std::span<const uint8_t> input, const Requests& requests) {
    std::span<const uint8_t> rest = input;
    for (;;) {
        const FrameResult r = decode_rtu_frame(rest);
        if (r.status == FrameStatus::Malformed) check(r.error[0] != '\0', "Malformed without a reason");
        if (r.status != FrameStatus::Complete) return;
        const Frame& f = r.frame;
        check(f.size >= 5 && f.size <= rest.size() && f.size <= kMaxRtuAduSize, "RTU frame size outside the buffer");
        check(inside(f.pdu, rest.first(f.size)), "RTU frame PDU outside the frame");
        const std::span<const uint8_t> adu = rest.first(f.size);
        const uint16_t sent = static_cast<uint16_t>(adu[f.size - 2] | (adu[f.size - 1] << 8));
        check(crc16(adu.first(f.size - 2)) == sent, "Complete RTU frame with a wrong CRC");
        check(crc16(adu) == 0, "RTU frame CRC residue is not 0");
        std::array<uint8_t, kMaxRtuAduSize> out{};
        const size_t n = frame_rtu(out, f.unit, copy_pdu(f.pdu));
        check(n == f.size && std::memcmp(out.data(), adu.data(), n) == 0, "RTU re-framing differs");
        check_pdu(requests, f.pdu);
        rest = rest.subspan(f.size);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::span<const uint8_t> input(data, size);
    const Requests requests = make_requests(input);
    consume_tcp(input, requests);
    consume_rtu(input, requests);
    // What follows the request bytes, as a reply PDU: parse_reply also sees lengths
    // and function codes that framing never lets through.
    if (!input.empty()) check_pdu(requests, input.subspan(input.size() > 4 ? 4 : 0));
    return 0;
}
