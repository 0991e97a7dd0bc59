// The controller as a long-lived service of a node ([fleet_controller]): one
// FleetSession to the cloud broker on a thread of its own (`ib-fleet-ctl`),
// kept open (opened again after a loss), holding the live list of edges from
// their retained state messages, and running the pushes, dry runs and rollbacks
// the REST API orders, with the CLI's code (fleet_requests: targets, template,
// messages, answers). Every public member is callable from any thread (the
// API's loop): the orders are checked and filled on the caller's thread, then
// queued for the session's thread, which publishes them and matches the
// answers; both sides share one mutex. Each order is kept in the push store
// when it is sent and when it ends (on the session's thread). No Asio in this header.
#pragma once

#include <cstdint>
#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fleet_ctl/controller_settings.hpp"
#include "fleet_ctl/fleet_requests.hpp"
#include "store/push_store.hpp"

namespace ib::fleet_ctl {

// What the REST API asks for: a push or a dry run of a template.
struct TemplateOrder {
    bool dry_run = false;
    std::string template_text;
    std::vector<EdgeParams> params;
    std::vector<std::string> targets;
    std::optional<int64_t> revision;  // default: the largest known + 1
    std::string base = "auto";
};

// An order accepted: its id for GET /api/v1/fleet/pushes/{id}.
struct Accepted {
    std::string id;
    int64_t revision = 0;  // the push's or dry run's; the rollback's target
    std::size_t edges = 0;
};

class FleetService {
public:
    // `pushes` (data_dir/fleet-pushes.db) keeps the orders across restarts;
    // without it they live in memory only. Orders it holds unfinished (the
    // process stopped while waiting) are finished at once, their silent edges
    // saying so.
    explicit FleetService(ControllerConfig config, std::optional<store::PushStore> pushes = std::nullopt);
    ~FleetService();
    FleetService(const FleetService&) = delete;
    FleetService& operator=(const FleetService&) = delete;

    // Starts the session's thread; stop() joins it (idempotent), within about
    // 50 ms, or up to 1 s while the broker still owes PUBACKs of what was sent.
    void start();
    void stop();

    // {"connected":..,"error":..,"edges":[{edge, site, online, revision, ...}]}.
    std::string edges_json() const;
    // Refused at once (400: a template or parameter error, no edge matched,
    // 503: not connected) with the CLI's messages; else queued.
    std::expected<Accepted, std::string> order(TemplateOrder o);
    // order() on a thread of its own, for a caller whose loop must not wait
    // while the templates are filled (a fraction of a millisecond per edge, so
    // most of a second for 1,000 edges): `done` runs on that thread. Returns
    // false, and never calls `done`, while kMaxOrdersFilling orders are filled.
    static constexpr std::size_t kMaxOrdersFilling = 4;
    bool order_async(TemplateOrder o, std::function<void(std::expected<Accepted, std::string>)> done);
    std::expected<Accepted, std::string> rollback(std::vector<std::string> targets, int64_t to);
    // {"id","op","revision","finished","summary":{..},"edges":[{edge,phase,code,message}]}; none for an
    // unknown id. From memory, else from the store (an order of an earlier run).
    std::optional<std::string> push_json(const std::string& id) const;
    bool connected() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace ib::fleet_ctl
