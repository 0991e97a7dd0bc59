// Values between the bus's JSON (readings, write requests) and Sparkplug
// metrics. Pure; simdjson stays out of the module's other headers.
#pragma once

#include <optional>
#include <string>

#include <simdjson.h>

#include "sparkplug/payload.hpp"

namespace ib::sparkplug {

// A reading's JSON value as the metric's datatype; nullopt when it is not one
// (a string for a number tag, an array the datatype cannot hold).
std::optional<MetricValue> value_from_json(simdjson::ondemand::value json, DataType type);

// A command's value as the JSON value of a bus write request ("42.5", "true",
// "\"text\"", "[1,2]"); nullopt for a null or a value this node cannot write.
std::optional<std::string> value_to_json(const MetricValue& value);

}  // namespace ib::sparkplug
