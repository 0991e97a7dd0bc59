#include "app/mqtt_routes.hpp"

#include <simdjson.h>

#include <functional>
#include <string>

#include "api/http_server.hpp"
#include "mqtt/broker/broker.hpp"
#include "mqtt/broker/router.hpp"

namespace ib::app {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using api::json_error;

// POST /api/v1/mqtt/publish: {"topic": "t", "payload": "text", "qos": 0, "retain": false}.
// The topic is checked as a network client's would be; the answer says why it was refused.
HttpResponse publish(mqtt::broker::Router& router, std::string_view body) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::object obj;
    if (auto err = parser.parse(padded).get_object().get(obj); err) {
        return json_error(400, "the body must be a JSON object: {\"topic\": ..., \"payload\": ...}");
    }
    std::string_view topic, payload;
    if (obj["topic"].get_string().get(topic) != simdjson::SUCCESS) return json_error(400, "topic: a string is required");
    if (auto p = obj["payload"]; p.error() != simdjson::NO_SUCH_FIELD && p.get_string().get(payload) != simdjson::SUCCESS) {
        return json_error(400, "payload: expected a string");
    }
    int64_t qos = 0;
    if (auto q = obj["qos"]; q.error() != simdjson::NO_SUCH_FIELD && (q.get_int64().get(qos) || qos < 0 || qos > 2)) {
        return json_error(400, "qos: expected 0, 1 or 2");
    }
    bool retain = false;
    if (auto r = obj["retain"]; r.error() != simdjson::NO_SUCH_FIELD && r.get_bool().get(retain)) {
        return json_error(400, "retain: expected true or false");
    }
    mqtt::broker::PublishOptions options;
    options.qos = static_cast<uint8_t>(qos);
    options.retain = retain;
    Bytes bytes(reinterpret_cast<const std::byte*>(payload.data()), payload.size());
    if (auto ok = router.publish(topic, bytes, options); !ok) return json_error(400, "topic: " + ok.error());
    return api::json_reply(200, R"({"published":true})");
}

// Beyond this many sessions per shard the list is cut (the total says how many there are).
constexpr size_t kMaxClientsListed = 1000;

}  // namespace

void add_mqtt_routes(api::HttpServer& server, mqtt::broker::Broker& broker, boost::asio::io_context& api_loop) {
    server.route("POST", "/api/v1/mqtt/publish",
                 [&broker](const HttpRequest& req) { return publish(broker.router(), req.body); }, nullptr,
                 api::Access::change(api::Role::Operator));
    // Each shard lists its sessions on its own loop; the answer is written from the API's.
    server.route("GET", "/api/v1/mqtt/clients", [&broker, &api_loop](const HttpRequest&) {
        HttpResponse r;
        r.deferred = [&broker, &api_loop](std::function<void(HttpResponse)> reply) {
            broker.list_clients(kMaxClientsListed, api_loop,
                                [reply](std::string json) { reply(api::json_reply(200, std::move(json))); });
        };
        return r;
    });
}

}  // namespace ib::app
