#include "drivers/device_manager.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <simdjson.h>

#include "core/log.hpp"
#include "core/quote.hpp"
#include "mqtt/broker/router.hpp"
#include "net/loop_check.hpp"

namespace ib::drivers {
namespace {

std::expected<Value, std::string> value_from_json(simdjson::dom::element e) {
    using simdjson::dom::element_type;
    switch (e.type()) {
        case element_type::BOOL: return Value(e.get_bool().value());
        case element_type::INT64: return Value(e.get_int64().value());
        case element_type::UINT64: return Value(e.get_uint64().value());
        case element_type::DOUBLE: return Value(e.get_double().value());
        case element_type::STRING: return Value(std::string(e.get_string().value()));
        case element_type::ARRAY: {
            std::vector<uint8_t> bytes;
            for (auto item : e.get_array()) {
                int64_t b = 0;
                if (item.get_int64().get(b) || b < 0 || b > 255) {
                    return std::unexpected(std::string("an array value must hold numbers 0 to 255 (bytes)"));
                }
                bytes.push_back(static_cast<uint8_t>(b));
            }
            return Value(std::move(bytes));
        }
        default: return std::unexpected(std::string("a value must be a boolean, a number, a string or bytes"));
    }
}

std::string request_error(std::string_view id, std::string_view message) {
    return "{\"id\":" + std::string(id) + ",\"ok\":false,\"error\":" + ib::quoted(message) + "}";
}

std::string result_json(std::string_view id, const WriteResults& results) {
    bool ok = true;
    std::string body;
    for (const auto& [name, error] : results) {
        if (!body.empty()) body += ',';
        body += ib::quoted(name);
        if (error) {
            ok = false;
            body += ":{\"ok\":false,\"code\":" + std::to_string(error->code) + ",\"error\":" + ib::quoted(error->message) + "}";
        } else {
            body += ":{\"ok\":true}";
        }
    }
    return "{\"id\":" + std::string(id) + ",\"ok\":" + (ok ? "true" : "false") + ",\"results\":{" + body + "}}";
}

}  // namespace

DeviceManager::DeviceManager(boost::asio::io_context& io, DriverFactory factory, AddressCheck check,
                             mqtt::broker::Router& router, std::string topic_prefix, Persistence persistence)
    : io_(io),
      factory_(std::move(factory)),
      check_(check),
      router_(router),
      prefix_(std::move(topic_prefix)),
      persistence_(std::move(persistence)) {}

DeviceManager::~DeviceManager() {
    *alive_ = false;
    stop();
}

std::expected<void, std::string> DeviceManager::start(std::vector<DeviceConfig> from_file,
                                                      std::vector<DeviceConfig> stored) {
    for (auto& c : from_file) {
        std::string name = c.name;
        Entry e{std::make_unique<Device>(io_, std::move(c), factory_, router_, prefix_), Source::File};
        devices_.emplace(std::move(name), std::move(e));
    }
    for (auto& c : stored) {
        if (devices_.contains(c.name)) {
            log::warn("devices: device '{}' kept in the data directory is ignored: the config file defines it", c.name);
            continue;
        }
        std::string name = c.name;
        Entry e{std::make_unique<Device>(io_, std::move(c), factory_, router_, prefix_), Source::Api};
        devices_.emplace(std::move(name), std::move(e));
    }
    for (auto& [name, e] : devices_) {
        if (e.device->config().enabled) e.device->start();
    }
    auto sub = router_.subscribe(prefix_ + "/write/+", io_, [this, alive = alive_](const mqtt::broker::Message& m) {
        if (!*alive) return;
        std::string_view topic = m.topic();
        std::string device(topic.substr(topic.rfind('/') + 1));
        auto payload = m.payload();
        std::string_view json(reinterpret_cast<const char*>(payload.data()), payload.size());
        write_json(device, json, [this, device, alive](std::string result, bool) {
            if (!*alive) return;
            auto r = router_.publish(prefix_ + "/write/" + device + "/result", ib::as_bytes(std::string_view(result)));
            if (!r) IB_LOG_LIMITED_WARN("devices: cannot publish a write result for '{}': {}", device, r.error());
        });
    });
    if (!sub) return std::unexpected("devices: cannot subscribe to writes: " + sub.error());
    write_subscription_ = *sub;
    subscribed_ = true;
    if (!devices_.empty()) log::info("devices: {} started", devices_.size());
    return {};
}

void DeviceManager::stop() {
    IB_ASSERT_ON_LOOP(io_);
    if (subscribed_) {
        router_.unsubscribe(write_subscription_);
        subscribed_ = false;
    }
    for (auto& [name, e] : devices_) e.device->stop();
}

std::vector<const Device*> DeviceManager::devices() const {
    IB_ASSERT_ON_LOOP(io_);
    std::vector<const Device*> out;
    for (const auto& [name, e] : devices_) out.push_back(e.device.get());
    return out;
}

const Device* DeviceManager::find(std::string_view name) const {
    IB_ASSERT_ON_LOOP(io_);
    auto it = devices_.find(name);
    return it == devices_.end() ? nullptr : it->second.device.get();
}

DeviceManager::Source DeviceManager::source(std::string_view name) const {
    IB_ASSERT_ON_LOOP(io_);
    auto it = devices_.find(name);
    return it == devices_.end() ? Source::Api : it->second.source;
}

std::expected<void, DeviceError> DeviceManager::create(DeviceConfig config) {
    IB_ASSERT_ON_LOOP(io_);
    if (devices_.contains(config.name)) {
        return std::unexpected(DeviceError{409, "device '" + config.name + "' already exists"});
    }
    if (auto r = persistence_.save(config); !r) {
        return std::unexpected(DeviceError{500, "device '" + config.name + "' not kept: " + r.error()});
    }
    std::string name = config.name;
    Entry e{std::make_unique<Device>(io_, std::move(config), factory_, router_, prefix_), Source::Api};
    auto& device = *devices_.emplace(std::move(name), std::move(e)).first->second.device;
    if (device.config().enabled) device.start();
    log::info("devices: '{}' created through the API", device.config().name);
    return {};
}

std::expected<void, DeviceError> DeviceManager::replace(DeviceConfig config) {
    IB_ASSERT_ON_LOOP(io_);
    auto it = devices_.find(config.name);
    if (it == devices_.end()) return std::unexpected(DeviceError{404, "no device named '" + config.name + "'"});
    if (it->second.source == Source::File) {
        return std::unexpected(DeviceError{
            409, "device '" + config.name + "' is defined in the config file; change it there and restart"});
    }
    if (auto r = persistence_.save(config); !r) {
        return std::unexpected(DeviceError{500, "device '" + config.name + "' not kept: " + r.error()});
    }
    it->second.device->stop();
    it->second.device = std::make_unique<Device>(io_, std::move(config), factory_, router_, prefix_);
    if (it->second.device->config().enabled) it->second.device->start();
    return {};
}

std::expected<void, DeviceError> DeviceManager::remove(std::string_view name) {
    IB_ASSERT_ON_LOOP(io_);
    auto it = devices_.find(name);
    if (it == devices_.end()) return std::unexpected(DeviceError{404, "no device named '" + std::string(name) + "'"});
    if (it->second.source == Source::File) {
        return std::unexpected(DeviceError{
            409, "device '" + std::string(name) + "' is defined in the config file; remove it there and restart"});
    }
    if (auto r = persistence_.remove(name); !r) {
        return std::unexpected(DeviceError{500, "device '" + std::string(name) + "' not removed: " + r.error()});
    }
    it->second.device->stop();
    devices_.erase(it);
    // The retained status would otherwise describe a device that no longer exists.
    auto r = router_.publish(prefix_ + "/status/" + std::string(name), {}, {.qos = 0, .retain = true});
    (void)r;
    log::info("devices: '{}' deleted through the API", name);
    return {};
}

void DeviceManager::write_json(std::string_view device_name, std::string_view json,
                               std::function<void(std::string, bool)> done) {
    IB_ASSERT_ON_LOOP(io_);
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element root;
    std::string id = "null";
    auto refuse = [&](std::string_view why) {
        ++bad_write_requests_;
        IB_LOG_LIMITED_WARN("devices: write to '{}' refused: {}", device_name, why);
        done(request_error(id, why), false);
    };
    if (auto err = parser.parse(padded).get(root); err) {
        return refuse(std::string("the request is not valid JSON: ") + simdjson::error_message(err));
    }
    if (!root.is_object()) return refuse("the request must be a JSON object");
    simdjson::dom::element id_element;
    if (!root["id"].get(id_element)) id = simdjson::minify(id_element);

    auto it = devices_.find(device_name);
    if (it == devices_.end()) return refuse("no device named '" + std::string(device_name) + "'");

    WriteRequest request;
    // A value that is no value at all (bytes above 255, null) fails that tag alone.
    WriteResults refused;
    auto take = [&](std::string_view name, simdjson::dom::element value) {
        auto v = value_from_json(value);
        if (v) request.values.emplace_back(std::string(name), std::move(*v));
        else refused.emplace_back(std::string(name), TagError{static_cast<uint16_t>(TagErrc::BadValue), v.error()});
    };
    simdjson::dom::element tag;
    simdjson::dom::element values;
    if (!root["tag"].get(tag)) {
        std::string_view name;
        if (tag.get_string().get(name)) return refuse("\"tag\" must be a string");
        simdjson::dom::element value;
        if (root["value"].get(value)) return refuse("\"tag\" needs a \"value\"");
        take(name, value);
    } else if (!root["values"].get(values)) {
        simdjson::dom::object object;
        if (values.get_object().get(object)) return refuse("\"values\" must be an object of tag names and values");
        for (auto [k, v] : object) take(k, v);
        if (request.values.empty() && refused.empty()) return refuse("\"values\" is empty");
    } else {
        return refuse("expected {\"id\":..,\"tag\":..,\"value\":..} or {\"id\":..,\"values\":{..}}");
    }
    it->second.device->write(std::move(request), [id, refused = std::move(refused),
                                                  done = std::move(done)](WriteResults results) mutable {
        for (auto& r : refused) results.push_back(std::move(r));
        done(result_json(id, results), true);
    });
}

void DeviceManager::collect_metrics(MetricSink& sink) const {
    IB_ASSERT_ON_LOOP(io_);
    for (const auto& [name, e] : devices_) e.device->collect_metrics(sink);
    sink.push_back({"ib_device_bad_write_requests_total", "Write requests refused before reaching a device.",
                    MetricType::Counter, "", static_cast<double>(bad_write_requests_)});
}

}  // namespace ib::drivers
