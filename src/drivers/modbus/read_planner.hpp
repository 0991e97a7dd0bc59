// Coalescing a group's tags into the fewest Modbus read requests, and splitting a
// request that failed with "illegal data address" so one bad tag does not take its
// neighbours down. Pure: the driver owns the plan and runs it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "drivers/modbus/modbus_address.hpp"

namespace ib::drivers::modbus {

struct PlanOptions {
    uint16_t max_registers = 125;  // per request, registers areas
    uint16_t max_bits = 2000;      // per request, coil areas
    // Largest run of unrequested registers (or bits) bridged to merge two tags into
    // one request; 0 merges only adjacent or overlapping tags.
    uint16_t max_gap = 16;
};

struct ReadRequest {
    uint8_t unit = 1;
    Area area = Area::HoldingRegister;
    uint16_t address = 0;  // first register or bit, wire address
    uint16_t count = 0;    // registers or bits
    // Indices into the tag span given to plan_reads, in address order.
    std::vector<uint32_t> tags;
};

// Tags sorted by unit, area and address, then merged while the request stays
// within the limits and every gap within max_gap. Overlapping tags (two bits of one
// register, a float32 and a uint16 on its first half) share a request. Order of
// the result: by unit, then area, then address. A tag whose span exceeds the
// limit cannot happen (parse_address caps String at 125 registers).
std::vector<ReadRequest> plan_reads(std::span<const ModbusAddress> tags, const PlanOptions& options);

// Splits a request of two or more tags into two, each covering only its own tags'
// extent (the first half of the request's tags in address order, and the rest;
// tags at the same address stay together when possible). A request with one tag,
// or whose tags all start at one address, returns empty: the failure is that tag's.
std::vector<ReadRequest> split_request(const ReadRequest& request, std::span<const ModbusAddress> tags);

}  // namespace ib::drivers::modbus
