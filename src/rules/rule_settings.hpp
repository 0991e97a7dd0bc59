// The rules' settings: rules from the [[rules]] tables of the config file, each with its
// [[rules.actions]], and from the REST API's JSON (the shape eKuiper users know:
// {"id":"hot","sql":"SELECT ...","actions":[{"publish":{"topic":"alarms/${device}"}},{"log":{}}]}),
// turned into the same tree so both pass one set of checks. The SQL is compiled
// here, so a rule that cannot run is refused with its line and column; the config
// loader gets that check only through rule_tables, which the app hands it.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/table_fields.hpp"
#include "config/table_list.hpp"
#include "rules/rule_config.hpp"

namespace ib::rules {

// `display` starts the error paths: "rules[0]" in a file, "" for a REST body.
std::optional<RuleConfig> parse_rule(const toml::table& table, const std::string& display,
                                     const config::ReportProblem& report);

// From a REST body: problems joined by "\n".
std::expected<RuleConfig, std::string> rule_from_json(std::string_view json);
// The rule in the shape rule_from_json reads, for the store (Included) and the
// API (Masked: the password of a postgres dsn, credential headers).
std::string rule_to_json(const RuleConfig& rule, config::fields::Secrets secrets = config::fields::Secrets::Included);
// A rule sent back as the API showed it: a secret still masked keeps the value
// in force (the same action, by position and kind).
void keep_masked_secrets(RuleConfig& edited, const RuleConfig& in_force);

// Markdown for docs/configuration.md.
std::string render_rules_markdown();

// [[rules]] for the config loader: ids unique, what passes appended to `out`.
config::TableList rule_tables(std::vector<RuleConfig>& out);

}  // namespace ib::rules
