// The keys of the actions that call a service: what `http` has beyond the URL
// (TLS files, headers, keys, the answer's topic) and the whole `grpc` action;
// rule_settings puts them in its action table. Declared once: TOML, REST JSON
// and docs/configuration.md follow.
#pragma once

#include <string>
#include <vector>

#include "config/table_fields.hpp"
#include "rules/rule_config.hpp"

namespace ib::rules {

const std::vector<config::fields::Field<ActionConfig>>& http_call_fields();
const std::vector<config::fields::Field<ActionConfig>>& grpc_fields();
// A key pair the fields cannot check alone (cert_file without key_file); "" if fine.
std::string check_call(const ActionConfig& a);
// The call keys that differ from their defaults, as `,"key":value` JSON members.
void append_call_json(std::string& out, const ActionConfig& a);

}  // namespace ib::rules
