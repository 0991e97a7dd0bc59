// The web console's files, embedded in the binary at build time
// (scripts/embed_web.py writes the table from web/), served at "/" and "/ui/...":
// gzip when the client accepts it, plain otherwise, with a strong ETag and
// Cache-Control. It serves only what was embedded and never reads the disk.
#pragma once

#include <span>
#include <string_view>

#include "api/router.hpp"

namespace ib::api {

class HttpServer;

struct StaticFile {
    std::string_view path;  // "/" or "/ui/..."
    std::string_view content_type;
    std::string_view etag;           // quoted, strong: a hash of the plain bytes
    std::string_view cache_control;  // a year for versioned paths, "no-cache" else
    std::string_view plain;
    std::string_view gzip;
};

// Defined in the generated file.
std::span<const StaticFile> embedded_files();

const StaticFile* find_static_file(std::string_view path);

// 200 with the file (gzip when `Accept-Encoding` allows it), 304 when
// `If-None-Match` names its ETag, 404 for a path not embedded.
HttpResponse serve_static(const HttpRequest& req);

// The console's paths ("/", "/ui/..."): open to anyone, like the login page
// they hold; what they show comes from the API, which asks for credentials.
bool is_console_path(std::string_view path);

// GET "/" and "/ui/*".
void add_static_routes(HttpServer& server);

}  // namespace ib::api
