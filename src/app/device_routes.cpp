#include "app/device_routes.hpp"

#include <simdjson.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_server.hpp"
#include "core/json_writer.hpp"
#include "drivers/device_manager.hpp"
#include "drivers/device_settings.hpp"

namespace ib::app {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using api::json_error;
using api::json_reply;
using drivers::DeviceConfig;
using drivers::DeviceManager;

// The one place a device error becomes an HTTP status.
unsigned http_status(drivers::DeviceErrc kind) {
    switch (kind) {
        case drivers::DeviceErrc::NotFound: return 404;
        case drivers::DeviceErrc::Exists: return 409;
        case drivers::DeviceErrc::FromFile: return 409;
        case drivers::DeviceErrc::Storage: return 500;
    }
    return 500;
}

HttpResponse no_device(std::string_view name) { return json_error(404, "no device named '" + std::string(name) + "'"); }

std::string_view source_name(DeviceManager::Source s) {
    switch (s) {
        case DeviceManager::Source::File: return "file";
        case DeviceManager::Source::Api: return "api";
        case DeviceManager::Source::Fleet: return "fleet";
    }
    return "api";
}

void write_summary(JsonWriter& w, const DeviceManager& devices, const drivers::Device& d) {
    size_t tags = 0;
    for (const auto& g : d.config().groups) tags += g.tags.size();
    w.begin_object()
        .field("name", d.config().name)
        .field("driver", drivers::driver_name(d.config().driver))
        .field("source", source_name(devices.source(d.config().name)))
        .field("enabled", d.config().enabled)
        .field("state", drivers::link_state_name(d.state()));
    if (!d.last_error().empty()) w.field("error", d.last_error());
    w.field("groups", d.config().groups.size()).field("tags", tags).end_object();
}

HttpResponse from(const std::expected<void, drivers::DeviceError>& r, unsigned ok_status, std::string ok_body) {
    if (!r) return json_error(http_status(r.error().kind), r.error().message);
    return json_reply(ok_status, std::move(ok_body));
}

// Applies an edit to a copy of an API device and swaps it in.
template <typename Edit>
HttpResponse edit(DeviceManager& devices, std::string_view name, Edit&& change) {
    const drivers::Device* d = devices.find(name);
    if (d == nullptr) return no_device(name);
    DeviceConfig copy = d->config();
    if (auto problem = change(copy); !problem.empty()) return problem.front();
    auto problems = drivers::check_device(copy);
    if (!problems.empty()) {
        std::string text;
        for (auto& p : problems) text += (text.empty() ? "" : "\n") + p;
        return json_error(400, text);
    }
    std::string body = drivers::device_to_json(copy, drivers::Secrets::Masked);
    return from(devices.replace(std::move(copy)), 200, std::move(body));
}

drivers::GroupConfig* find_group(DeviceConfig& d, std::string_view name) {
    for (auto& g : d.groups) {
        if (g.name == name) return &g;
    }
    return nullptr;
}

HttpResponse no_group(std::string_view name) { return json_error(404, "no group named '" + std::string(name) + "'"); }

HttpResponse list(const DeviceManager& devices) {
    std::string out;
    JsonWriter w(out);
    w.begin_array();
    for (const auto* d : devices.devices()) write_summary(w, devices, *d);
    w.end_array();
    return json_reply(200, std::move(out));
}

HttpResponse create(DeviceManager& devices, const HttpRequest& req) {
    auto config = drivers::device_from_json(req.body, devices.address_check());
    if (!config) return json_error(400, config.error());
    std::string body = drivers::device_to_json(*config, drivers::Secrets::Masked);
    return from(devices.create(std::move(*config)), 201, std::move(body));
}

HttpResponse get(const DeviceManager& devices, std::string_view name) {
    const drivers::Device* device = devices.find(name);
    if (!device) return no_device(name);
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("status");
    write_summary(w, devices, *device);
    w.raw_field("config", drivers::device_to_json(device->config(), drivers::Secrets::Masked)).end_object();
    return json_reply(200, std::move(out));
}

HttpResponse replace(DeviceManager& devices, const HttpRequest& req, std::string_view name) {
    auto config = drivers::device_from_json(req.body, devices.address_check());
    if (!config) return json_error(400, config.error());
    if (config->name != name) {
        return json_error(400, "the body names device '" + config->name + "', the path '" + std::string(name) + "'");
    }
    const drivers::Device* old = devices.find(name);
    if (old != nullptr) drivers::keep_masked_secrets(*config, old->config());
    std::string body = drivers::device_to_json(*config, drivers::Secrets::Masked);
    std::string before = old != nullptr ? drivers::device_to_json(old->config(), drivers::Secrets::Masked) : std::string();
    HttpResponse r = from(devices.replace(std::move(*config)), 200, body);
    if (r.status == 200) {
        r.audit_before = std::move(before);
        r.audit_after = std::move(body);
    }
    return r;
}

HttpResponse remove(DeviceManager& devices, std::string_view name) {
    std::string body;
    JsonWriter(body).begin_object().field("deleted", name).end_object();
    const drivers::Device* old = devices.find(name);
    std::string before = old != nullptr ? drivers::device_to_json(old->config(), drivers::Secrets::Masked) : std::string();
    HttpResponse r = from(devices.remove(name), 200, std::move(body));
    if (r.status == 200) r.audit_before = std::move(before);
    return r;
}

HttpResponse write(DeviceManager& devices, const HttpRequest& req, std::string_view name) {
    if (!devices.find(name)) return no_device(name);
    HttpResponse r;
    r.deferred = [&devices, device_name = std::string(name), body = std::string(req.body)](
                     std::function<void(HttpResponse)> reply) {
        devices.write_json(device_name, body, [reply](const WriteResult& result) {
            std::string text;
            encode_write_result(text, result);
            // A request refused whole (not JSON, no tag) is the client's; a tag that
            // failed on the device is reported per tag in a 200.
            reply(json_reply(result.error.empty() ? 200 : 400, std::move(text)));
        });
    };
    return r;
}

// The children of a node (OPC UA), as the driver lists them: ?node=ns=0;i=85
// (the Objects folder when absent). Runs on the device's loop; the answer
// comes when the server has answered.
HttpResponse browse(DeviceManager& devices, const HttpRequest& req, std::string_view name) {
    if (!devices.find(name)) return no_device(name);
    HttpResponse r;
    r.deferred = [&devices, device_name = std::string(name), node = req.query_param("node").value_or("")](
                     std::function<void(HttpResponse)> reply) {
        devices.browse(device_name, node, [reply](drivers::BrowseOutcome result) {
            if (result) return reply(json_reply(200, std::move(*result)));
            const auto code = static_cast<drivers::TagErrc>(result.error().code);
            const unsigned status = code == drivers::TagErrc::BadValue        ? 400
                                    : code == drivers::TagErrc::Disconnected  ? 503
                                    : code == drivers::TagErrc::DeviceStatus  ? 404
                                                                              : 502;
            reply(json_error(status, result.error().message));
        });
    };
    return r;
}

HttpResponse add_group(DeviceManager& devices, const HttpRequest& req, std::string_view name) {
    const drivers::Device* device = devices.find(name);
    if (!device) return no_device(name);
    auto group = drivers::group_from_json(req.body, device->config(), devices.address_check());
    if (!group) return json_error(400, group.error());
    return edit(devices, name, [&](DeviceConfig& c) -> std::vector<HttpResponse> {
        c.groups.push_back(std::move(*group));
        return {};
    });
}

HttpResponse replace_group(DeviceManager& devices, const HttpRequest& req, std::string_view name,
                           std::string_view group_name) {
    const drivers::Device* device = devices.find(name);
    if (!device) return no_device(name);
    auto group = drivers::group_from_json(req.body, device->config(), devices.address_check());
    if (!group) return json_error(400, group.error());
    return edit(devices, name, [&](DeviceConfig& c) -> std::vector<HttpResponse> {
        drivers::GroupConfig* g = find_group(c, group_name);
        if (!g) return {no_group(group_name)};
        *g = std::move(*group);
        return {};
    });
}

HttpResponse remove_group(DeviceManager& devices, std::string_view name, std::string_view group_name) {
    return edit(devices, name, [&](DeviceConfig& c) -> std::vector<HttpResponse> {
        auto before = c.groups.size();
        std::erase_if(c.groups, [&](const drivers::GroupConfig& g) { return g.name == group_name; });
        if (before == c.groups.size()) return {no_group(group_name)};
        return {};
    });
}

// Bulk: an array of tags (or one tag); each gets its own result, and the valid
// ones are added even when others are refused.
HttpResponse add_tags(DeviceManager& devices, const HttpRequest& req, std::string_view name,
                      std::string_view group_name) {
    const drivers::Device* device = devices.find(name);
    if (!device) return no_device(name);
    simdjson::dom::parser parser;
    simdjson::padded_string padded(req.body);
    simdjson::dom::element root;
    if (auto err = parser.parse(padded).get(root); err) {
        return json_error(400, std::string("the body is not valid JSON: ") + simdjson::error_message(err));
    }
    std::vector<std::string> items;
    if (root.is_array()) {
        for (auto e : root.get_array()) items.push_back(simdjson::minify(e));
    } else {
        items.push_back(simdjson::minify(root));
    }
    std::vector<drivers::TagConfig> accepted;
    std::string results;
    JsonWriter rw(results);
    size_t refused = 0;
    // A name taken (by the device or earlier in this request) refuses that tag
    // alone, not the whole request.
    std::set<std::string> names;
    for (const auto& g : device->config().groups) {
        for (const auto& t : g.tags) names.insert(std::string(t.name()));
    }
    for (const std::string& item : items) {
        auto tag = drivers::tag_from_json(item, device->config(), devices.address_check());
        if (tag && !names.insert(std::string(tag->name())).second) {
            tag = std::unexpected(drivers::tag_name_taken(tag->name()));
        }
        if (tag) {
            rw.begin_object().field("name", tag->name()).field("ok", true).end_object();
            accepted.push_back(std::move(*tag));
        } else {
            ++refused;
            rw.begin_object().field("ok", false).field("error", tag.error()).end_object();
        }
    }
    const size_t added = accepted.size();
    if (!accepted.empty()) {
        HttpResponse r = edit(devices, name, [&](DeviceConfig& c) -> std::vector<HttpResponse> {
            drivers::GroupConfig* g = find_group(c, group_name);
            if (!g) return {no_group(group_name)};
            for (auto& t : accepted) g->tags.push_back(std::move(t));
            return {};
        });
        if (r.status != 200) return r;
    }
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("added", added).field("refused", refused).key("results").begin_array().raw(results);
    w.end_array().end_object();
    return json_reply(refused == 0 ? 200 : (added == 0 ? 400 : 207), std::move(out));
}

HttpResponse remove_tag(DeviceManager& devices, std::string_view name, std::string_view group_name,
                        std::string_view tag_name) {
    return edit(devices, name, [&](DeviceConfig& c) -> std::vector<HttpResponse> {
        drivers::GroupConfig* g = find_group(c, group_name);
        if (!g) return {no_group(group_name)};
        auto before = g->tags.size();
        std::erase_if(g->tags, [&](const drivers::TagConfig& t) { return t.name() == tag_name; });
        if (before == g->tags.size()) return {json_error(404, "no tag named '" + std::string(tag_name) + "'")};
        return {};
    });
}

}  // namespace

void add_device_routes(api::HttpServer& server, DeviceManager& devices, boost::asio::io_context& devices_loop) {
    auto route = [&](const char* method, const char* path, auto handler,
                     std::optional<api::Access> access = std::nullopt) {
        server.route(method, path, [&devices, handler](const HttpRequest& r) { return handler(devices, r); },
                     &devices_loop, access);
    };
    route("GET", "/api/v1/devices", [](DeviceManager& d, const HttpRequest&) { return list(d); });
    route("POST", "/api/v1/devices", [](DeviceManager& d, const HttpRequest& r) { return create(d, r); });
    route("GET", "/api/v1/devices/{name}",
          [](DeviceManager& d, const HttpRequest& r) { return get(d, r.param("name")); });
    route("PUT", "/api/v1/devices/{name}",
          [](DeviceManager& d, const HttpRequest& r) { return replace(d, r, r.param("name")); });
    route("DELETE", "/api/v1/devices/{name}",
          [](DeviceManager& d, const HttpRequest& r) { return remove(d, r.param("name")); });
    route("GET", "/api/v1/devices/{name}/values", [](DeviceManager& d, const HttpRequest& r) {
        const drivers::Device* device = d.find(r.param("name"));
        return device ? json_reply(200, device->values_json()) : no_device(r.param("name"));
    });
    // Writing a value is an operator's job; changing a device is an admin's.
    route("POST", "/api/v1/devices/{name}/write",
          [](DeviceManager& d, const HttpRequest& r) { return write(d, r, r.param("name")); },
          api::Access::change(api::Role::Operator));
    route("GET", "/api/v1/devices/{name}/browse",
          [](DeviceManager& d, const HttpRequest& r) { return browse(d, r, r.param("name")); });
    route("POST", "/api/v1/devices/{name}/groups",
          [](DeviceManager& d, const HttpRequest& r) { return add_group(d, r, r.param("name")); });
    route("PUT", "/api/v1/devices/{name}/groups/{group}", [](DeviceManager& d, const HttpRequest& r) {
        return replace_group(d, r, r.param("name"), r.param("group"));
    });
    route("DELETE", "/api/v1/devices/{name}/groups/{group}", [](DeviceManager& d, const HttpRequest& r) {
        return remove_group(d, r.param("name"), r.param("group"));
    });
    route("POST", "/api/v1/devices/{name}/groups/{group}/tags", [](DeviceManager& d, const HttpRequest& r) {
        return add_tags(d, r, r.param("name"), r.param("group"));
    });
    route("DELETE", "/api/v1/devices/{name}/groups/{group}/tags/{tag}", [](DeviceManager& d, const HttpRequest& r) {
        return remove_tag(d, r.param("name"), r.param("group"), r.param("tag"));
    });
}

}  // namespace ib::app
