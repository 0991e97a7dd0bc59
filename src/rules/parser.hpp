// SQL text to a Query: a hand-written lexer and recursive-descent parser for the
// rule dialect (SELECT ... FROM "filter" [WHERE] [GROUP BY keys, window] [HAVING]).
// Untrusted input: every problem is a value naming the byte offset and what was
// expected; nothing here throws or allocates without bound (depth is limited).
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "rules/ast.hpp"

namespace ib::rules {

struct SqlError {
    uint32_t pos = 0;
    std::string message;
};

// "line:column: message", both 1-based, columns counted in bytes.
std::string format_error(std::string_view sql, const SqlError& e);

std::expected<Query, SqlError> parse_query(std::string_view sql);

}  // namespace ib::rules
