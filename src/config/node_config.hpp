// What one Ironbridge node is configured with at the node level, as typed
// per-module structs (the broker, the API, auth, history). Produced
// only by the config loader; modules receive their own part in their
// constructor and never see TOML.
#pragma once

#include <string>
#include <vector>

#include "api/api_config.hpp"
#include "auth/auth_config.hpp"
#include "core/bus.hpp"
#include "files/files_config.hpp"
#include "mqtt/broker/broker_config.hpp"
#include "store/history_config.hpp"

namespace ib::config {

struct LogConfig {
    // One of trace, debug, info, warn, error (checked by the loader).
    std::string level = "info";
    // "text" or "json" (checked by the loader).
    std::string format = "text";
};

struct NodeConfig {
    // Where state created at run time (REST objects, history, outbox) lives.
    std::string data_dir = "./data";
    // Service event loops (src/app/placement.hpp); 0: sized from the cores.
    uint32_t service_loops = 0;
    LogConfig log;
    // Topic prefix of the bus (core/bus.hpp), shared by devices, rules, history and bridges.
    BusConfig bus;
    mqtt::broker::BrokerConfig broker;
    api::ApiConfig api;
    // [auth], [[users]], [[acl]] and the api.* credentials (allow_anonymous and
    // listener_anonymous are copied in by the app from the broker's settings).
    auth::AuthConfig auth;
    store::HistoryConfig history;
    // [files]: MQTT file transfer (forward_bridges is filled in by the app).
    files::FilesConfig files;
    // [[devices]], [[bridges]] and [[rules]] are not here: their modules read
    // them (device_tables, bridge_tables, rule_tables) into what the app hands
    // the loader.
};

}  // namespace ib::config
