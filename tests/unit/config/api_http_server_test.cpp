// Starts the real HttpServer on 127.0.0.1, port 0, and talks to it over TCP.
#include "api/http_server.hpp"

#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace ib::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class HttpServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        ApiConfig cfg;
        cfg.bind_address = "127.0.0.1";
        cfg.port = 0;
        cfg.max_body_bytes = 1024;
        server_ = std::make_unique<HttpServer>(io_, cfg);
        server_->set_version("9.9.9");
        server_->route("POST", "/echo", [](const HttpRequest& r) {
            HttpResponse out;
            out.content_type = "text/plain";
            out.body = std::string(r.query) + "|" + std::string(r.header("x-test")) + "|" + std::string(r.body);
            return out;
        });
        server_->add_metrics([](MetricSink& sink) {
            sink.push_back({"ib_test_value", "A test value.", MetricType::Gauge, "", 42});
        });
        auto port = server_->start();
        ASSERT_TRUE(port.has_value()) << port.error();
        ASSERT_NE(*port, 0);
        EXPECT_EQ(server_->port(), *port);
        thread_ = std::thread([this] { io_.run(); });
    }

    void TearDown() override {
        io_.stop();
        if (thread_.joinable()) thread_.join();
        server_.reset();
    }

    tcp::socket connect() {
        tcp::socket s(client_io_);
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
        return s;
    }

    http::response<http::string_body> exchange(tcp::socket& s, http::verb verb, std::string target,
                                               std::string body = {}) {
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, "127.0.0.1");
        req.set("X-Test", "hdr");
        req.body() = std::move(body);
        req.prepare_payload();
        http::write(s, req);
        http::response<http::string_body> res;
        http::read(s, buffer_, res);
        return res;
    }

    http::response<http::string_body> get(std::string target) {
        tcp::socket s = connect();
        return exchange(s, http::verb::get, std::move(target));
    }

    // Sends raw bytes and returns everything the server sends until it closes.
    std::string raw(std::string_view bytes) {
        tcp::socket s = connect();
        asio::write(s, asio::buffer(bytes));
        std::string out;
        beast::error_code ec;
        asio::read(s, asio::dynamic_buffer(out), ec);
        EXPECT_EQ(ec, asio::error::eof) << ec.message();
        return out;
    }

    asio::io_context io_;
    asio::io_context client_io_;
    std::unique_ptr<HttpServer> server_;
    std::thread thread_;
    beast::flat_buffer buffer_;
};

TEST_F(HttpServerTest, HealthReportsStatusVersionAndUptime) {
    auto res = get("/api/v1/health");
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_TRUE(res.body().starts_with(R"({"status":"ok","version":"9.9.9","uptime_seconds":)")) << res.body();
}

TEST_F(HttpServerTest, MetricsServesPrometheusTextWithCollectors) {
    auto res = get("/metrics");
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4");
    const std::string& body = res.body();
    EXPECT_NE(body.find("# TYPE ib_process_resident_memory_bytes gauge\n"), std::string::npos) << body;
    EXPECT_NE(body.find("# TYPE ib_process_cpu_seconds_total counter\n"), std::string::npos);
    EXPECT_NE(body.find("ib_process_start_time_seconds "), std::string::npos);
    EXPECT_NE(body.find("\nib_test_value 42\n"), std::string::npos);
    EXPECT_NE(body.find("\nib_api_connections 1\n"), std::string::npos);
}

TEST_F(HttpServerTest, UnknownPathIs404Json) {
    auto res = get("/nope?x=1");
    EXPECT_EQ(res.result_int(), 404u);
    EXPECT_EQ(res.body(), R"({"error":"not found","path":"/nope"})");
}

TEST_F(HttpServerTest, WrongMethodIs405) {
    tcp::socket s = connect();
    auto res = exchange(s, http::verb::post, "/metrics");
    EXPECT_EQ(res.result_int(), 405u);
    EXPECT_EQ(res[http::field::allow], "GET");
}

TEST_F(HttpServerTest, HandlerSeesQueryHeadersAndBody) {
    tcp::socket s = connect();
    auto res = exchange(s, http::verb::post, "/echo?a=1&b=2", "hello");
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "a=1&b=2|hdr|hello");
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
    tcp::socket s = connect();
    for (int i = 0; i < 3; ++i) {
        auto res = exchange(s, http::verb::get, "/api/v1/health");
        EXPECT_EQ(res.result_int(), 200u);
        EXPECT_TRUE(res.keep_alive());
    }
}

TEST_F(HttpServerTest, OversizedBodyIs413AndCloses) {
    // Headers only: the declared length alone exceeds the 1024-byte limit.
    std::string reply = raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
    EXPECT_TRUE(reply.starts_with("HTTP/1.1 413 ")) << reply;
    EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply;
}

TEST_F(HttpServerTest, MalformedRequestIs400AndCloses) {
    std::string reply = raw("GET /x HTTP/1.1\r\nBad Header Line\r\n\r\n");
    EXPECT_TRUE(reply.starts_with("HTTP/1.1 400 ")) << reply;
    EXPECT_NE(reply.find("\"error\":\"malformed request"), std::string::npos) << reply;
}

TEST_F(HttpServerTest, ConnectionsBeyondTheCapAreClosedAtOnce) {
    std::vector<tcp::socket> held;
    for (size_t i = 0; i < HttpServer::kMaxConnections; ++i) held.push_back(connect());
    // Accepts are in order: once the last held socket is answered, all are live.
    auto res = exchange(held.back(), http::verb::get, "/api/v1/health");
    ASSERT_EQ(res.result_int(), 200u);
    tcp::socket extra = connect();
    char byte;
    beast::error_code ec;
    asio::read(extra, asio::buffer(&byte, 1), ec);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
    // The held connections still work.
    EXPECT_EQ(exchange(held.front(), http::verb::get, "/api/v1/health").result_int(), 200u);
}

TEST_F(HttpServerTest, SecondServerOnTheSamePortNamesAddressAndPort) {
    ApiConfig cfg;
    cfg.bind_address = "127.0.0.1";
    cfg.port = server_->port();
    asio::io_context other;
    HttpServer second(other, cfg);
    auto r = second.start();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), "api: cannot listen on 127.0.0.1:" + std::to_string(cfg.port) + ": Address already in use");
}

TEST(HttpServer, InvalidBindAddressIsAnError) {
    asio::io_context io;
    ApiConfig cfg;
    cfg.bind_address = "not-an-ip";
    HttpServer server(io, cfg);
    auto r = server.start();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), "api: invalid bind address 'not-an-ip'");
}

}  // namespace
}  // namespace ib::api
