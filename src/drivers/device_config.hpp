// What a device is: its driver, how to reach it, and its groups of tags. Filled
// by the config loader from TOML (or from a REST body turned into the same tree)
// and checked there, so a DeviceConfig that reaches a driver is valid.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/tag_texts.hpp"
#include "drivers/value.hpp"

namespace ib::drivers {

enum class DriverKind : uint8_t { ModbusTcp, ModbusRtuOverTcp, ModbusRtu, Sim, OpcUa };

std::string_view driver_name(DriverKind kind);  // "modbus-tcp", "modbus-rtu-over-tcp", "modbus-rtu", "sim", "opcua"

enum class Access : uint8_t { Read, Write, ReadWrite };

std::string_view access_name(Access access);  // "read", "write", "rw"

inline bool readable(Access a) { return a != Access::Write; }
inline bool writable(Access a) { return a != Access::Read; }

struct TagConfig {
    std::string_view name() const { return texts.get(TagTexts::Name); }
    // Driver-specific: "1!400001#BB" for Modbus, "sine:period=10" for sim, a
    // NodeId such as "ns=2;s=Line1.Temp" for OPC UA.
    std::string_view address() const { return texts.get(TagTexts::Address); }
    std::string_view unit() const { return texts.get(TagTexts::Unit); }
    void set_name(std::string_view s) { texts.set(TagTexts::Name, s); }
    void set_address(std::string_view s) { texts.set(TagTexts::Address, s); }
    void set_unit(std::string_view s) { texts.set(TagTexts::Unit, s); }

    [[no_unique_address]] TagTexts texts;  // type, access and on_change fit in its tail padding
    DataType type = DataType::Uint16;
    Access access = Access::Read;
    // Report only when the value moved by more than `deadband` (numbers) or changed
    // (anything else) since it was last reported.
    bool on_change = false;
    // Reported value = raw * scale + offset; any scale or offset but 1/0 makes the
    // tag report a float.
    double scale = 1.0;
    double offset = 0.0;
    double deadband = 0.0;

    bool scaled() const { return scale != 1.0 || offset != 0.0; }
};

// A device holds one TagConfig per tag as long as it runs: 56 bytes, its texts
// in the device's one buffer (TagTexts::pack, by pack_tag_texts).
static_assert(sizeof(TagConfig) <= 56, "TagConfig grew: see BENCHMARKS.md (OPC UA memory per item)");

// How a group's values are collected. Auto is the driver's own choice:
// Subscribe for OPC UA, Poll for every other driver (which can only poll).
enum class GroupMode : uint8_t { Auto, Poll, Subscribe };

std::string_view group_mode_name(GroupMode mode);  // "auto", "poll", "subscribe"

struct GroupConfig {
    std::string name;
    std::chrono::milliseconds interval{1000};
    GroupMode mode = GroupMode::Auto;
    // OPC UA subscriptions: values the server queues per item between two
    // publishes, and the absolute deadband of its DataChangeFilter (0: none).
    uint32_t queue_size = 1;
    double deadband = 0.0;
    std::vector<TagConfig> tags;
};

struct SerialConfig {
    std::string port;  // "/dev/ttyUSB0"
    uint32_t baud = 9600;
    char parity = 'N';  // N, E, O
    uint8_t data_bits = 8;
    uint8_t stop_bits = 1;
};

// An OPC UA server and how to log in to it (driver "opcua"). The strings are
// checked by the loader (device_settings) and mapped to the client's enums by
// the driver.
struct OpcUaSettings {
    std::string endpoint;         // opc.tcp://host:port/path
    std::string security_policy;  // "" (the most secure offered), None, Basic256Sha256, ...
    std::string security_mode;    // "" (the most secure for the policy), None, Sign, SignAndEncrypt
    std::string username;
    std::string password;
    std::string user_certificate;  // PEM file: log in with an X.509 user certificate
    std::string user_key;          // its PEM private key
    bool trust_on_first_use = false;
    // Asked of the server in CreateSession; its subscriptions are asked to
    // live twice as long, so a new session can take them over.
    uint32_t session_timeout_ms = 60000;
};

// The host and port of "opc.tcp://host[:port][/path]" (port 4840 when absent);
// nullopt when the text is not of that form.
struct OpcEndpoint {
    std::string host;
    uint16_t port = 4840;
};
std::optional<OpcEndpoint> parse_opc_endpoint(std::string_view url);

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
    OpcUaSettings opcua;
    std::vector<GroupConfig> groups;
};

// Gives every tag of the device one shared buffer for its texts (TagTexts).
void pack_tag_texts(DeviceConfig& device);

}  // namespace ib::drivers
