// What the Sparkplug B edge node is configured with: the [sparkplug] table of the
// node's file (sparkplug_settings), checked by the loader. The node reads no file.
#pragma once

#include <string>
#include <vector>

namespace ib::sparkplug {

struct SparkplugConfig {
    bool enabled = false;
    std::string group_id;
    std::string edge_node_id;
    // Devices published as Sparkplug devices; empty: every device of the node.
    std::vector<std::string> devices;
    // "device/tag" entries: the tags published; empty: every tag of those devices.
    std::vector<std::string> tags;
    // "local": the node's own broker; else the name of a [[bridges]] table whose
    // upstream (servers, TLS, credentials) the edge node connects to on a
    // connection of its own, which carries its NDEATH as the will.
    std::string broker = "local";
    // The MQTT client id on an upstream; empty: "ironbridge-sparkplug-<edge_node_id>".
    std::string client_id;
    // When set, births and data go out only while this host application's STATE
    // says it is online (Sparkplug 3.0 §5.13).
    std::string primary_host_id;
};

}  // namespace ib::sparkplug
