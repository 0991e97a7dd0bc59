#include "app/fleet_controller_routes.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <simdjson.h>

#include "api/http_server.hpp"
#include "core/json_writer.hpp"
#include "core/log.hpp"

namespace ib::app {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using api::json_error;

std::expected<simdjson::dom::object, std::string> body_object(simdjson::dom::parser& parser, std::string_view body) {
    simdjson::padded_string padded(body);
    simdjson::dom::element root;
    if (auto err = parser.parse(padded).get(root); err) {
        return std::unexpected(std::string("the body is not valid JSON: ") + simdjson::error_message(err));
    }
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS) return std::unexpected("the body must be a JSON object");
    return obj;
}

// "targets": one pattern or an array of them (any of which selects an edge, as --targets repeated).
std::expected<std::vector<std::string>, std::string> targets_of(simdjson::dom::object obj) {
    std::vector<std::string> out;
    simdjson::dom::element t;
    if (obj["targets"].get(t) != simdjson::SUCCESS) return std::unexpected("targets: give a pattern or an array of them");
    std::string_view one;
    if (t.get(one) == simdjson::SUCCESS) return std::vector<std::string>{std::string(one)};
    simdjson::dom::array list;
    if (t.get(list) != simdjson::SUCCESS) return std::unexpected("targets: a string or an array of strings");
    for (auto e : list) {
        if (e.get(one) != simdjson::SUCCESS) return std::unexpected("targets: a string or an array of strings");
        out.emplace_back(one);
    }
    return out;
}

// "params": CSV or TOML text as the CLI reads (`params_format`, csv by default),
// or an array of objects, one per edge, with `edge`, `site` and the parameters.
std::expected<std::vector<fleet_ctl::EdgeParams>, std::string> params_of(simdjson::dom::object obj) {
    simdjson::dom::element p;
    if (obj["params"].get(p) != simdjson::SUCCESS) return std::vector<fleet_ctl::EdgeParams>{};
    std::string_view text;
    if (p.get(text) == simdjson::SUCCESS) {
        std::string_view format;
        if (obj["params_format"].get(format) != simdjson::SUCCESS) format = "csv";
        if (format == "csv") return fleet_ctl::parse_params_csv(text, "params");
        if (format == "toml") return fleet_ctl::parse_params_toml(text, "params");
        return std::unexpected("params_format: csv or toml");
    }
    simdjson::dom::array rows;
    if (p.get(rows) != simdjson::SUCCESS) return std::unexpected("params: CSV or TOML text, or an array of objects");
    std::vector<fleet_ctl::EdgeParams> out;
    for (auto row : rows) {
        simdjson::dom::object fields;
        if (row.get(fields) != simdjson::SUCCESS) return std::unexpected("params: each row is an object");
        fleet_ctl::EdgeParams e;
        for (auto [key, value] : fields) {
            std::string_view s;
            std::string v = value.get(s) == simdjson::SUCCESS ? std::string(s) : simdjson::minify(value);
            e.values[std::string(key)] = v;
        }
        e.edge = e.values["edge"];
        e.site = e.values["site"];
        if (e.edge.empty() || e.site.empty()) return std::unexpected("params: each row needs \"edge\" and \"site\"");
        out.push_back(std::move(e));
    }
    return out;
}

HttpResponse accepted(const std::expected<fleet_ctl::Accepted, std::string>& a, const fleet_ctl::FleetService& service) {
    if (!a) return json_error(service.connected() ? 400 : 503, a.error());
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("id", a->id).field("revision", a->revision).field("edges", a->edges);
    w.field("status", "/api/v1/fleet/pushes/" + a->id).end_object();
    HttpResponse res = api::json_reply(202, out);
    res.audit_after = out;
    return res;
}

HttpResponse template_order(fleet_ctl::FleetService& service, boost::asio::io_context& api_loop, std::string_view body,
                            bool dry_run) {
    simdjson::dom::parser parser;
    auto obj = body_object(parser, body);
    if (!obj) return json_error(400, obj.error());
    fleet_ctl::TemplateOrder o;
    o.dry_run = dry_run;
    std::string_view text;
    if ((*obj)["template"].get(text) != simdjson::SUCCESS) return json_error(400, "template: the configuration text");
    o.template_text = std::string(text);
    auto targets = targets_of(*obj);
    if (!targets) return json_error(400, targets.error());
    o.targets = std::move(*targets);
    auto params = params_of(*obj);
    if (!params) return json_error(400, params.error());
    o.params = std::move(*params);
    int64_t revision = 0;
    if ((*obj)["revision"].get(revision) == simdjson::SUCCESS) o.revision = revision;
    simdjson::dom::element base;
    if ((*obj)["base"].get(base) == simdjson::SUCCESS) {
        std::string_view b;
        o.base = base.get(b) == simdjson::SUCCESS ? std::string(b) : simdjson::minify(base);
    }
    // Filled off the API's loop, so the console and the probes keep their
    // answers while 1,000 edges' templates are filled; answered from the loop.
    HttpResponse r;
    r.deferred = [&service, &api_loop, o = std::move(o)](std::function<void(HttpResponse)> reply) mutable {
        auto answer = [&service, &api_loop, reply](std::expected<fleet_ctl::Accepted, std::string> a) {
            boost::asio::post(api_loop, [reply, res = accepted(a, service)]() mutable { reply(std::move(res)); });
        };
        if (!service.order_async(std::move(o), std::move(answer))) {
            HttpResponse busy = json_error(503, "other orders are being prepared; try again");
            busy.headers.emplace_back("Retry-After", "1");
            reply(std::move(busy));
        }
    };
    return r;
}

}  // namespace

std::expected<std::unique_ptr<fleet_ctl::FleetService>, std::string> start_fleet_controller(
    const fleet_ctl::ControllerConfig& config, const std::string& data_dir) {
    if (!config.active()) return nullptr;
    auto pushes = store::PushStore::open(data_dir + "/fleet-pushes.db");
    if (!pushes) return std::unexpected("cannot open the fleet controller's orders: " + pushes.error());
    if (!pushes->recovered_from().empty()) {
        log::error("fleet controller: fleet-pushes.db was unreadable and has been moved aside to {}; earlier orders are forgotten",
                   pushes->recovered_from());
    }
    auto service = std::make_unique<fleet_ctl::FleetService>(config, std::move(*pushes));
    service->start();
    return service;
}

void add_fleet_controller_routes(api::HttpServer& server, fleet_ctl::FleetService& service,
                                 boost::asio::io_context& api_loop) {
    server.route("GET", "/api/v1/fleet/edges",
                 [&service](const HttpRequest&) { return api::json_reply(200, service.edges_json()); });
    server.route("GET", "/api/v1/fleet/pushes/{id}", [&service](const HttpRequest& req) {
        auto json = service.push_json(std::string(req.param("id")));
        if (!json) return json_error(404, "no push '" + std::string(req.param("id")) + "' (the last ones are kept)");
        return api::json_reply(200, std::move(*json));
    });
    server.route("POST", "/api/v1/fleet/push",
                 [&service, &api_loop](const HttpRequest& req) { return template_order(service, api_loop, req.body, false); });
    server.route("POST", "/api/v1/fleet/dry-run",
                 [&service, &api_loop](const HttpRequest& req) { return template_order(service, api_loop, req.body, true); });
    server.route("POST", "/api/v1/fleet/rollback", [&service](const HttpRequest& req) {
        simdjson::dom::parser parser;
        auto obj = body_object(parser, req.body);
        if (!obj) return json_error(400, obj.error());
        int64_t to = 0;
        if ((*obj)["to"].get(to) != simdjson::SUCCESS) return json_error(400, "to: the revision to go back to");
        auto targets = targets_of(*obj);
        if (!targets) return json_error(400, targets.error());
        return accepted(service.rollback(std::move(*targets), to), service);
    });
}

}  // namespace ib::app
