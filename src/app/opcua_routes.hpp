// The REST routes under /api/v1/opcua/certificates: the server certificates the
// OPC UA client trusts (data_dir/pki/trusted) and those it refused
// (data_dir/pki/rejected), and moving one from one folder to the other, so a
// user can accept a server's certificate without a shell.
#pragma once

#include <string>

namespace boost::asio {
class io_context;
}

namespace ib::api {
class HttpServer;
}

namespace ib::app {

// `pki_dir`: the OPC UA client's pki folder. The handlers read and move its
// files, so they run on `devices_loop` (where the OPC UA devices use the same
// folder) rather than on the API's loop, which serves every other request.
void add_opcua_routes(api::HttpServer& server, std::string pki_dir, boost::asio::io_context& devices_loop);

}  // namespace ib::app
