#include "app/device_routes.hpp"

#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "api/http_server.hpp"
#include "core/quote.hpp"
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

std::vector<std::string_view> segments(std::string_view path) {
    std::vector<std::string_view> out;
    while (!path.empty()) {
        auto slash = path.find('/');
        std::string_view s = path.substr(0, slash);
        if (!s.empty()) out.push_back(s);
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

std::string summary(const DeviceManager& devices, const drivers::Device& d) {
    size_t tags = 0;
    for (const auto& g : d.config().groups) tags += g.tags.size();
    std::string out = "{\"name\":" + ib::quoted(d.config().name) + ",\"driver\":\"" +
                      std::string(drivers::driver_name(d.config().driver)) + "\",\"source\":\"" +
                      (devices.source(d.config().name) == DeviceManager::Source::File ? "file" : "api") +
                      "\",\"enabled\":" + (d.config().enabled ? "true" : "false") + ",\"state\":\"" +
                      std::string(drivers::link_state_name(d.state())) + "\"";
    if (!d.last_error().empty()) out += ",\"error\":" + ib::quoted(d.last_error());
    return out + ",\"groups\":" + std::to_string(d.config().groups.size()) + ",\"tags\":" + std::to_string(tags) + "}";
}

HttpResponse from(const std::expected<void, drivers::DeviceError>& r, unsigned ok_status, std::string ok_body) {
    if (!r) return json_error(r.error().status, r.error().message);
    return json_reply(ok_status, std::move(ok_body));
}

// Applies an edit to a copy of an API device and swaps it in.
template <typename Edit>
HttpResponse edit(DeviceManager& devices, std::string_view name, Edit&& change) {
    const drivers::Device* d = devices.find(name);
    if (d == nullptr) return json_error(404, "no device named '" + std::string(name) + "'");
    DeviceConfig copy = d->config();
    if (auto problem = change(copy); !problem.empty()) return problem.front();
    auto problems = drivers::check_device(copy);
    if (!problems.empty()) {
        std::string text;
        for (auto& p : problems) text += (text.empty() ? "" : "\n") + p;
        return json_error(400, text);
    }
    std::string body = drivers::device_to_json(copy);
    return from(devices.replace(std::move(copy)), 200, std::move(body));
}

drivers::GroupConfig* find_group(DeviceConfig& d, std::string_view name) {
    for (auto& g : d.groups) {
        if (g.name == name) return &g;
    }
    return nullptr;
}

HttpResponse handle(DeviceManager& devices, const HttpRequest& req) {
    auto seg = segments(req.path);  // api v1 devices [name [groups [g [tags [t]]]]]
    if (seg.size() < 3) return json_error(404, "not found");
    const std::string_view method = req.method;
    const size_t n = seg.size() - 3;
    std::string_view name = n >= 1 ? seg[3] : "";

    if (n == 0) {
        if (method == "GET") {
            std::string out = "[";
            for (const auto* d : devices.devices()) out += (out.size() > 1 ? "," : "") + summary(devices, *d);
            return json_reply(200, out + "]");
        }
        if (method == "POST") {
            auto config = drivers::device_from_json(req.body, devices.address_check());
            if (!config) return json_error(400, config.error());
            std::string body = drivers::device_to_json(*config);
            return from(devices.create(std::move(*config)), 201, std::move(body));
        }
        return json_error(405, "use GET or POST on /api/v1/devices");
    }
    const drivers::Device* device = devices.find(name);
    if (n == 1) {
        if (method == "GET") {
            if (!device) return json_error(404, "no device named '" + std::string(name) + "'");
            return json_reply(200, "{\"status\":" + summary(devices, *device) +
                                 ",\"config\":" + drivers::device_to_json(device->config()) + "}");
        }
        if (method == "PUT") {
            auto config = drivers::device_from_json(req.body, devices.address_check());
            if (!config) return json_error(400, config.error());
            if (config->name != name) {
                return json_error(400, "the body names device '" + config->name + "', the path '" + std::string(name) + "'");
            }
            std::string body = drivers::device_to_json(*config);
            return from(devices.replace(std::move(*config)), 200, std::move(body));
        }
        if (method == "DELETE") return from(devices.remove(name), 200, "{\"deleted\":" + ib::quoted(name) + "}");
        return json_error(405, "use GET, PUT or DELETE on a device");
    }
    if (!device) return json_error(404, "no device named '" + std::string(name) + "'");
    std::string_view what = seg[4];
    if (n == 2 && what == "values" && method == "GET") return json_reply(200, device->values_json());
    if (n == 2 && what == "write" && method == "POST") {
        HttpResponse r;
        std::string device_name(name);
        std::string body(req.body);
        r.deferred = [&devices, device_name, body](std::function<void(HttpResponse)> reply) {
            devices.write_json(device_name, body, [reply](std::string result, bool understood) {
                reply(json_reply(understood ? 200 : 400, std::move(result)));
            });
        };
        return r;
    }
    if (what != "groups") return json_error(404, "not found");
    if (n == 2 && method == "POST") {
        auto group = drivers::group_from_json(req.body, device->config(), devices.address_check());
        if (!group) return json_error(400, group.error());
        return edit(devices, name, [&](DeviceConfig& c) -> std::vector<HttpResponse> {
            c.groups.push_back(std::move(*group));
            return {};
        });
    }
    if (n < 3) return json_error(405, "use POST on a device's groups");
    std::string_view group_name = seg[5];
    if (n == 3 && method == "PUT") {
        auto group = drivers::group_from_json(req.body, device->config(), devices.address_check());
        if (!group) return json_error(400, group.error());
        return edit(devices, name, [&](DeviceConfig& c) -> std::vector<HttpResponse> {
            drivers::GroupConfig* g = find_group(c, group_name);
            if (!g) return {json_error(404, "no group named '" + std::string(group_name) + "'")};
            *g = std::move(*group);
            return {};
        });
    }
    if (n == 3 && method == "DELETE") {
        return edit(devices, name, [&](DeviceConfig& c) -> std::vector<HttpResponse> {
            auto before = c.groups.size();
            std::erase_if(c.groups, [&](const drivers::GroupConfig& g) { return g.name == group_name; });
            if (before == c.groups.size()) return {json_error(404, "no group named '" + std::string(group_name) + "'")};
            return {};
        });
    }
    if (n == 4 && seg[6] == "tags" && method == "POST") {
        // Bulk: an array of tags (or one tag); each gets its own result, and the
        // valid ones are added even when others are refused.
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
        size_t refused = 0;
        for (const std::string& item : items) {
            auto tag = drivers::tag_from_json(item, device->config(), devices.address_check());
            if (!results.empty()) results += ",";
            if (tag) {
                results += "{\"name\":" + ib::quoted(tag->name) + ",\"ok\":true}";
                accepted.push_back(std::move(*tag));
            } else {
                ++refused;
                results += "{\"ok\":false,\"error\":" + ib::quoted(tag.error()) + "}";
            }
        }
        if (!accepted.empty()) {
            HttpResponse r = edit(devices, name, [&](DeviceConfig& c) -> std::vector<HttpResponse> {
                drivers::GroupConfig* g = find_group(c, group_name);
                if (!g) return {json_error(404, "no group named '" + std::string(group_name) + "'")};
                for (auto& t : accepted) g->tags.push_back(std::move(t));
                return {};
            });
            if (r.status != 200) return r;
        }
        return json_reply(refused == 0 ? 200 : (accepted.empty() ? 400 : 207),
                    "{\"added\":" + std::to_string(accepted.size()) + ",\"refused\":" + std::to_string(refused) +
                        ",\"results\":[" + results + "]}");
    }
    if (n == 5 && seg[6] == "tags" && method == "DELETE") {
        std::string_view tag_name = seg[7];
        return edit(devices, name, [&](DeviceConfig& c) -> std::vector<HttpResponse> {
            drivers::GroupConfig* g = find_group(c, group_name);
            if (!g) return {json_error(404, "no group named '" + std::string(group_name) + "'")};
            auto before = g->tags.size();
            std::erase_if(g->tags, [&](const drivers::TagConfig& t) { return t.name == tag_name; });
            if (before == g->tags.size()) return {json_error(404, "no tag named '" + std::string(tag_name) + "'")};
            return {};
        });
    }
    return json_error(404, "not found");
}

}  // namespace

void add_device_routes(api::HttpServer& server, DeviceManager& devices, boost::asio::io_context& devices_loop) {
    for (const char* method : {"GET", "POST", "PUT", "DELETE"}) {
        server.route(method, "/api/v1/devices", [&devices](const HttpRequest& r) { return handle(devices, r); },
                     &devices_loop);
        server.route(method, "/api/v1/devices/*", [&devices](const HttpRequest& r) { return handle(devices, r); },
                     &devices_loop);
    }
}

}  // namespace ib::app
