// Every device of the node: starts them, answers writes arriving on
// ib/write/{device}, and carries out the REST API's changes (create, replace,
// delete), keeping devices made through the API in the data directory through
// the Persistence it is given. Devices from the config file are read-only here:
// they change in the file. Runs on one event loop (the API's); not thread-safe.
#pragma once

#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.hpp"
#include "drivers/device.hpp"
#include "drivers/device_settings.hpp"

namespace ib::drivers {

struct DeviceError {
    unsigned status = 400;  // the HTTP status it maps to
    std::string message;
};

class DeviceManager {
public:
    struct Persistence {
        std::function<std::expected<void, std::string>(const DeviceConfig&)> save;
        std::function<std::expected<void, std::string>(std::string_view name)> remove;
    };
    enum class Source : uint8_t { File, Api };

    // `check` is the drivers' check of a tag's address, which a REST body's
    // devices, groups and tags pass (address_check) like the file's.
    DeviceManager(boost::asio::io_context& io, DriverFactory factory, AddressCheck check,
                  mqtt::broker::Router& router, std::string topic_prefix, Persistence persistence);
    ~DeviceManager();

    // Starts the file's devices, then the stored ones (a stored device whose name
    // the file now uses is skipped with a warning), and subscribes to writes.
    std::expected<void, std::string> start(std::vector<DeviceConfig> from_file, std::vector<DeviceConfig> stored);
    void stop();

    std::vector<const Device*> devices() const;
    const Device* find(std::string_view name) const;
    Source source(std::string_view name) const;

    std::expected<void, DeviceError> create(DeviceConfig config);
    std::expected<void, DeviceError> replace(DeviceConfig config);
    std::expected<void, DeviceError> remove(std::string_view name);

    // A write request in the JSON of DESIGN.md ({"id":..,"tag":..,"value":..} or
    // {"id":..,"values":{..}}); `done` gets the result JSON and whether the request
    // itself was understood (for the HTTP status).
    void write_json(std::string_view device, std::string_view json,
                    std::function<void(std::string result, bool understood)> done);

    void collect_metrics(MetricSink& sink) const;

    AddressCheck address_check() const { return check_; }

private:
    struct Entry {
        std::unique_ptr<Device> device;
        Source source = Source::File;
    };

    boost::asio::io_context& io_;
    DriverFactory factory_;
    AddressCheck check_;
    mqtt::broker::Router& router_;
    std::string prefix_;
    Persistence persistence_;
    std::map<std::string, Entry, std::less<>> devices_;
    uint64_t write_subscription_ = 0;
    bool subscribed_ = false;
    uint64_t bad_write_requests_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ib::drivers
