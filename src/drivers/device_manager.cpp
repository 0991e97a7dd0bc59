#include "drivers/device_manager.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "core/log.hpp"
#include "mqtt/broker/router.hpp"
#include "net/loop_check.hpp"

namespace ib::drivers {
namespace {

// A result for the bus and the API: the device's per-tag outcome, in request order.
WriteResult to_result(std::string id, const WriteResults& results) {
    WriteResult out;
    out.id = std::move(id);
    out.ok = true;
    for (const auto& [name, error] : results) {
        WriteTagResult r;
        r.tag = name;
        if (error) {
            out.ok = false;
            r.ok = false;
            r.code = error->code;
            r.error = error->message;
        }
        out.results.push_back(std::move(r));
    }
    return out;
}

}  // namespace

DeviceManager::DeviceManager(boost::asio::io_context& io, DriverFactory factory, AddressCheck check,
                             mqtt::broker::Router& router, BusTopics bus, Persistence persistence)
    : io_(io),
      factory_(std::move(factory)),
      check_(check),
      router_(router),
      bus_(std::move(bus)),
      persistence_(std::move(persistence)) {}

DeviceManager::~DeviceManager() {
    *alive_ = false;
    stop();
}

std::expected<void, std::string> DeviceManager::start(std::vector<DeviceConfig> from_file,
                                                      std::vector<DeviceConfig> stored) {
    for (auto& c : from_file) {
        std::string name = c.name;
        Entry e{std::make_unique<Device>(io_, std::move(c), factory_, router_, bus_), Source::File};
        devices_.emplace(std::move(name), std::move(e));
    }
    for (auto& c : stored) {
        if (devices_.contains(c.name)) {
            log::warn("devices: device '{}' kept in the data directory is ignored: the config file defines it", c.name);
            continue;
        }
        std::string name = c.name;
        Entry e{std::make_unique<Device>(io_, std::move(c), factory_, router_, bus_), Source::Api};
        devices_.emplace(std::move(name), std::move(e));
    }
    for (auto& [name, e] : devices_) {
        if (e.device->config().enabled) e.device->start();
    }
    auto sub = router_.subscribe(bus_.write_filter(), io_, [this, alive = alive_](const mqtt::broker::Message& m) {
        if (!*alive) return;
        auto name = bus_.device_of_write(m.topic());
        if (!name) return;  // the filter admits only <prefix>/write/<device>
        std::string device(*name);
        auto payload = m.payload();
        std::string_view json(reinterpret_cast<const char*>(payload.data()), payload.size());
        write_json(device, json, [this, device, alive](const WriteResult& result) {
            if (!*alive) return;
            std::string text;
            encode_write_result(text, result);
            auto r = router_.publish(bus_.write_result(device), ib::as_bytes(std::string_view(text)));
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

std::expected<void, DeviceError> DeviceManager::create(DeviceConfig config, Source by) {
    IB_ASSERT_ON_LOOP(io_);
    if (devices_.contains(config.name)) {
        return std::unexpected(DeviceError{DeviceErrc::Exists, "device '" + config.name + "' already exists"});
    }
    if (by == Source::Api) {
        if (auto r = persistence_.save(config); !r) {
            return std::unexpected(DeviceError{DeviceErrc::Storage, "device '" + config.name + "' not kept: " + r.error()});
        }
    }
    std::string name = config.name;
    Entry e{std::make_unique<Device>(io_, std::move(config), factory_, router_, bus_), by};
    auto& device = *devices_.emplace(std::move(name), std::move(e)).first->second.device;
    if (device.config().enabled) device.start();
    log::info("devices: '{}' created{}", device.config().name, by == Source::Api ? " through the API" : "");
    return {};
}

std::expected<void, DeviceError> DeviceManager::replace(DeviceConfig config, Source by) {
    IB_ASSERT_ON_LOOP(io_);
    auto it = devices_.find(config.name);
    if (it == devices_.end()) return std::unexpected(DeviceError{DeviceErrc::NotFound, "no device named '" + config.name + "'"});
    if (by == Source::Api && it->second.source == Source::File) {
        return std::unexpected(DeviceError{
            DeviceErrc::FromFile, "device '" + config.name + "' is defined in the config file; change it there and restart"});
    }
    if (by == Source::Api) {
        if (auto r = persistence_.save(config); !r) {
            return std::unexpected(DeviceError{DeviceErrc::Storage, "device '" + config.name + "' not kept: " + r.error()});
        }
    }
    it->second.source = by;
    it->second.device->stop();
    it->second.device = std::make_unique<Device>(io_, std::move(config), factory_, router_, bus_);
    if (it->second.device->config().enabled) it->second.device->start();
    return {};
}

std::expected<void, DeviceError> DeviceManager::remove(std::string_view name, Source by) {
    IB_ASSERT_ON_LOOP(io_);
    auto it = devices_.find(name);
    if (it == devices_.end()) return std::unexpected(DeviceError{DeviceErrc::NotFound, "no device named '" + std::string(name) + "'"});
    if (by == Source::Api && it->second.source == Source::File) {
        return std::unexpected(DeviceError{
            DeviceErrc::FromFile, "device '" + std::string(name) + "' is defined in the config file; remove it there and restart"});
    }
    if (by == Source::Api) {
        if (auto r = persistence_.remove(name); !r) {
            return std::unexpected(DeviceError{DeviceErrc::Storage, "device '" + std::string(name) + "' not removed: " + r.error()});
        }
    }
    it->second.device->stop();
    devices_.erase(it);
    // The retained status would otherwise describe a device that no longer exists.
    mqtt::broker::PublishOptions retained;
    retained.retain = true;
    auto r = router_.publish(bus_.status(name), {}, retained);
    (void)r;
    log::info("devices: '{}' deleted{}", name, by == Source::Api ? " through the API" : "");
    return {};
}

void DeviceManager::write_json(std::string_view device_name, std::string_view json,
                               std::function<void(WriteResult)> done) {
    IB_ASSERT_ON_LOOP(io_);
    auto refuse = [&](std::string id, std::string why) {
        ++bad_write_requests_;
        IB_LOG_LIMITED_WARN("devices: write to '{}' refused: {}", device_name, why);
        WriteResult r;
        r.id = std::move(id);
        r.error = std::move(why);
        done(std::move(r));
    };
    auto decoded = decode_write_request(json);
    if (!decoded) return refuse(std::move(decoded.error().id), std::move(decoded.error().message));
    auto it = devices_.find(device_name);
    if (it == devices_.end()) return refuse(std::move(decoded->id), "no device named '" + std::string(device_name) + "'");

    WriteRequest request;  // the device's (drivers::WriteRequest), not the bus's
    // A value that is no value at all (bytes above 255, null) fails that tag alone.
    WriteResults refused;
    for (auto& item : decoded->items) {
        if (item.value) {
            // Every alternative a write can carry is one of Value's.
            Value value = std::visit([](auto&& v) -> Value { return std::move(v); }, std::move(*item.value));
            request.values.emplace_back(std::move(item.tag), std::move(value));
        } else {
            refused.emplace_back(std::move(item.tag),
                                 TagError{static_cast<uint16_t>(TagErrc::BadValue), std::move(item.value.error())});
        }
    }
    it->second.device->write(std::move(request), [id = std::move(decoded->id), refused = std::move(refused),
                                                  done = std::move(done)](WriteResults results) mutable {
        for (auto& r : refused) results.push_back(std::move(r));
        done(to_result(std::move(id), results));
    });
}

void DeviceManager::browse(std::string_view device_name, std::string node, std::function<void(BrowseOutcome)> done) {
    IB_ASSERT_ON_LOOP(io_);
    auto it = devices_.find(device_name);
    if (it == devices_.end()) {
        return done(std::unexpected(TagError{static_cast<uint16_t>(TagErrc::UnknownTag),
                                             "no device named '" + std::string(device_name) + "'"}));
    }
    it->second.device->browse(std::move(node), std::move(done));
}

void DeviceManager::collect_metrics(MetricSink& sink) const {
    IB_ASSERT_ON_LOOP(io_);
    for (const auto& [name, e] : devices_) e.device->collect_metrics(sink);
    sink.push_back({"ib_device_bad_write_requests_total", "Write requests refused before reaching a device.",
                    MetricType::Counter, "", static_cast<double>(bad_write_requests_)});
}

}  // namespace ib::drivers
