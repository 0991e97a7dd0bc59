// The naming rule (docs/sparkplug.md): which devices and tags the edge node
// publishes, under which Sparkplug ids, metric names, datatypes and aliases.
// Built once from the device configurations; pure, no I/O.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "drivers/device_config.hpp"
#include "sparkplug/payload.hpp"
#include "sparkplug/sparkplug_config.hpp"

namespace ib::sparkplug {

inline constexpr std::string_view kBdSeqMetric = "bdSeq";
inline constexpr std::string_view kRebirthMetric = "Node Control/Rebirth";

// A tag's Sparkplug datatype: its declared type, Double when scaled (scaling
// makes every tag report a float64), a Float32 tag as Float.
DataType datatype_of(const drivers::TagConfig& tag);

struct MetricSpec {
    std::string name;  // the tag's name
    DataType type = DataType::Unknown;
    std::string unit;  // the tag's unit: the engUnit property
    uint64_t alias = 0;
    bool writable = false;
    // The last value published (birth or data): data carries only changes.
    MetricValue last;
    bool published = false;
};

struct DeviceSpec {
    std::string name;  // the Ironbridge device's name is its Sparkplug device id
    std::vector<MetricSpec> metrics;
    // False once the device's link was lost (<prefix>/status/<device> says
    // reconnecting or stopped): DDEATH, and no data until it is connected again.
    bool online = true;

    MetricSpec* find(std::string_view metric_name);
    // The same, trying `hint` first and leaving it on the next metric: a
    // reading lists its tags in the device's order, so a reading's lookups
    // are one comparison each.
    MetricSpec* find(std::string_view metric_name, std::size_t& hint);
};

class MetricCatalog {
public:
    // Selects the devices and tags `config` names out of `devices` and gives
    // each metric its alias: 1, 2, ... in device then tag order, unique across
    // the edge node (§6.4.2). An unknown device or tag in `config` is an error.
    static std::expected<MetricCatalog, std::string> build(const SparkplugConfig& config,
                                                           const std::vector<drivers::DeviceConfig>& devices);

    std::vector<DeviceSpec>& devices() { return devices_; }
    DeviceSpec* find_device(std::string_view name);
    // The device and metric an alias names; nullopt when none.
    std::optional<std::pair<DeviceSpec*, MetricSpec*>> by_alias(uint64_t alias);

private:
    std::vector<DeviceSpec> devices_;
    std::unordered_map<uint64_t, std::pair<std::size_t, std::size_t>> alias_index_;
};

}  // namespace ib::sparkplug
