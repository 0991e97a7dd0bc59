// What a device is: its driver, how to reach it, and its groups of tags. Filled
// by the config loader from TOML (or from a REST body turned into the same tree)
// and checked there, so a DeviceConfig that reaches a driver is valid.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/value.hpp"

namespace ib::drivers {

enum class DriverKind : uint8_t { ModbusTcp, ModbusRtuOverTcp, ModbusRtu, Sim };

std::string_view driver_name(DriverKind kind);  // "modbus-tcp", "modbus-rtu-over-tcp", "modbus-rtu", "sim"

enum class Access : uint8_t { Read, Write, ReadWrite };

std::string_view access_name(Access access);  // "read", "write", "rw"

inline bool readable(Access a) { return a != Access::Write; }
inline bool writable(Access a) { return a != Access::Read; }

struct TagConfig {
    std::string name;
    // Driver-specific: "1!400001#BB" for Modbus, "sine:period=10" for sim.
    std::string address;
    DataType type = DataType::Uint16;
    Access access = Access::Read;
    // Reported value = raw * scale + offset; any scale or offset but 1/0 makes the
    // tag report a float.
    double scale = 1.0;
    double offset = 0.0;
    std::string unit;
    // Report only when the value moved by more than `deadband` (numbers) or changed
    // (anything else) since it was last reported.
    bool on_change = false;
    double deadband = 0.0;

    bool scaled() const { return scale != 1.0 || offset != 0.0; }
};

struct GroupConfig {
    std::string name;
    std::chrono::milliseconds interval{1000};
    std::vector<TagConfig> tags;
};

struct SerialConfig {
    std::string port;  // "/dev/ttyUSB0"
    uint32_t baud = 9600;
    char parity = 'N';  // N, E, O
    uint8_t data_bits = 8;
    uint8_t stop_bits = 1;
};

struct DeviceConfig {
    std::string name;
    DriverKind driver = DriverKind::Sim;
    std::string host = "127.0.0.1";
    uint16_t port = 502;
    SerialConfig serial;
    std::chrono::milliseconds timeout{1000};
    uint32_t retries = 1;
    std::chrono::milliseconds reconnect_min{500};
    std::chrono::milliseconds reconnect_max{30000};
    int address_base = 1;
    std::string byte_order = "BB";
    uint16_t max_gap = 16;
    bool enabled = true;
    std::vector<GroupConfig> groups;
};

}  // namespace ib::drivers
