#pragma once

#include <string_view>

namespace ib {

// Whether a key, field or header name says its value is a credential
// (password, token, Authorization, X-Api-Key, ...), so that what shows
// configuration to people (API answers, the audit log) hides the value.
bool names_a_credential(std::string_view name);

}  // namespace ib
