#include "app/file_routes.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <memory>

#include "api/http_server.hpp"
#include "bridge/bridge.hpp"
#include "config/node_config.hpp"
#include "files/file_transfer.hpp"
#include "mqtt/broker/broker.hpp"

namespace ib::app {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using api::json_error;

constexpr std::size_t kPiece = 256 * 1024;
constexpr std::size_t kDefaultLimit = 100;
constexpr std::size_t kMaxLimit = 1000;

std::optional<std::size_t> number_param(const HttpRequest& req, std::string_view name, std::size_t fallback) {
    auto v = req.query_param(name);
    if (!v) return fallback;
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc{} || end != v->data() + v->size()) return std::nullopt;
    return n;
}

// Sends a stored file's bytes a piece at a time, the next pieces once the
// client has taken the ones before: at most two pieces are in memory.
struct Download : std::enable_shared_from_this<Download> {
    int fd = -1;
    uint64_t left = 0;
    std::shared_ptr<api::ResponseStream> out;
    ~Download() {
        if (fd >= 0) ::close(fd);
    }
    void pump() {
        while (left > 0 && !out->closed()) {
            std::string piece(static_cast<std::size_t>(std::min<uint64_t>(kPiece, left)), '\0');
            const ssize_t n = ::read(fd, piece.data(), piece.size());
            if (n <= 0) break;  // shortened under us (deleted meanwhile): the client sees a short body
            piece.resize(static_cast<std::size_t>(n));
            left -= static_cast<uint64_t>(n);
            out->send(std::move(piece), SIZE_MAX);
            if (left > 0) {
                out->when_drained([self = shared_from_this()] { self->pump(); });
                return;
            }
        }
        // close() drops what is still queued: the end waits for the last piece.
        out->when_drained([out = out] { out->close(); });
    }
};

// A bridge that takes the files received here (docs/files.md).
bool forwards_files(const bridge::BridgeConfig& b) { return b.enabled && b.forward_files; }

}  // namespace

std::function<void(const std::vector<std::unique_ptr<bridge::Bridge>>&)> file_bridges_follow(
    files::FileTransferService* files) {
    if (files == nullptr) return {};
    return [files](const std::vector<std::unique_ptr<bridge::Bridge>>& bridges) {
        std::vector<std::string> names;
        for (const auto& b : bridges) {
            if (forwards_files(b->config())) names.push_back(b->config().name);
        }
        files->set_forward_bridges(std::move(names));
    };
}

std::expected<void, std::string> start_file_transfer(config::NodeConfig& cfg,
                                                     const std::vector<bridge::BridgeConfig>& bridges,
                                                     mqtt::broker::Broker& broker, boost::asio::io_context& tick_loop,
                                                     std::unique_ptr<files::FileTransferService>& out) {
    for (const auto& b : bridges) {
        if (forwards_files(b)) cfg.files.forward_bridges.push_back(b.name);
    }
    out = std::make_unique<files::FileTransferService>(cfg.files, cfg.data_dir + "/files", broker.router());
    if (auto r = out->start(tick_loop); !r) return std::unexpected("files: " + r.error());
    broker.set_file_transfer(out.get());
    return {};
}

void add_file_routes(api::HttpServer& server, files::FileTransferService& files, boost::asio::io_context& api_loop) {
    server.route("GET", "/api/v1/files", [&files, &api_loop](const HttpRequest& req) {
        const auto offset = number_param(req, "offset", 0);
        const auto limit = number_param(req, "limit", kDefaultLimit);
        if (!offset || !limit || *limit == 0 || *limit > kMaxLimit) {
            return json_error(400, "offset must be a number, limit a number from 1 to 1000");
        }
        HttpResponse r;
        r.deferred = [&files, &api_loop, offset = *offset, limit = *limit](std::function<void(HttpResponse)> reply) {
            files.list(offset, limit, [&api_loop, reply](std::string json) {
                boost::asio::post(api_loop, [reply, json = std::move(json)]() mutable {
                    reply(api::json_reply(200, std::move(json)));
                });
            });
        };
        return r;
    });
    server.route("GET", "/api/v1/files/{client}/{id}", [&files](const HttpRequest& req) {
        const std::string client(req.param("client"));
        const std::string id(req.param("id"));
        // The manifest is written after the data's rename: with it, the data is whole.
        auto m = files.store().manifest(client, id);
        if (!m) return json_error(404, "no file '" + id + "' from client '" + client + "'");
        const std::string path = files.store().data_path(client, id);
        auto d = std::make_shared<Download>();
        d->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (d->fd < 0) return json_error(404, "no file '" + id + "' from client '" + client + "'");
        d->left = m->size;
        HttpResponse r;
        r.content_type = "application/octet-stream";
        r.headers.emplace_back("Content-Length", std::to_string(m->size));
        r.headers.emplace_back("X-Checksum-Sha256", m->checksum);
        r.stream = [d](std::shared_ptr<api::ResponseStream> out) {
            d->out = std::move(out);
            d->pump();
        };
        return r;
    });
    server.route("DELETE", "/api/v1/files/{client}/{id}", [&files, &api_loop](const HttpRequest& req) {
        HttpResponse r;
        r.deferred = [&files, &api_loop, client = std::string(req.param("client")),
                      id = std::string(req.param("id"))](std::function<void(HttpResponse)> reply) {
            files.remove(client, id, [&api_loop, reply, client, id](std::optional<files::Manifest> m) {
                HttpResponse answer = m ? api::json_reply(200, R"({"deleted":true})")
                                        : json_error(404, "no file '" + id + "' from client '" + client + "'");
                if (m) answer.audit_before = files::manifest_to_json(*m);
                boost::asio::post(api_loop, [reply, answer = std::move(answer)]() mutable { reply(std::move(answer)); });
            });
        };
        return r;
    });
}

}  // namespace ib::app
