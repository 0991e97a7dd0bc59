// Errors as values: untrusted input returns std::expected<T, Error>, never throws.
// An Error carries a code meaningful to the caller's protocol, the byte offset
// where the problem was found (when there is one) and a static message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>

namespace ib {

struct Error {
    // Protocol-specific code: an MQTT reason code, a Modbus exception, ...
    uint8_t code = 0;
    // Byte offset into the input where the problem was detected.
    std::size_t offset = 0;
    // Static text: errors are produced on hot paths, so no formatting here.
    const char* message = "";
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(uint8_t code, std::size_t offset, const char* message) {
    return std::unexpected(Error{code, offset, message});
}

// Start-up failures (config, bind) travel up to main as text.
using StartError = std::string;

}  // namespace ib
