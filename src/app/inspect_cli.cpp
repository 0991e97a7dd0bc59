#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include "app/inspect_cli.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <simdjson.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <expected>

namespace ib::app {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

struct Url {
    std::string host;
    std::string port;
    std::string base_path;  // without the trailing '/'
};

std::expected<Url, std::string> parse_url(std::string_view url) {
    constexpr std::string_view scheme = "http://";
    if (url.starts_with("https://")) {
        return std::unexpected("https is not supported by ironbridge inspect yet: run it on the node against "
                               "a plain listener, or use curl -H 'Authorization: Bearer ...' " +
                               std::string(url) + "/api/v1/health/inspection");
    }
    if (!url.starts_with(scheme)) return std::unexpected("the URL must start with http://: " + std::string(url));
    url.remove_prefix(scheme.size());
    Url u;
    const auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    if (slash != std::string_view::npos) u.base_path = std::string(url.substr(slash));
    while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
    if (authority.starts_with('[')) {  // [::1]:8080
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::unexpected("bad IPv6 address in " + std::string(url));
        u.host = std::string(authority.substr(1, close - 1));
        authority.remove_prefix(close + 1);
        u.port = authority.starts_with(':') ? std::string(authority.substr(1)) : "80";
    } else {
        const auto colon = authority.rfind(':');
        u.host = std::string(authority.substr(0, colon));
        u.port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
    }
    if (u.host.empty()) return std::unexpected("no host in the URL");
    return u;
}

struct Fetched {
    unsigned status = 0;
    std::string body;
};

std::expected<Fetched, std::string> http_get(const Url& u, const std::string& path, const std::string& token) {
    try {
        asio::io_context io;
        asio::ip::tcp::resolver resolver(io);
        boost::beast::tcp_stream stream(io);
        stream.expires_after(std::chrono::seconds(30));
        stream.connect(resolver.resolve(u.host, u.port));
        http::request<http::empty_body> req{http::verb::get, u.base_path + path, 11};
        req.set(http::field::host, u.host);
        req.set(http::field::accept, "application/json");
        if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
        http::write(stream, req);
        boost::beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        boost::system::error_code ignored;
        stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        return Fetched{res.result_int(), std::move(res.body())};
    } catch (const boost::system::system_error& e) {
        return std::unexpected(e.code().message());
    }
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

InspectTable format_inspection(const std::string& body) {
    InspectTable t;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body).get(doc) != simdjson::SUCCESS) {
        t.text = "the answer is not JSON\n";
        return t;
    }
    int64_t score = 0;
    simdjson::dom::array checks;
    if (doc["score"].get(score) != simdjson::SUCCESS || doc["checks"].get(checks) != simdjson::SUCCESS) {
        t.text = "the answer has no score or checks\n";
        return t;
    }
    std::string out = fmt::format("{:<6} {:<17} {}\n", "STATUS", "CHECK", "VALUE");
    int worst = kInspectPass;
    for (simdjson::dom::element c : checks) {
        auto text = [&c](const char* key) {
            std::string_view v;
            return c[key].get(v) == simdjson::SUCCESS ? v : std::string_view{};
        };
        const std::string_view id = text("id"), status = text("status"), value = text("value"),
                               threshold = text("threshold"), advice = text("advice");
        if (status == "fail") worst = kInspectFail;
        else if (status == "warn" && worst == kInspectPass) worst = kInspectWarn;
        out += fmt::format("{:<6} {:<17} {}\n", upper(status), id, value);
        if (status != "pass") {
            out += fmt::format("{:<24}threshold: {}\n", "", threshold);
            if (!advice.empty()) out += fmt::format("{:<24}advice: {}\n", "", advice);
        }
    }
    out += fmt::format("score: {}/100\n", score);
    t.text = std::move(out);
    t.exit_code = worst;
    return t;
}

void add_inspect_options(CLI::App& inspect, InspectOptions& options) {
    inspect.add_option("--url", options.url, "The node's API")->capture_default_str();
    inspect.add_option("--token", options.token, "API token (Authorization: Bearer); viewer is enough");
    inspect.add_flag("--json", options.json, "Print the inspection's JSON as the API answers it");
}

int run_inspect(const InspectOptions& options) {
    auto url = parse_url(options.url);
    if (!url) {
        std::fprintf(stderr, "ironbridge inspect: %s\n", url.error().c_str());
        return kInspectUnreachable;
    }
    auto got = http_get(*url, "/api/v1/health/inspection", options.token);
    if (!got) {
        std::fprintf(stderr, "ironbridge inspect: cannot reach %s: %s\n", options.url.c_str(), got.error().c_str());
        return kInspectUnreachable;
    }
    if (got->status != 200) {
        std::fprintf(stderr, "ironbridge inspect: %s answered %u: %s\n", options.url.c_str(), got->status,
                     got->body.c_str());
        if (got->status == 401) std::fprintf(stderr, "ironbridge inspect: give an API token with --token\n");
        return kInspectUnreachable;
    }
    auto table = format_inspection(got->body);
    if (options.json) {
        std::printf("%s\n", got->body.c_str());
    } else if (table.exit_code == kInspectUnreachable) {
        std::fprintf(stderr, "ironbridge inspect: %s", table.text.c_str());
    } else {
        std::printf("%s", table.text.c_str());
    }
    return table.exit_code;
}

}  // namespace ib::app
