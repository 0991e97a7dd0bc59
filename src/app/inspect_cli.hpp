// `ironbridge inspect`: a client of a running node's API that prints its health
// inspection (GET /api/v1/health/inspection) as a table with each check's advice,
// and says by its exit code how the node fares. No Asio in this header.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace ib::app {

// Exit codes of `ironbridge inspect`: every check passed, one warns (none
// fails), one fails, or the inspection could not be read at all.
inline constexpr int kInspectPass = 0, kInspectWarn = 1, kInspectFail = 2, kInspectUnreachable = 3;

struct InspectOptions {
    std::string url = "http://127.0.0.1:8080";
    std::string token;  // sent as "Authorization: Bearer <token>"
    bool json = false;  // print the body as the API gives it
};

// Adds the options of the `inspect` subcommand to `inspect`.
void add_inspect_options(CLI::App& inspect, InspectOptions& options);
int run_inspect(const InspectOptions& options);

// The table `ironbridge inspect` prints, from the inspection's JSON body, and the
// exit code it implies; an unreadable body returns kInspectUnreachable and says why.
struct InspectTable {
    std::string text;
    int exit_code = kInspectUnreachable;
};
InspectTable format_inspection(const std::string& body);

}  // namespace ib::app
