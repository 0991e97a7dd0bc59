// The REST routes under /api/v1/opcua/certificates: the server certificates the
// OPC UA client trusts (data_dir/pki/trusted) and those it refused
// (data_dir/pki/rejected), and moving one from one folder to the other, so a
// user can accept a server's certificate without a shell.
#pragma once

#include <string>

namespace ib::api {
class HttpServer;
}

namespace ib::app {

// `pki_dir`: the OPC UA client's pki folder. Handlers read a few small files.
void add_opcua_routes(api::HttpServer& server, std::string pki_dir);

}  // namespace ib::app
