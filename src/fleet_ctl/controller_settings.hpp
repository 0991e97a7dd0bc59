// [fleet_controller]: a node that plays the fleet's controller keeps a live
// list of the edges from the cloud broker and offers the controller's REST API
// (/api/v1/fleet/..., docs/fleet-controller.md). The keys are config Fields, so
// the loader checks them with the file's messages and docs/configuration.md
// renders them; the app hands `controller_table` to the loader like `[fleet]`.
#pragma once

#include "config/table_list.hpp"
#include "fleet_ctl/fleet_session.hpp"

namespace ib::fleet_ctl {

struct ControllerConfig {
    bool present = false;
    bool enabled = true;
    // The cloud broker and how to log in: the same as the CLI's --broker,
    // --username, --password, --tls, --ca and --root.
    BrokerOptions connection;
    std::string broker;  // as written; read into `connection` once `tls` is known
    int timeout_s = 180;   // a push's wait for every edge's final answer
    std::string sign_key;  // Ed25519 private key (PEM) pushes are signed with; "" unsigned
    int keep_pushes = 100;

    bool active() const { return present && enabled; }
};

std::string render_controller_markdown();
config::TableList controller_table(ControllerConfig& out);

}  // namespace ib::fleet_ctl
