// A service's answer as a row: the top-level fields of a JSON object become the
// row's columns (strings, numbers, booleans, null; objects and arrays as their
// JSON text), so templates (`${score}`) and the actions after a call read it as
// they read a rule's own row. Owns its text; reused from one answer to the next.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "rules/rule.hpp"

namespace ib::rules {

class JsonRow {
public:
    // "" when `json` is an object, else why it is not usable as a row.
    std::string parse(std::string_view json);
    // Valid until the next parse().
    OutputRow row() const { return OutputRow{json_, names_, values_}; }

private:
    simdjson::dom::parser parser_;
    std::string json_;
    std::vector<std::string> names_;
    std::vector<Value> values_;
    StringArena arena_;
};

}  // namespace ib::rules
