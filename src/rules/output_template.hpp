// `alarms/${device}`: text with ${column} placeholders filled from a rule's output
// row. Parsed once when the rule starts; rendering reuses one buffer.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "rules/rule.hpp"

namespace ib::rules {

class OutputTemplate {
public:
    static std::expected<OutputTemplate, std::string> parse(std::string_view text);
    // The column names the template uses, so a rule can be refused when a name is no column.
    std::vector<std::string> columns() const;
    bool empty() const { return parts_.empty(); }
    // Fills `out`; false (with `missing` set) when a column is not in the row.
    bool render(const OutputRow& row, std::string& out, std::string& missing) const;

private:
    struct Part {
        std::string text;  // literal text, or the column's name
        bool column = false;
    };
    std::vector<Part> parts_;
};

}  // namespace ib::rules
