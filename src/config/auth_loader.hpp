// [[users]] and [[acl]] from the config file. Every problem is reported with the
// key path and line; a table with a problem is not returned. The cross-field
// rule (plain-text passwords need auth.allow_plaintext_passwords) runs in the
// loader once the whole file is read.
#pragma once

#include <optional>
#include <string>

#include "auth/auth_config.hpp"
#include "config/table_fields.hpp"

namespace ib::config {

// `display` starts the error paths: "users[0]".
std::optional<auth::UserConfig> parse_user(const toml::table& table, const std::string& display,
                                           const ReportProblem& report);
std::optional<auth::AclRuleConfig> parse_acl_rule(const toml::table& table, const std::string& display,
                                                  const ReportProblem& report);

// Markdown for docs/configuration.md: the keys of [[users]] and [[acl]].
std::string render_auth_markdown();

}  // namespace ib::config
