#include "api/router.hpp"

#include "core/quote.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>

namespace ib::api {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
        if (iequals(k, name)) return v;
    }
    return {};
}

void Router::add(std::string method, std::string path, Handler handler) {
    Route r{std::move(method), std::move(path), false, std::move(handler)};
    if (r.path.ends_with("/*")) {
        r.path.pop_back();  // keep the '/', so "/devices/*" never matches "/devicesX"
        r.prefix = true;
    }
    routes_.push_back(std::move(r));
}

HttpResponse Router::dispatch(const HttpRequest& request) const {
    const Route* chosen = nullptr;
    std::vector<std::string_view> allowed;  // methods registered for this path, for 405's Allow
    auto consider = [&](const Route& r) {
        if (std::find(allowed.begin(), allowed.end(), r.method) == allowed.end()) {
            allowed.push_back(r.method);
        }
        if (r.method == request.method) chosen = &r;
    };
    // Exact routes first; prefixes count only when no exact route has this path,
    // so a 405 on an exact path is not masked by a broader prefix route.
    for (const Route& r : routes_) {
        if (!r.prefix && r.path == request.path) consider(r);
    }
    if (allowed.empty()) {
        const Route* longest = nullptr;
        for (const Route& r : routes_) {
            if (r.prefix && request.path.starts_with(r.path) &&
                (longest == nullptr || r.path.size() > longest->path.size())) {
                longest = &r;
            }
        }
        for (const Route& r : routes_) {
            if (longest != nullptr && r.prefix && r.path == longest->path) consider(r);
        }
    }
    if (chosen == nullptr) {
        if (!allowed.empty()) {
            HttpResponse r;
            r.status = 405;
            r.body = "{\"error\":\"method not allowed\",\"method\":" + quoted(request.method) +
                     ",\"path\":" + quoted(request.path) + "}";
            std::string allow;
            for (std::string_view m : allowed) allow.append(allow.empty() ? "" : ", ").append(m);
            r.headers.emplace_back("Allow", std::move(allow));
            return r;
        }
        HttpResponse r;
        r.status = 404;
        r.body = "{\"error\":\"not found\",\"path\":" + quoted(request.path) + "}";
        return r;
    }
    // The API must keep serving when one handler has a bug or runs out of memory.
    try {
        return chosen->handler(request);
    } catch (const std::exception& e) {
        return json_error(500, std::string("internal error: ") + e.what());
    } catch (...) {
        return json_error(500, "internal error");
    }
}

HttpResponse json_error(unsigned status, std::string_view message) {
    HttpResponse r;
    r.status = status;
    r.body = "{\"error\":" + quoted(message) + "}";
    return r;
}

HttpResponse json_reply(unsigned status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

}  // namespace ib::api
