// A rule as configured: its SQL, options and actions, from a [[rules]] table of
// the config file or a REST body (both checked by config/rule_loader). Plain data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ib::rules {

enum class ActionKind : uint8_t { Publish, Write, Log };

struct ActionConfig {
    ActionKind kind = ActionKind::Log;
    // Publish: topic and payload templates over the row's columns (`alarms/${device}`);
    // an empty payload sends the row as JSON.
    std::string topic;
    std::string payload;
    uint8_t qos = 0;
    bool retain = false;
    // Write: the device (a template) written through `ib/write/<device>`; with a
    // tag, the row's `value` column (or its only column) is written to it, else
    // every column is written to the tag of the same name.
    std::string device;
    std::string tag;
};

struct RuleConfig {
    std::string id;
    std::string sql;
    bool enabled = true;
    std::string event_time;  // payload field holding the event time, Unix ms; "" = processing time
    int64_t late_tolerance_ms = 0;
    std::vector<ActionConfig> actions;
};

}  // namespace ib::rules
