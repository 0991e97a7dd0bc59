// Error codes of the OPC UA decoders. Every decoder over untrusted bytes returns
// ib::Result<T>: the Error carries one of these codes, the absolute byte offset
// where the problem was found and a static message saying what was wrong.
#pragma once

#include <cstdint>

#include "core/result.hpp"

namespace ib::drivers::opcua {

enum class DecodeErrc : uint8_t {
    Truncated = 1,   // the input ends inside a field
    BadLength,       // a length is negative (other than -1 for null) or beyond what remains
    BadValue,        // a field holds a value the specification does not allow
    TooDeep,         // nesting (Variant, DataValue, DiagnosticInfo) beyond kMaxNesting
    TooLarge,        // beyond a negotiated or configured limit (message size, chunk count)
    Unexpected,      // well formed, but not what this exchange expects (wrong type id, request id)
    Security,        // a signature, padding or encryption that does not check out (BadSecurityChecksFailed)
};

inline std::unexpected<Error> fail(DecodeErrc code, std::size_t offset, const char* message) {
    return ib::fail(static_cast<uint8_t>(code), offset, message);
}

// `auto var = expr;` and return its error if it has one: the decoders' one
// idiom for a field that may fail.
#define IB_OPCUA_TRY(var, expr) \
    auto var = (expr);          \
    if (!var) return std::unexpected(var.error())

}  // namespace ib::drivers::opcua
