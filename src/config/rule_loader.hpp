// Rules from the [[rules]] tables of the config file, each with its
// [[rules.actions]], and from the REST API's JSON (the shape eKuiper users know:
// {"id":"hot","sql":"SELECT ...","actions":[{"publish":{"topic":"alarms/${device}"}},{"log":{}}]}),
// turned into the same tree so both pass one set of checks. The SQL is compiled
// here, so a rule that cannot run is refused with its line and column.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "config/table_fields.hpp"
#include "rules/rule_config.hpp"

namespace ib::config {

// `display` starts the error paths: "rules[0]" in a file, "" for a REST body.
std::optional<rules::RuleConfig> parse_rule(const toml::table& table, const std::string& display,
                                            const ReportProblem& report);

// From a REST body: problems joined by "\n".
std::expected<rules::RuleConfig, std::string> rule_from_json(std::string_view json);
// The rule in the shape rule_from_json reads, for the store and GET.
std::string rule_to_json(const rules::RuleConfig& rule);

// Markdown for docs/configuration.md.
std::string render_rules_markdown();

}  // namespace ib::config
