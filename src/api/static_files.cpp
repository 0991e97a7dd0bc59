#include "api/static_files.hpp"

#include <string>

#include "api/http_server.hpp"

namespace ib::api {
namespace {

// RFC 9110 §12.5.3: a coding listed with q=0 is refused; the header is a list
// of "coding;q=x" items. Only gzip matters here.
bool accepts_gzip(std::string_view header) {
    while (!header.empty()) {
        const size_t comma = header.find(',');
        std::string_view item = header.substr(0, comma);
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        const size_t semi = item.find(';');
        std::string_view coding = item.substr(0, semi);
        while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
        if (coding != "gzip" && coding != "*") continue;
        if (semi == std::string_view::npos) return true;
        std::string_view params = item.substr(semi + 1);
        const size_t q = params.find("q=");
        if (q == std::string_view::npos) return true;
        std::string_view v = params.substr(q + 2);
        v = v.substr(0, v.find(';'));
        while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
        // "q=0", "q=0.0", "q=0.000" refuse; any other weight accepts.
        return v.find_first_not_of("0.") != std::string_view::npos;
    }
    return false;
}

// RFC 9110 §13.1.2: If-None-Match is "*" or a list of entity tags.
bool etag_matches(std::string_view header, std::string_view etag) {
    if (header == "*") return true;
    return header.find(etag) != std::string_view::npos;
}

}  // namespace

const StaticFile* find_static_file(std::string_view path) {
    for (const StaticFile& f : embedded_files()) {
        if (f.path == path) return &f;
    }
    return nullptr;
}

HttpResponse serve_static(const HttpRequest& req) {
    const StaticFile* f = find_static_file(req.path);
    if (f == nullptr) return json_error(404, "no such file: " + std::string(req.path));
    HttpResponse r;
    r.content_type = std::string(f->content_type);
    r.headers.emplace_back("ETag", std::string(f->etag));
    r.headers.emplace_back("Cache-Control", std::string(f->cache_control));
    // Caches keep the gzip and the plain answer apart.
    r.headers.emplace_back("Vary", "Accept-Encoding");
    if (etag_matches(req.header("If-None-Match"), f->etag)) {
        r.status = 304;
        return r;
    }
    if (accepts_gzip(req.header("Accept-Encoding"))) {
        r.headers.emplace_back("Content-Encoding", "gzip");
        r.body.assign(f->gzip);
    } else {
        r.body.assign(f->plain);
    }
    return r;
}

bool is_console_path(std::string_view path) { return path == "/" || path.starts_with("/ui/"); }

void add_static_routes(HttpServer& server) {
    server.route("GET", "/", serve_static);
    server.route("GET", "/ui/*", serve_static);
}

}  // namespace ib::api
