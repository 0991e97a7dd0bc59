#include "core/credential_names.hpp"

#include <array>
#include <string>

namespace ib {

bool names_a_credential(std::string_view name) {
    // Lower case, '-' as '_': "X-Api-Key" and "api_key" are one name.
    std::string norm(name);
    for (char& c : norm) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        else if (c == '-') c = '_';
    }
    static constexpr std::array<std::string_view, 7> kHints = {"password", "secret", "token",  "authorization",
                                                               "private_key", "api_key", "cookie"};
    for (auto hint : kHints) {
        if (norm.find(hint) != std::string::npos) return true;
    }
    return false;
}

}  // namespace ib
