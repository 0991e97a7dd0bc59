#include "bridge/file_forwarder.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "bridge/mqtt_link.hpp"
#include "core/json_writer.hpp"
#include "core/log.hpp"
#include "files/file_command.hpp"
#include "files/file_store.hpp"
#include "mqtt/codec/codec.hpp"
#include "net/loop_check.hpp"
#include "store/writer_thread.hpp"

namespace asio = boost::asio;
namespace codec = ib::mqtt::codec;

namespace ib::bridge {
namespace {

// Bytes sent and not yet acknowledged (at least four segments): enough to keep
// the link busy while the next segment is read, little enough that a
// reconnect resends little.
constexpr uint64_t kWindowBytes = 1 << 20;
constexpr std::size_t kMinWindow = 4;
constexpr auto kIdlePoll = std::chrono::seconds(1);
// A file the upstream refuses this many times in a row is set aside (.failed).
constexpr int kMaxAttempts = 3;

std::string sha256_hex_of(const std::vector<std::byte>& data) {
    files::Sha256 d{};
    unsigned len = 0;
    EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr);
    return files::sha256_hex(d);
}

// The file's id upstream: unique per edge client and file id, one topic level.
std::string upstream_id(const files::ForwardEntry& e) {
    return files::encode_name(e.client_id) + "~" + files::encode_name(e.file_id);
}

enum class Phase : uint8_t { Idle, Loading, Init, Segments, Fin };

}  // namespace

struct FileForwarder::Impl : std::enable_shared_from_this<Impl> {
    asio::io_context& io;
    BridgeConfig config;
    files::FileStore store;
    store::WriterThread disk;
    asio::steady_timer poll;
    std::unique_ptr<MqttLink> link;
    bool running = false;

    Phase phase = Phase::Idle;
    std::optional<files::ForwardEntry> entry;
    files::Manifest manifest;
    std::string fid;
    uint64_t next_offset = 0;  // the next segment to read and send
    bool reading = false;
    // Bumped at every (re)start of the file: a segment read for an earlier
    // start is dropped when it comes back.
    uint64_t generation = 0;
    int attempts = 0;
    uint16_t next_pid = 1;
    std::size_t window = kMinWindow;  // segments
    // Packet id -> the end offset of the segment it carries (0 for init and fin).
    std::map<uint16_t, uint64_t> inflight;
    FileForwardStatus counters;

    Impl(asio::io_context& i, const BridgeConfig& c, std::string root)
        : io(i), config(c), store(std::move(root)), disk("ib-ffwd-" + c.name), poll(i) {
        config.client_id += "-files";
        config.protocol = 5;  // the results travel in PUBACK reason codes
        config.clean_start = true;
        config.forwards.clear();
        config.subscriptions.clear();
        window = std::max<std::size_t>(kMinWindow, kWindowBytes / config.file_segment_bytes);
    }

    uint16_t alloc_pid() {
        uint16_t pid = next_pid++;
        if (next_pid == 0) next_pid = 1;
        return pid;
    }

    // Runs `job` on the disk thread and `then` with its result on the loop,
    // unless the forwarder is gone by then.
    template <typename Job, typename Then>
    void on_disk(Job job, Then then) {
        std::weak_ptr<Impl> weak = shared_from_this();
        disk.submit([job = std::move(job), then = std::move(then), weak, &io = io]() mutable {
            auto result = job();
            asio::post(io, [weak, then = std::move(then), result = std::move(result)]() mutable {
                if (auto self = weak.lock(); self && self->running) then(std::move(result));
            });
        });
    }

    void schedule_poll(std::chrono::milliseconds after) {
        poll.expires_after(after);
        poll.async_wait([weak = std::weak_ptr<Impl>(shared_from_this())](const boost::system::error_code& ec) {
            if (ec) return;
            if (auto self = weak.lock(); self && self->running && self->phase == Phase::Idle) self->load_next();
        });
    }

    // The oldest entry of the queue with its manifest.
    void load_next() {
        phase = Phase::Loading;
        struct Next {
            std::size_t queued = 0;
            std::optional<files::ForwardEntry> entry;
            std::optional<files::Manifest> manifest;
        };
        on_disk(
            [store = store, bridge = config.name]() {
                Next n;
                auto q = store.forward_queue(bridge);
                n.queued = q.size();
                // A file deleted meanwhile (DELETE /api/v1/files) leaves the queue.
                for (auto& e : q) {
                    if (auto m = store.manifest(e.client_id, e.file_id)) {
                        n.entry = std::move(e);
                        n.manifest = std::move(m);
                        break;
                    }
                    store.dequeue(e);
                    --n.queued;
                }
                return n;
            },
            [this](Next n) {
                counters.queued = n.queued;
                if (!n.entry) {
                    phase = Phase::Idle;
                    counters.current.clear();
                    schedule_poll(kIdlePoll);
                    return;
                }
                entry = std::move(n.entry);
                manifest = std::move(*n.manifest);
                fid = upstream_id(*entry);
                counters.current = entry->client_id + "/" + entry->file_id;
                attempts = 0;
                begin();
            });
    }

    // (Re)starts the current file upstream: init, then the segments from the
    // last acknowledged offset.
    void begin() {
        inflight.clear();
        reading = false;
        ++generation;
        phase = Phase::Init;
        if (!link->connected()) return;  // on_connected begins again
        std::string body;
        JsonWriter w(body);
        w.begin_object().field("name", manifest.name).field("size", manifest.size).field("checksum", manifest.checksum);
        if (manifest.expire_at) w.field("expire_at", *manifest.expire_at);
        if (!manifest.user_data_json.empty()) w.raw_field("user_data", manifest.user_data_json);
        w.end_object();
        send("$file/" + fid + "/init", as_bytes(body), 0);
        link->flush();
    }

    void send(const std::string& topic, Bytes payload, uint64_t end_offset) {
        codec::Publish p;
        p.topic = topic;
        p.payload = payload;
        p.qos = 1;
        p.packet_id = alloc_pid();
        inflight[p.packet_id] = end_offset;
        codec::encode(link->output(), p, link->version());
    }

    void pump() {
        if (phase != Phase::Segments || reading || !link || !link->connected()) return;
        if (next_offset >= manifest.size) {
            if (inflight.empty()) send_fin();
            return;
        }
        if (inflight.size() >= window) return;
        reading = true;
        const uint64_t offset = next_offset;
        const uint64_t len = std::min<uint64_t>(config.file_segment_bytes, manifest.size - offset);
        struct Piece {
            std::vector<std::byte> data;
            std::string error;
        };
        on_disk(
            [path = store.data_path(entry->client_id, entry->file_id), offset, len]() {
                Piece p;
                p.data.resize(static_cast<std::size_t>(len));
                const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                    p.error = std::string("cannot open ") + path + ": " + std::strerror(errno);
                    return p;
                }
                std::size_t done = 0;
                while (done < p.data.size()) {
                    const ssize_t n = ::pread(fd, p.data.data() + done, p.data.size() - done,
                                              static_cast<off_t>(offset + done));
                    if (n < 0 && errno == EINTR) continue;
                    if (n <= 0) {
                        p.error = std::string("cannot read ") + path;
                        break;
                    }
                    done += static_cast<std::size_t>(n);
                }
                ::close(fd);
                return p;
            },
            [this, offset, len, gen = generation](Piece p) {
                if (gen != generation) return;  // started over meanwhile
                reading = false;
                if (!p.error.empty()) {
                    log::error("bridge '{}': file {}: {}; it is skipped", config.name, counters.current, p.error);
                    return set_aside();
                }
                if (!link->connected()) return;
                send("$file/" + fid + "/" + std::to_string(offset) + "/" + sha256_hex_of(p.data), p.data, offset + len);
                link->flush();
                next_offset = offset + len;
                pump();
            });
    }

    void send_fin() {
        phase = Phase::Fin;
        send("$file/" + fid + "/fin/" + std::to_string(manifest.size) + "/" + manifest.checksum, {}, 0);
        link->flush();
    }

    void on_puback(const codec::Ack& a) {
        auto it = inflight.find(a.packet_id);
        if (it == inflight.end()) return;
        const uint64_t end = it->second;
        inflight.erase(it);
        if (a.reason_code >= 0x80) {
            counters.failures += 1;
            const std::string why = a.properties.reason_string ? std::string(*a.properties.reason_string) : "";
            log::warn("bridge '{}': the upstream refused file {} (reason 0x{:02X} {}); it starts over", config.name,
                      counters.current, a.reason_code, why);
            if (++attempts >= kMaxAttempts) return set_aside();
            entry->acked = 0;
            save_progress();
            next_offset = 0;
            return begin();
        }
        switch (phase) {
            case Phase::Init:
                phase = Phase::Segments;
                next_offset = entry->acked;
                break;
            case Phase::Segments:
                // PUBACKs come in the order the segments were sent.
                counters.bytes += end - entry->acked;
                entry->acked = end;
                save_progress();
                break;
            case Phase::Fin: return finished();
            default: break;
        }
        pump();
    }

    void save_progress() {
        on_disk([store = store, e = *entry]() { store.save_progress(e); return 0; }, [](int) {});
    }

    void finished() {
        counters.forwarded += 1;
        log::info("bridge '{}': file {} ({} bytes) forwarded", config.name, counters.current, manifest.size);
        phase = Phase::Loading;
        on_disk(
            [store = store, e = *entry, bridge = config.name, keep = config.keep_forwarded_files]() mutable {
                store.dequeue(e);
                if (!keep && !store.queued_elsewhere(bridge, e.client_id, e.file_id)) store.remove(e.client_id, e.file_id);
                return 0;
            },
            [this](int) { load_next(); });
    }

    // The file cannot go (unreadable, or refused kMaxAttempts times): its
    // entry is renamed *.failed, kept for an operator, and the queue goes on.
    void set_aside() {
        log::error("bridge '{}': file {} set aside after {} attempts", config.name, counters.current, attempts);
        phase = Phase::Loading;
        on_disk(
            [e = *entry]() {
                ::rename(e.path.c_str(), (e.path + ".failed").c_str());
                return 0;
            },
            [this](int) { load_next(); });
    }

    void on_connected() {
        counters.connected = true;
        if (phase == Phase::Init || phase == Phase::Segments || phase == Phase::Fin) {
            // From the last acknowledged segment: what was in flight goes again.
            next_offset = entry->acked;
            begin();
        }
    }

    void on_disconnected() {
        counters.connected = false;
        inflight.clear();
    }
};

FileForwarder::FileForwarder(asio::io_context& io, const BridgeConfig& config, std::string files_root)
    : impl_(std::make_shared<Impl>(io, config, std::move(files_root))) {}

FileForwarder::~FileForwarder() {
    stop();
    impl_->disk.drain();
}

void FileForwarder::start() {
    IB_ASSERT_ON_LOOP(impl_->io);
    Impl& f = *impl_;
    LinkEvents events;
    events.connected = [&f](bool, const codec::Connack&) { f.on_connected(); };
    events.packet = [&f](const codec::Packet& p) {
        if (const auto* a = std::get_if<codec::Ack>(&p); a && a->type == codec::PacketType::Puback) f.on_puback(*a);
    };
    events.disconnected = [&f](const std::string&, bool) { f.on_disconnected(); };
    events.writable = [&f] { f.pump(); };
    f.link = std::make_unique<MqttLink>(f.io, f.config, std::move(events));
    f.running = true;
    f.link->start();
    f.load_next();
}

void FileForwarder::stop() {
    Impl& f = *impl_;
    if (!f.running) return;
    f.running = false;
    f.poll.cancel();
    if (f.link) f.link->stop();
}

void FileForwarder::kick() {
    IB_ASSERT_ON_LOOP(impl_->io);
    Impl& f = *impl_;
    if (!f.running || f.phase != Phase::Idle) return;
    f.poll.cancel();
    f.load_next();
}

FileForwardStatus FileForwarder::status() const { return impl_->counters; }

void FileForwarder::collect_metrics(MetricSink& sink, const std::string& labels) const {
    const FileForwardStatus s = status();
    using enum MetricType;
    sink.push_back({"ib_bridge_files_forwarded_total", "Files whose upstream fin succeeded.", Counter, labels,
                    static_cast<double>(s.forwarded)});
    sink.push_back({"ib_bridge_file_bytes_forwarded_total", "File segment bytes the upstream acknowledged.", Counter,
                    labels, static_cast<double>(s.bytes)});
    sink.push_back({"ib_bridge_file_failures_total", "File commands the upstream refused (the file started over).",
                    Counter, labels, static_cast<double>(s.failures)});
    sink.push_back({"ib_bridge_files_queued", "Files waiting to go upstream, the one in progress included.", Gauge,
                    labels, static_cast<double>(s.queued)});
}

}  // namespace ib::bridge
