// One way to write a string as a double-quoted literal, valid both as a JSON
// string (RFC 8259 §7) and as a TOML basic string: the API's JSON bodies and the
// config reference and error messages share it.
#pragma once

#include <string>
#include <string_view>

namespace ib {

// `s` between double quotes, with '"', '\\' and every control character
// (U+0000..U+001F and U+007F, which TOML forbids raw) escaped.
std::string quoted(std::string_view s);
// The same, appended to `out`: no allocation beyond the growth of `out`.
void append_quoted(std::string& out, std::string_view s);

}  // namespace ib
