// What a push, a dry run and a rollback send and how their answers are matched,
// shared by `ironbridge fleet` (fleet_cli) and the controller's REST API
// (fleet_service): the targeted edges, the template filled per edge, the
// messages with their correlation data, and each edge's result from the
// replies and the status topics. Pure: no MQTT, no clock.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fleet_ctl/fleet_messages.hpp"
#include "fleet_ctl/fleet_report.hpp"
#include "fleet_ctl/fleet_template.hpp"

namespace ib::fleet_ctl {

// One request per targeted edge, and what came back.
struct Request {
    EdgeState edge;
    std::string config;       // filled template (push, dry run)
    std::string correlation;  // response topic correlation; also the command id
    EdgeResult result;
    Progress last;            // the final report (dry run's diff, capture's config)
};

// The edges `patterns` select (Targets): those whose state the broker keeps,
// and those only named in the parameters (they converge when they come online).
std::expected<std::vector<EdgeState>, std::string> targeted(const std::map<std::string, EdgeState>& known,
                                                            const std::vector<std::string>& patterns,
                                                            std::string_view root,
                                                            const std::vector<EdgeParams>* params);

// The template filled for each targeted edge; every error, before anything is sent.
std::expected<std::vector<Request>, std::string> fill_for(const std::vector<EdgeState>& edges, const std::string& text,
                                                          const std::vector<EdgeParams>& params);

// `base`: auto (the edge's revision when its state is known), none, or a number.
std::expected<std::optional<int64_t>, std::string> base_of(std::string_view base, const EdgeState& e);

struct Outgoing {
    std::string topic;
    std::string payload;
    bool retain = false;
    std::string correlation;
};

// How the messages are made; `sign_key` empty: unsigned.
struct SendOptions {
    int64_t revision = 0;
    std::string base = "auto";
    std::string sign_key;
    std::string tag;  // makes the dry run's and rollback's ids unique
};
// Each edge's retained desired configuration; sets the requests' correlation.
std::expected<std::vector<Outgoing>, std::string> push_messages(std::vector<Request>& requests, const SendOptions& o);
// Each edge's dry-run command.
std::expected<std::vector<Outgoing>, std::string> dry_run_messages(std::vector<Request>& requests,
                                                                   const SendOptions& o);
// One rollback command per edge, to revision `to`; the requests are made here.
std::vector<Outgoing> rollback_messages(const std::vector<EdgeState>& edges, int64_t to, std::string_view tag,
                                        std::vector<Request>& requests);

// Matches the messages that come back to `requests` (kept in place while it
// lives): the response topic by correlation data, the edge's status topic by
// command id or, for a push, by revision.
class AnswerTracker {
public:
    AnswerTracker(std::vector<Request>& requests, std::string reply_topic, std::optional<int64_t> push_revision);
    // The request `topic`/`payload` answered, updated; null when it answers none.
    Request* take(const std::string& topic, const std::string& payload, const std::string& correlation);
    bool all_final() const;
    // What every request without a final answer says when the wait ended.
    void time_out(int timeout_s);

private:
    std::vector<Request>& requests_;
    std::string reply_topic_;
    std::optional<int64_t> push_revision_;
    std::map<std::string, Request*> by_correlation_, by_status_topic_;
};

// After a dry run: a done answer with errors is failed, and the message of a
// done one is its diff in one line.
void summarize_dry_run(std::vector<Request>& requests);

// A dry run's diff ({"devices":{"added":[..],"removed":[..],"changed":[..]},"acl":{"changed":true}})
// as one line: "devices +press ~oven -old; acl changed"; "no change" when empty.
std::string diff_summary(const std::string& diff_json);

}  // namespace ib::fleet_ctl
