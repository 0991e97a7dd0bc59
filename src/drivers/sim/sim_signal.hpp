// The simulator's signals: what a `sim` tag's address names. A sine, a ramp, a
// square wave, a random walk, a counter, or a memory that holds the last value
// written. Pure: a value is a function of the signal and the time (and, for the
// random walk and the counter, of the previous value).
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "drivers/device_config.hpp"
#include "drivers/value.hpp"

namespace ib::drivers::sim {

enum class SignalKind : uint8_t { Sine, Ramp, Square, RandomWalk, Counter, Memory };

// Address syntax: KIND[:key=value,key=value...]
//   sine:period=60,amplitude=10,offset=20     offset + amplitude*sin(2πt/period)
//   ramp:period=60,min=0,max=100              min → max over each period, then again
//   square:period=10,low=0,high=1             low for half a period, then high
//   random:start=50,step=1,min=0,max=100      a random walk of ±step per read
//   counter:start=0,step=1                    +step per read
//   memory:initial=0                          the last value written (a setpoint)
// period is in seconds (> 0); every parameter is optional.
struct Signal {
    SignalKind kind = SignalKind::Sine;
    double period_s = 60;
    double amplitude = 1;
    double offset = 0;
    double min = 0;
    double max = 100;
    double low = 0;
    double high = 1;
    double start = 0;
    double step = 1;
};

// Refuses an unknown kind or parameter, or a value that is not a number, with a
// message that shows the form.
std::expected<Signal, std::string> parse_signal(std::string_view address);

// Whether a tag of this type can carry the signal: numbers for all; bool for
// square and memory; string for memory.
bool signal_fits(const Signal& signal, DataType type);

// A tag of a sim device as the config checks it (the app hands this to the
// device settings as the address check of the sim driver): its address names a
// signal that fits its type. "" when valid, otherwise why not.
std::string check_tag_address(const DeviceConfig& device, const TagConfig& tag);

}  // namespace ib::drivers::sim
