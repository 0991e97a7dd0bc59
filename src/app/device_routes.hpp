// The REST routes under /api/v1/devices: list, create, change and delete devices,
// groups and tags; read the latest values; write. Wiring between the API and the
// device manager, so neither module knows the other.
#pragma once

namespace boost::asio {
class io_context;
}

namespace ib::api {
class HttpServer;
}
namespace ib::drivers {
class DeviceManager;
}

namespace ib::app {

// Handlers run on the server's loop, which must be the devices' loop.
void add_device_routes(api::HttpServer& server, drivers::DeviceManager& devices, boost::asio::io_context& devices_loop);

}  // namespace ib::app
