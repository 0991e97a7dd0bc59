// Every device of the node: starts them, answers writes arriving on
// <prefix>/write/{device}, and carries out the REST API's changes (create, replace,
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

#include "core/bus.hpp"
#include "core/metrics.hpp"
#include "drivers/device.hpp"
#include "drivers/device_settings.hpp"

namespace ib::drivers {

// Why a change to the set of devices was refused; the API maps each kind to
// its HTTP status.
enum class DeviceErrc : uint8_t {
    NotFound,  // no device of that name
    Exists,    // a device of that name exists already
    FromFile,  // the device is defined in the config file, not changeable here
    Storage,   // the change could not be kept in the data directory
};

struct DeviceError {
    DeviceErrc kind;
    std::string message;
};

class DeviceManager {
public:
    struct Persistence {
        std::function<std::expected<void, std::string>(const DeviceConfig&)> save;
        std::function<std::expected<void, std::string>(std::string_view name)> remove;
    };
    // Who made a device: the file, the API (kept in the data directory), or a
    // fleet revision (kept by the fleet in fleet.db, not here).
    enum class Source : uint8_t { File, Api, Fleet };

    // `check` is the drivers' check of a tag's address, which a REST body's
    // devices, groups and tags pass (address_check) like the file's.
    DeviceManager(boost::asio::io_context& io, DriverFactory factory, AddressCheck check,
                  mqtt::broker::Router& router, BusTopics bus, Persistence persistence);
    ~DeviceManager();

    // Starts the file's devices, then the stored ones (a stored device whose name
    // the file now uses is skipped with a warning), and subscribes to writes.
    std::expected<void, std::string> start(std::vector<DeviceConfig> from_file, std::vector<DeviceConfig> stored);
    void stop();

    std::vector<const Device*> devices() const;
    const Device* find(std::string_view name) const;
    Source source(std::string_view name) const;

    // `by` Api (the REST API) refuses to touch the file's devices and keeps the
    // change in the data directory; the fleet (and its undo, which puts back
    // each device with the source it had) changes any device and keeps nothing.
    std::expected<void, DeviceError> create(DeviceConfig config, Source by = Source::Api);
    std::expected<void, DeviceError> replace(DeviceConfig config, Source by = Source::Api);
    std::expected<void, DeviceError> remove(std::string_view name, Source by = Source::Api);

    // A write request in the JSON of DESIGN.md ({"id":..,"tag":..,"value":..} or
    // {"id":..,"values":{..}}, decoded by core/bus.hpp); `done` gets the result,
    // whose `error` is set when the request itself was refused (bad JSON, no such device).
    void write_json(std::string_view device, std::string_view json, std::function<void(WriteResult result)> done);
    // The children of `node` on the device (OPC UA browse); `done` runs on the loop.
    void browse(std::string_view device, std::string node, std::function<void(BrowseOutcome)> done);

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
    BusTopics bus_;  // outlives the devices, which keep a reference
    Persistence persistence_;
    std::map<std::string, Entry, std::less<>> devices_;
    uint64_t write_subscription_ = 0;
    bool subscribed_ = false;
    uint64_t bad_write_requests_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ib::drivers
