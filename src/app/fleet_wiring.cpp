#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "app/fleet_wiring.hpp"

#include <boost/asio/io_context.hpp>

#include <charconv>

#include "api/access.hpp"
#include "api/http_server.hpp"
#include "app/inspector.hpp"
#include "core/json_writer.hpp"
#include "core/log.hpp"
#include "fleet/managed_config.hpp"

namespace ib::app {
namespace {

using api::HttpRequest;
using api::HttpResponse;

std::optional<int64_t> revision_number(std::string_view text) {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size() || n < 0) return std::nullopt;
    return n;
}

void write_revision(JsonWriter& w, const store::Revision& r, int64_t current) {
    w.begin_object().field("revision", r.revision).key("base");
    if (r.base) w.number(*r.base);
    else w.null();
    w.field("sha256", r.sha256).field("status", store::revision_status_name(r.status));
    w.field("in_force", r.revision == current);
    if (!r.reason.empty()) w.field("reason", r.reason);
    w.field("received_ms", r.received_ms).field("updated_ms", r.updated_ms).end_object();
}

bool is_admin(const HttpRequest& req) { return req.caller == nullptr || req.caller->role >= api::Role::Admin; }

unsigned status_of(std::string_view code) {
    if (code == "unknown_revision") return 404;
    if (code == "busy") return 409;
    if (code == "invalid") return 400;
    return 500;
}

}  // namespace

std::function<void(const fleet::DriftFacts&)> drift_hook(const std::unique_ptr<Inspector>& inspector) {
    return [&inspector](const fleet::DriftFacts& f) {
        if (!inspector) return;
        inspector->set_fleet_facts(inspection::FleetFacts{f.applied_revision, f.desired_revision, f.last_apply_result,
                                                          f.last_apply_reason});
    };
}

std::expected<std::unique_ptr<FleetWiring>, std::string> FleetWiring::open(const fleet::FleetConfig& config,
                                                                         const std::string& data_dir,
                                                                         drivers::AddressCheck check) {
    if (!config.active()) return nullptr;
    auto start = fleet::open_fleet(data_dir, check);
    if (!start) return std::unexpected(start.error());
    return std::unique_ptr<FleetWiring>(new FleetWiring(config, std::move(*start)));
}

void FleetWiring::overlay(std::vector<drivers::DeviceConfig>& file_devices,
                          std::vector<drivers::DeviceConfig>& stored_devices, std::vector<rules::RuleConfig>& file_rules,
                          std::vector<rules::RuleConfig>& stored_rules, std::vector<bridge::BridgeConfig>& bridges,
                          auth::AuthConfig& auth) {
    // The base: the file's objects and the API's, as the node runs without a revision.
    base_.devices = file_devices;
    for (const auto& d : stored_devices) {
        if (std::none_of(file_devices.begin(), file_devices.end(), [&](const auto& f) { return f.name == d.name; })) {
            base_.devices->push_back(d);
        }
    }
    base_.rules = file_rules;
    for (const auto& r : stored_rules) {
        if (std::none_of(file_rules.begin(), file_rules.end(), [&](const auto& f) { return f.id == r.id; })) {
            base_.rules->push_back(r);
        }
    }
    base_.users = auth.users;
    base_.acl = auth.acl;
    fleet::ManagedConfig& parts = start_->parts;
    if (parts.devices) {
        file_devices.clear();
        stored_devices.clear();
        managed_devices_ = *parts.devices;
    }
    if (parts.rules) {
        file_rules.clear();
        stored_rules.clear();
        managed_rules_ = *parts.rules;
    }
    if (parts.users) auth.users = *parts.users;
    if (parts.acl) auth.acl = *parts.acl;
    auto with_will = [this](std::vector<bridge::BridgeConfig>& list) {
        for (auto& b : list) {
            if (b.name == config_.bridge) fleet::FleetAgent::set_will(config_, b);
        }
    };
    with_will(bridges);
    base_.bridges = bridges;
    if (parts.bridges) {
        bridges = *parts.bridges;
        with_will(bridges);
    }
}

void FleetWiring::start_managed(drivers::DeviceManager& devices, rules::RuleEngine& rules) {
    for (auto& d : managed_devices_) {
        if (auto r = devices.create(d, drivers::DeviceManager::Source::Fleet); !r) {
            log::error("fleet: device '{}' of the revision in force not started: {}", d.name, r.error().message);
        }
    }
    for (auto& rule : managed_rules_) {
        if (auto r = rules.add(rule, rules::RuleSource::Fleet); !r) {
            log::error("fleet: rule '{}' of the revision in force not started: {}", rule.id, r.error().message);
        }
    }
    managed_devices_.clear();
    managed_rules_.clear();
}

std::expected<void, std::string> FleetWiring::start_agent(boost::asio::io_context& bridges_loop,
                                                          fleet::FleetTargets targets, std::string version,
                                                          fleet::FleetHooks hooks) {
    agent_ = std::make_unique<fleet::FleetAgent>(bridges_loop, config_, std::move(*start_), std::move(targets), base_,
                                                 std::move(version), std::move(hooks));
    start_.reset();
    return agent_->start();
}

void FleetWiring::overlay_auth(auth::AuthConfig& file) const {
    if (agent_) {
        agent_->overlay_auth(file);
        return;
    }
    if (start_ && start_->parts.users) file.users = *start_->parts.users;
    if (start_ && start_->parts.acl) file.acl = *start_->parts.acl;
}

void FleetWiring::stop() {
    if (agent_) agent_->stop();
}

void FleetWiring::add_routes(api::HttpServer& server, boost::asio::io_context& loop) {
    fleet::FleetAgent& agent = *agent_;
    server.route(
        "GET", "/api/v1/config/revisions",
        [&agent](const HttpRequest&) {
            std::string out;
            JsonWriter w(out);
            const int64_t current = agent.current();
            w.begin_object().field("in_force", current).key("revisions").begin_array();
            for (const auto& r : agent.revisions()) write_revision(w, r, current);
            w.end_array().end_object();
            return api::json_reply(200, std::move(out));
        },
        &loop);
    server.route(
        "GET", "/api/v1/config/revisions/diff",
        [&agent](const HttpRequest& req) {
            auto from = revision_number(req.query_param("from").value_or(""));
            auto to = revision_number(req.query_param("to").value_or(""));
            if (!from || !to) return api::json_error(400, "give from=A&to=B, two revision numbers (0: the configuration file)");
            auto d = agent.diff(*from, *to);
            if (!d) return api::json_error(404, d.error());
            std::string out;
            JsonWriter w(out);
            w.begin_object().field("from", *from).field("to", *to).raw_field("diff", *d).end_object();
            return api::json_reply(200, std::move(out));
        },
        &loop);
    server.route(
        "GET", "/api/v1/config/revisions/{rev}",
        [&agent](const HttpRequest& req) {
            auto n = revision_number(req.param("rev"));
            if (!n) return api::json_error(400, "a revision is a number");
            auto r = agent.revision(*n);
            if (!r) return api::json_error(404, "revision " + std::to_string(*n) + " is not kept on this edge");
            std::string out;
            JsonWriter w(out);
            w.begin_object().key("revision");
            write_revision(w, *r, agent.current());
            // Passwords and hashes are for admins only.
            w.field("config", is_admin(req) ? r->config : fleet::mask_secrets(r->config)).end_object();
            return api::json_reply(200, std::move(out));
        },
        &loop);
    server.route(
        "POST", "/api/v1/config/revisions/{rev}/rollback",
        [&agent](const HttpRequest& req) {
            auto n = revision_number(req.param("rev"));
            if (!n) return api::json_error(400, "a revision is a number");
            // A refusal comes back at once; otherwise the apply and its probe go on
            // and the list of revisions shows how it ended.
            auto refused = std::make_shared<std::optional<fleet::Progress>>();
            agent.rollback(*n, [refused](const fleet::Progress& p) { *refused = p; });
            if (*refused && (*refused)->phase == fleet::Phase::Failed) {
                const fleet::Progress& p = **refused;
                return api::json_error(status_of(p.code), p.errors.empty() ? p.reason : p.errors.front());
            }
            std::string out;
            JsonWriter w(out);
            w.begin_object().field("revision", *n).field("phase", "applying").end_object();
            HttpResponse res = api::json_reply(202, out);
            res.audit_after = out;
            return res;
        },
        &loop, api::Access::change(api::Role::Admin));
}

}  // namespace ib::app
