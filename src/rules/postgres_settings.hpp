// The postgres action's keys (`postgres = {dsn = ..., table = ..., columns = [...]}`
// in a rule's actions), declared once: the TOML and REST checks, the JSON a rule
// is kept and shown as, and docs/configuration.md follow from them; and the
// checks across keys and against the rule's columns.
#pragma once

#include <string>
#include <vector>

#include "config/table_fields.hpp"
#include "rules/rule_config.hpp"

namespace ib::rules {

class Rule;

const std::vector<config::fields::Field<ActionConfig>>& postgres_fields();
// `{"postgres":{...}}`, every key.
std::string postgres_action_json(const ActionConfig& a);
// "" or what is wrong: a column without a type when the action creates the
// table, a time column that is not a column, a column the rule does not produce.
// `after_call`: the action follows a grpc action, so its columns are the answer's, unknown here.
std::string check_postgres_action(const PostgresTarget& t, const Rule& rule, bool after_call);

}  // namespace ib::rules
