#include "api/router.hpp"

#include "core/assert.hpp"
#include "core/json_writer.hpp"

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

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// RFC 3986 §2.1: "%2F" is '/', "%20" a space; '+' is itself in a path. A '%'
// not followed by two hex digits makes the segment match nothing (a 404).
bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (i + 2 >= in.size()) return false;
        int hi = hex_digit(in[i + 1]);
        int lo = hex_digit(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
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

std::optional<std::string> HttpRequest::query_param(std::string_view name) const {
    return api::query_param(query, name);
}

std::string_view HttpRequest::param(std::string_view name) const {
    for (const auto& [k, v] : params) {
        if (k == name) return v;
    }
    return {};
}

void Router::add(std::string method, std::string path, Handler handler) {
    Route r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.handler = std::move(handler);
    if (r.path.ends_with("/*")) {
        r.path.pop_back();  // keep the '/', so "/devices/*" never matches "/devicesX"
        r.prefix = true;
    } else if (r.path.find('{') != std::string::npos) {
        std::string_view rest(r.path);
        while (!rest.empty()) {
            IB_ASSERT(rest.front() == '/', "a route's path is absolute and its segments are separated by one '/'");
            rest.remove_prefix(1);
            std::string_view seg = rest.substr(0, rest.find('/'));
            rest.remove_prefix(seg.size());
            const bool param = seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
            IB_ASSERT(param || seg.find_first_of("{}") == std::string_view::npos,
                      "a route parameter is a whole segment: /devices/{name}");
            r.segments.emplace_back(param ? seg.substr(1, seg.size() - 2) : seg);
            r.is_param.push_back(param);
            r.shape.append("/").append(param ? "{}" : seg);
        }
        IB_ASSERT(r.segments.size() <= 64, "a pattern's specificity is ranked in 64 bits, one per segment");
    }
    routes_.push_back(std::move(r));
}

bool Router::match(const Route& r, std::string_view path, std::vector<std::pair<std::string_view, std::string>>& params,
                   uint64_t& rank) {
    params.clear();
    rank = 0;
    if (path.empty() || path.front() != '/') return false;
    std::string_view rest = path.substr(1);
    std::string value;
    size_t i = 0;
    while (true) {
        const size_t slash = rest.find('/');
        const std::string_view seg = rest.substr(0, slash);
        if (i == r.segments.size()) return false;  // the path has more segments
        if (r.is_param[i]) {
            if (seg.empty() || !percent_decode(seg, value)) return false;
            params.emplace_back(r.segments[i], value);
        } else {
            if (seg != r.segments[i]) return false;
            rank |= uint64_t{1} << (63 - i);
        }
        ++i;
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    return i == r.segments.size();
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
        if (!r.prefix && r.segments.empty() && r.path == request.path) consider(r);
    }
    // Then patterns: the most specific shape that matches, all its methods.
    std::vector<std::pair<std::string_view, std::string>> params;
    if (allowed.empty()) {
        const Route* best = nullptr;
        uint64_t best_rank = 0;
        uint64_t rank = 0;
        for (const Route& r : routes_) {
            if (r.segments.empty() || !match(r, request.path, params, rank)) continue;
            if (best == nullptr || rank > best_rank) {
                best = &r;
                best_rank = rank;
            }
        }
        for (const Route& r : routes_) {
            if (best != nullptr && !r.segments.empty() && r.shape == best->shape) consider(r);
        }
        // The chosen route's own names: two methods may name a parameter differently.
        if (chosen != nullptr) match(*chosen, request.path, params, rank);
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
            JsonWriter(r.body)
                .begin_object()
                .field("error", "method not allowed")
                .field("method", request.method)
                .field("path", request.path)
                .end_object();
            std::string allow;
            for (std::string_view m : allowed) allow.append(allow.empty() ? "" : ", ").append(m);
            r.headers.emplace_back("Allow", std::move(allow));
            return r;
        }
        HttpResponse r;
        r.status = 404;
        JsonWriter(r.body).begin_object().field("error", "not found").field("path", request.path).end_object();
        return r;
    }
    // The API must keep serving when one handler has a bug or runs out of memory.
    try {
        if (!chosen->segments.empty()) {
            HttpRequest with = request;
            with.params = std::move(params);
            return chosen->handler(with);
        }
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
    JsonWriter(r.body).begin_object().field("error", message).end_object();
    return r;
}

HttpResponse json_reply(unsigned status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

std::string form_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const size_t amp = query.find('&');
        std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const size_t eq = item.find('=');
        if (form_decode(item.substr(0, eq)) != name) continue;
        return eq == std::string_view::npos ? std::string{} : form_decode(item.substr(eq + 1));
    }
    return std::nullopt;
}

}  // namespace ib::api
