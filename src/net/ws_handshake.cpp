#include "net/ws_handshake.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cctype>
#include <openssl/evp.h>

namespace ib::net::ws {

namespace {

namespace http = boost::beast::http;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

// Whether a comma-separated header value holds `token`.
bool has_token(std::string_view list, std::string_view token, bool case_insensitive) {
    while (!list.empty()) {
        auto comma = list.find(',');
        std::string_view item = trim(list.substr(0, comma));
        if (case_insensitive ? iequals(item, token) : item == token) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

// §4.1: the key is the base64 of 16 random bytes, so 24 characters ending "==".
bool valid_key(std::string_view k) {
    if (k.size() != 24 || k[22] != '=' || k[23] != '=') return false;
    for (std::size_t i = 0; i < 22; ++i) {
        const char c = k[i];
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
    }
    return true;
}

UpgradeReply refuse(int status, const char* text, std::string reason, std::string_view extra_headers = {}) {
    UpgradeReply r;
    r.status = status;
    std::string body = reason + "\n";
    r.response = "HTTP/1.1 " + std::to_string(status) + " " + text +
                 "\r\nContent-Type: text/plain\r\nConnection: close\r\n" + std::string(extra_headers) +
                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    r.reason = std::move(reason);
    return r;
}

}  // namespace

std::size_t request_head_end(std::string_view data) {
    auto p = data.find("\r\n\r\n");
    return p == std::string_view::npos ? 0 : p + 4;
}

std::string accept_key(std::string_view key) {
    static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string in(key);
    in += kGuid;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(in.data(), in.size(), digest, &len, EVP_sha1(), nullptr);
    unsigned char b64[64];
    const int n = EVP_EncodeBlock(b64, digest, static_cast<int>(len));
    return std::string(reinterpret_cast<const char*>(b64), static_cast<std::size_t>(n));
}

UpgradeReply accept_upgrade(std::string_view head, std::string_view path) {
    if (head.size() > kMaxRequestHead) return refuse(400, "Bad Request", "request head larger than 8 KiB");
    http::request_parser<http::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(kMaxRequestHead));
    parser.eager(true);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(head.data(), head.size()), ec);
    if (ec || !parser.is_header_done()) return refuse(400, "Bad Request", "malformed HTTP request");
    const auto& req = parser.get();
    // §4.1: the method MUST be GET and the version at least 1.1.
    if (req.method() != http::verb::get) return refuse(400, "Bad Request", "WebSocket upgrade must be a GET");
    if (req.version() < 11) return refuse(400, "Bad Request", "WebSocket upgrade needs HTTP/1.1");
    std::string_view target(req.target().data(), req.target().size());
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (target != path) return refuse(404, "Not Found", "no WebSocket endpoint at " + std::string(target));
    auto field = [&](http::field f) {
        auto v = req[f];
        return std::string_view(v.data(), v.size());
    };
    if (!has_token(field(http::field::upgrade), "websocket", true))
        return refuse(400, "Bad Request", "missing Upgrade: websocket");
    if (!has_token(field(http::field::connection), "upgrade", true))
        return refuse(400, "Bad Request", "missing Connection: Upgrade");
    // §4.2.2: an unsupported version is answered with the versions we speak.
    if (trim(field(http::field::sec_websocket_version)) != "13")
        return refuse(426, "Upgrade Required", "Sec-WebSocket-Version must be 13", "Sec-WebSocket-Version: 13\r\n");
    const std::string_view key = trim(field(http::field::sec_websocket_key));
    if (!valid_key(key)) return refuse(400, "Bad Request", "missing or malformed Sec-WebSocket-Key");
    bool mqtt = false;
    for (auto [it, end] = req.equal_range(http::field::sec_websocket_protocol); it != end; ++it) {
        // Subprotocol names are compared exactly (§11.3.4 registers them as tokens).
        if (has_token(std::string_view(it->value().data(), it->value().size()), "mqtt", false)) mqtt = true;
    }
    if (!mqtt) return refuse(400, "Bad Request", "Sec-WebSocket-Protocol does not offer mqtt");
    UpgradeReply r;
    r.status = 101;
    r.response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: " +
                 accept_key(key) + "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
    return r;
}

}  // namespace ib::net::ws
