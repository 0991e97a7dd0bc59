#include "app/console_routes.hpp"

#include <charconv>
#include <string>

#include "api/http_server.hpp"
#include "config/render.hpp"
#include "core/json_writer.hpp"
#include "core/log.hpp"

namespace ib::app {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using api::json_error;

constexpr size_t kDefaultLines = 200;
constexpr size_t kMaxLines = 2000;

// GET /api/v1/logs?level=warning&module=bridge&limit=200: oldest first.
HttpResponse logs(const HttpRequest& req) {
    auto level = spdlog::level::trace;
    if (auto name = api::query_param(req.query, "level"); name && !name->empty()) {
        level = spdlog::level::from_str(*name);
        if (level == spdlog::level::off) {
            return json_error(400, "level: expected trace, debug, info, warning, error or critical");
        }
    }
    size_t limit = kDefaultLines;
    if (auto text = api::query_param(req.query, "limit")) {
        auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
        if (ec != std::errc{} || end != text->data() + text->size() || limit == 0 || limit > kMaxLines) {
            return json_error(400, "limit: expected 1 to " + std::to_string(kMaxLines));
        }
    }
    const std::string module = api::query_param(req.query, "module").value_or("");
    HttpResponse r;
    JsonWriter w(r.body);
    w.begin_object().key("lines").begin_array();
    for (const auto& line : log::recent_lines(level, module, limit)) {
        const auto name = spdlog::level::to_string_view(line.level);
        w.begin_object()
            .field("time_ms", line.unix_ms)
            .field("level", std::string_view(name.data(), name.size()))
            .field("module", log::module_of(line.text))
            .field("text", line.text)
            .end_object();
    }
    w.end_array().end_object();
    return r;
}

}  // namespace

void add_console_routes(api::HttpServer& server, const config::NodeConfig& config) {
    server.route("GET", "/api/v1/logs", logs);
    server.route("GET", "/api/v1/config", [&config](const HttpRequest&) {
        return api::json_reply(200, config::settings_in_force_json(config));
    });
}

}  // namespace ib::app
