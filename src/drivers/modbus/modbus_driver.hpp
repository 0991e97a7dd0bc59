// The Modbus driver: Modbus TCP, RTU over a serial line and RTU over TCP, on the
// event loop (no thread per device). One request in flight per link, reads
// coalesced by read_planner, a request failing with "illegal data address" split
// until the bad tag is alone, a unit that stops answering backed off on its own
// so the other units on a shared link keep going, and any reply that breaks the
// framing closes the link and reconnects with back-off.
#pragma once

#include <memory>

#include "drivers/driver.hpp"

namespace ib::drivers::modbus {

std::unique_ptr<Driver> make_modbus_driver(boost::asio::io_context& io, const DeviceConfig& config,
                                           DriverEvents& events);

}  // namespace ib::drivers::modbus
