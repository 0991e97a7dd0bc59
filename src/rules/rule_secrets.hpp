// The credentials a rule's actions carry (the password of a postgres dsn, the
// values of credential headers of http and grpc calls), hidden in what the API
// shows and kept when a rule comes back with them still hidden.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/rule_config.hpp"

namespace ib::rules {

// Where a libpq connection string holds its password, as raw text spans (a
// quoted value with its quotes): `password=...` in key=value form, and in a
// postgresql:// URI the user info's `:...@` and the `password=` parameter.
std::vector<std::pair<std::size_t, std::size_t>> dsn_password_spans(std::string_view dsn);

// The rule with every credential that is set replaced by config::fields::kSecretMask.
RuleConfig with_secrets_masked(const RuleConfig& rule);

}  // namespace ib::rules
