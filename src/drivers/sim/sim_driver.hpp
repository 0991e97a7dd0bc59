// The `sim` driver: tags that follow a signal (sim_signal.hpp) so a node shows
// live data with no hardware. Always connected; a write to a memory tag is what
// it reads next; a write to any other signal is refused.
#pragma once

#include <memory>

#include "drivers/driver.hpp"

namespace ib::drivers::sim {

std::unique_ptr<Driver> make_sim_driver(boost::asio::io_context& io, const DeviceConfig& config,
                                        DriverEvents& events);

}  // namespace ib::drivers::sim
