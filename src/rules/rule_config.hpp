// A rule as configured: its SQL, options and actions, from a [[rules]] table of
// the config file or a REST body (both checked by rules/rule_settings). Plain data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rules/call_config.hpp"
#include "rules/postgres_config.hpp"

namespace ib::rules {

enum class ActionKind : uint8_t { Publish, Write, Log, Http, Sqlite, Grpc, Postgres };

struct ActionConfig {
    ActionKind kind = ActionKind::Log;
    // Publish: topic and payload templates over the row's columns (`alarms/${device}`);
    // an empty payload sends the row as JSON.
    std::string topic;
    std::string payload;
    uint8_t qos = 0;
    bool retain = false;
    // Write: the device (a template) written through `ib/write/<device>`; with a
    // tag, the row's `value` column (or its only column) is written to it, else
    // every column is written to the tag of the same name.
    std::string device;
    std::string tag;
    // Http: rows POSTed (the payload template, or the row as JSON) to an http:// url,
    // one at a time in order, each with a timeout and retries, from a bounded queue.
    std::string url;
    std::string method = "POST";
    uint32_t timeout_ms = 5000;
    uint32_t retries = 3;
    uint32_t max_queue = 1000;
    // Http over https://, keys, the answer; Grpc (rules/call_config.hpp).
    CallConfig call;
    // Sqlite: rows appended to `table` in data_dir/rules.db (id, ts, rule, row as
    // JSON), the oldest deleted beyond max_rows.
    std::string table;
    uint64_t max_rows = 1'000'000;
    // Postgres: rows written in batches to a PostgreSQL table through a disk queue.
    PostgresTarget postgres;
};

struct RuleConfig {
    std::string id;
    std::string sql;
    bool enabled = true;
    std::string event_time;  // payload field holding the event time, Unix ms; "" = processing time
    int64_t late_tolerance_ms = 0;
    std::vector<ActionConfig> actions;
};

}  // namespace ib::rules
