#include "files/file_transfer.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <vector>

#include "core/json_writer.hpp"
#include "core/log.hpp"
#include "files/file_command.hpp"
#include "files/range_set.hpp"
#include "store/writer_thread.hpp"

namespace asio = boost::asio;

namespace ib::files {
namespace {

using mqtt::broker::AckOutcome;
using mqtt::broker::DurableTicket;
using SteadyClock = std::chrono::steady_clock;

constexpr uint8_t kSuccess = 0x00;
constexpr uint8_t kUnspecifiedError = 0x80;
// $file-async/ commands are acknowledged at once while the service is less
// than this far behind; beyond it their PUBACKs wait too, so a fast client is
// slowed by its inflight window instead of filling memory.
constexpr uint64_t kMaxAsyncBacklogBytes = 64ull << 20;
constexpr auto kTick = std::chrono::seconds(1);
constexpr std::size_t kHashBuffer = 1 << 20;

enum class Outcome : uint8_t {
    BadTopic, BadInit, NoTransfer, SegmentChecksum, OutOfRange, Gap, FileChecksum, SizeMismatch, StorageFull,
    TooLarge, IoError, Count
};
constexpr std::array<std::string_view, static_cast<std::size_t>(Outcome::Count)> kOutcomeNames = {
    "bad_topic", "bad_init", "no_transfer", "segment_checksum", "out_of_range", "gap", "file_checksum",
    "size_mismatch", "storage_full", "too_large", "io_error"};

enum class Command : uint8_t { Init, Segment, Fin, Abort, Count };
constexpr std::array<std::string_view, 4> kCommandNames = {"init", "segment", "fin", "abort"};

struct Failure {
    Outcome kind;
    std::string why;
};

int64_t unix_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Sha256 digest_of(Bytes data) {
    Sha256 d{};
    unsigned len = 0;
    EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr);
    return d;
}

// The SHA-256 of the first `size` bytes of `fd`, read in 1 MiB pieces.
std::expected<Sha256, std::string> digest_of_file(int fd, uint64_t size) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
    std::vector<std::byte> buf(kHashBuffer);
    uint64_t at = 0;
    while (at < size) {
        const std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), size - at));
        const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::unexpected(std::string("cannot read the partial file: ") + std::strerror(errno));
        EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n));
        at += static_cast<uint64_t>(n);
    }
    Sha256 d{};
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx.get(), d.data(), &len);
    return d;
}

// One command as it crosses from the shard to the service's thread.
struct Job {
    std::string client_id;
    std::string topic;
    std::vector<std::byte> payload;
    uint16_t packet_id = 0;
    std::optional<std::string> response_topic;
    std::optional<std::vector<std::byte>> correlation_data;
    std::shared_ptr<AckOutcome> outcome;
    DurableTicket ticket;
};

// An unfinished transfer: its partial file and what of it has arrived. The
// init body (`.meta`) and each range written (`.ranges`, 16 bytes each:
// begin and end, little-endian, appended) sit beside the partial file, so a
// restart finds the transfer again (not fsynced: after a power cut the file's
// SHA-256 at fin catches what the page cache lost).
struct Transfer {
    FileMeta meta;
    std::string part;
    int fd = -1;
    int ranges_fd = -1;
    RangeSet got;
    SteadyClock::time_point last_command;
    std::chrono::seconds ttl{0};
    ~Transfer() {
        if (fd >= 0) ::close(fd);
        if (ranges_fd >= 0) ::close(ranges_fd);
    }
    void record(uint64_t begin, uint64_t end) {
        got.add(begin, end);
        if (ranges_fd < 0) return;
        uint8_t rec[16];
        for (int i = 0; i < 8; ++i) {
            rec[i] = static_cast<uint8_t>(begin >> (8 * i));
            rec[8 + i] = static_cast<uint8_t>(end >> (8 * i));
        }
        if (::write(ranges_fd, rec, sizeof rec) != static_cast<ssize_t>(sizeof rec)) {
            // The map in memory is still right; only a restart would lose this range.
            ::close(std::exchange(ranges_fd, -1));
        }
    }
    void remove_files() const {
        ::unlink(part.c_str());
        ::unlink((part + ".meta").c_str());
        ::unlink((part + ".ranges").c_str());
    }
    Transfer() = default;
    Transfer(const Transfer&) = delete;
    Transfer& operator=(const Transfer&) = delete;
};

}  // namespace

struct FileTransferService::Impl {
    FilesConfig config;
    FileStore store;
    mqtt::broker::Router& router;
    store::WriterThread thread{"ib-files"};
    std::unique_ptr<asio::steady_timer> tick;
    bool stopping = false;
    std::function<void()> on_queued;

    // On the service's thread only.
    std::map<std::pair<std::string, std::string>, std::unique_ptr<Transfer>> transfers;
    uint64_t stored_bytes = 0;
    SteadyClock::time_point last_store_sweep{};

    // Read by any thread.
    std::atomic<uint64_t> backlog_bytes{0};
    std::atomic<uint64_t> stored_bytes_gauge{0};
    std::atomic<uint64_t> stored_files_gauge{0};
    std::atomic<uint64_t> active_gauge{0};
    std::array<SharedCounter, static_cast<std::size_t>(Command::Count)> commands;
    std::array<SharedCounter, static_cast<std::size_t>(Outcome::Count)> failures;
    SharedCounter files_stored, received_bytes, transfers_expired, files_expired, aborted;

    Impl(FilesConfig c, std::string root, mqtt::broker::Router& r)
        : config(std::move(c)), store(std::move(root)), router(r) {}

    // ---------------------------------------------------------------- thread side

    std::expected<void, Failure> run(const std::string& client, const FileCommand& cmd, Bytes payload) {
        switch (cmd.kind) {
            case CommandKind::Init: return init(client, cmd, payload);
            case CommandKind::Segment: return segment(client, cmd, payload);
            case CommandKind::Fin: return fin(client, cmd);
            case CommandKind::Abort: return abort(client, cmd);
        }
        return {};
    }

    static std::unexpected<Failure> fail(Outcome k, std::string why) { return std::unexpected(Failure{k, std::move(why)}); }

    std::expected<void, Failure> init(const std::string& client, const FileCommand& cmd, Bytes payload) {
        auto meta = parse_init(payload);
        if (!meta) return fail(Outcome::BadInit, meta.error());
        if (meta->size && *meta->size > config.max_file_bytes) {
            return fail(Outcome::TooLarge, "init: size " + std::to_string(*meta->size) + " is above files.max_file_bytes " +
                                               std::to_string(config.max_file_bytes));
        }
        if (meta->size && stored_bytes + *meta->size > config.max_total_bytes) {
            return fail(Outcome::StorageFull, "init: no room for " + std::to_string(*meta->size) +
                                                  " bytes (files.max_total_bytes " + std::to_string(config.max_total_bytes) + ")");
        }
        auto key = std::pair{client, std::string(cmd.file_id)};
        auto it = transfers.find(key);
        if (it != transfers.end()) {
            Transfer& t = *it->second;
            // The same init again (a client resuming after a disconnect) keeps
            // what arrived; a different one starts the file over.
            if (t.meta.name == meta->name && t.meta.size == meta->size && t.meta.checksum == meta->checksum) {
                t.last_command = SteadyClock::now();
                return {};
            }
            drop(it);
        }
        auto t = std::make_unique<Transfer>();
        t->part = store.part_path(client, cmd.file_id);
        t->fd = ::open(t->part.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (t->fd < 0) return fail(Outcome::IoError, "init: cannot create " + t->part + ": " + std::strerror(errno));
        if (auto r = write_side_files(*t, payload); !r) return fail(Outcome::IoError, "init: " + r.error());
        t->ttl = meta->segments_ttl_s ? std::chrono::seconds(*meta->segments_ttl_s) : config.segments_ttl;
        t->meta = std::move(*meta);
        t->last_command = SteadyClock::now();
        transfers.emplace(std::move(key), std::move(t));
        active_gauge.store(transfers.size(), std::memory_order_relaxed);
        return {};
    }

    Transfer* find(const std::string& client, std::string_view id) {
        auto it = transfers.find(std::pair{client, std::string(id)});
        return it == transfers.end() ? nullptr : it->second.get();
    }

    std::expected<void, Failure> segment(const std::string& client, const FileCommand& cmd, Bytes payload) {
        Transfer* t = find(client, cmd.file_id);
        if (!t) return fail(Outcome::NoTransfer, "segment of file '" + std::string(cmd.file_id) + "' with no init (or expired)");
        t->last_command = SteadyClock::now();
        if (cmd.checksum && digest_of(payload) != *cmd.checksum) {
            return fail(Outcome::SegmentChecksum, "segment at offset " + std::to_string(cmd.offset) +
                                                      ": checksum mismatch (the segment was not stored)");
        }
        const uint64_t end = cmd.offset + payload.size();
        const uint64_t limit = t->meta.size.value_or(config.max_file_bytes);
        if (end < cmd.offset || end > limit) {
            return fail(Outcome::OutOfRange, "segment " + std::to_string(cmd.offset) + "-" + std::to_string(end) +
                                                 " lies beyond the file's size " + std::to_string(limit));
        }
        std::size_t done = 0;
        while (done < payload.size()) {
            const ssize_t n = ::pwrite(t->fd, payload.data() + done, payload.size() - done,
                                       static_cast<off_t>(cmd.offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return fail(Outcome::IoError, std::string("segment: cannot write: ") + std::strerror(errno));
            done += static_cast<std::size_t>(n);
        }
        t->record(cmd.offset, end);
        received_bytes.add(payload.size());
        return {};
    }

    std::expected<void, Failure> fin(const std::string& client, const FileCommand& cmd) {
        Transfer* t = find(client, cmd.file_id);
        if (!t) {
            // A fin sent again after its answer was lost: the stored file answers it.
            if (auto m = store.manifest(client, cmd.file_id); m && m->size == cmd.size &&
                (!cmd.checksum || m->checksum == sha256_hex(*cmd.checksum))) {
                return {};
            }
            return fail(Outcome::NoTransfer, "fin of file '" + std::string(cmd.file_id) + "' with no init (or expired)");
        }
        t->last_command = SteadyClock::now();
        if (t->meta.size && *t->meta.size != cmd.size) {
            return fail(Outcome::SizeMismatch, "fin: size " + std::to_string(cmd.size) + " differs from init's " +
                                                   std::to_string(*t->meta.size));
        }
        if (auto gap = t->got.first_gap(cmd.size)) {
            return fail(Outcome::Gap, "fin: bytes " + std::to_string(gap->first) + "-" + std::to_string(gap->second - 1) +
                                          " of " + std::to_string(cmd.size) + " are missing");
        }
        if (stored_bytes + cmd.size > config.max_total_bytes) {
            return fail(Outcome::StorageFull, "fin: no room for " + std::to_string(cmd.size) +
                                                  " bytes (files.max_total_bytes " + std::to_string(config.max_total_bytes) + ")");
        }
        // Segments beyond the size a fin names are not part of the file.
        if (::ftruncate(t->fd, static_cast<off_t>(cmd.size)) != 0) {
            return fail(Outcome::IoError, std::string("fin: cannot truncate: ") + std::strerror(errno));
        }
        auto digest = digest_of_file(t->fd, cmd.size);
        if (!digest) return fail(Outcome::IoError, "fin: " + digest.error());
        const std::optional<Sha256> expected = cmd.checksum ? cmd.checksum : t->meta.checksum;
        if (expected && *digest != *expected) {
            return fail(Outcome::FileChecksum, "fin: file checksum mismatch: expected " + sha256_hex(*expected) +
                                                   ", the bytes received give " + sha256_hex(*digest));
        }
        Manifest m;
        m.client_id = client;
        m.file_id = cmd.file_id;
        m.name = t->meta.name;
        m.size = cmd.size;
        m.checksum = sha256_hex(*digest);
        m.stored_at_ms = unix_ms();
        m.expire_at = t->meta.expire_at;
        m.user_data_json = t->meta.user_data_json;
        ::close(std::exchange(t->fd, -1));
        // A file stored before under the same ids is replaced (its bytes leave the total).
        if (auto old = store.manifest(client, cmd.file_id)) stored_bytes -= std::min(stored_bytes, old->size);
        if (auto r = store.commit(t->part, m); !r) {
            drop(transfers.find(std::pair{client, std::string(cmd.file_id)}));
            return fail(Outcome::IoError, "fin: " + r.error());
        }
        {
            auto it = transfers.find(std::pair{client, std::string(cmd.file_id)});
            it->second->remove_files();  // the part itself was renamed: only the side files go
            transfers.erase(it);
        }
        active_gauge.store(transfers.size(), std::memory_order_relaxed);
        stored_bytes += m.size;
        stored_bytes_gauge.store(stored_bytes, std::memory_order_relaxed);
        stored_files_gauge.fetch_add(1, std::memory_order_relaxed);
        files_stored.add();
        // Queued for every forwarding bridge before the client hears success:
        // a kill -9 after the PUBACK cannot lose the forward.
        for (const auto& bridge : config.forward_bridges) {
            if (auto r = store.enqueue_forward(bridge, client, cmd.file_id); !r) {
                return fail(Outcome::IoError, "fin: stored, but not queued for bridge '" + bridge + "': " + r.error());
            }
        }
        if (on_queued && !config.forward_bridges.empty()) on_queued();
        log::info("files: stored '{}' from '{}' as {} ({} bytes, sha256 {})", m.name, client, m.file_id, m.size, m.checksum);
        return {};
    }

    std::expected<void, Failure> abort(const std::string& client, const FileCommand& cmd) {
        auto it = transfers.find(std::pair{client, std::string(cmd.file_id)});
        if (it != transfers.end()) {
            drop(it);
            aborted.add();
        }
        return {};
    }

    static std::expected<void, std::string> write_side_files(Transfer& t, Bytes init_body) {
        const std::string meta = t.part + ".meta";
        const int fd = ::open(meta.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return std::unexpected("cannot create " + meta + ": " + std::strerror(errno));
        const bool ok = ::write(fd, init_body.data(), init_body.size()) == static_cast<ssize_t>(init_body.size());
        ::close(fd);
        if (!ok) return std::unexpected("cannot write " + meta);
        const std::string ranges = t.part + ".ranges";
        t.ranges_fd = ::open(ranges.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (t.ranges_fd < 0) return std::unexpected("cannot create " + ranges + ": " + std::strerror(errno));
        return {};
    }

    // The unfinished transfers of the last run, with what had arrived; their
    // segments_ttl starts again now. One whose side files are unreadable goes.
    void restore() {
        for (const auto& p : store.partials()) {
            auto t = std::make_unique<Transfer>();
            t->part = p.part;
            std::string body;
            {
                std::ifstream in(p.part + ".meta", std::ios::binary);
                body.assign(std::istreambuf_iterator<char>(in), {});
            }
            auto meta = parse_init(as_bytes(body));
            t->fd = ::open(p.part.c_str(), O_RDWR | O_CLOEXEC);
            t->ranges_fd = ::open((p.part + ".ranges").c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
            if (!meta || t->fd < 0 || t->ranges_fd < 0) {
                t->remove_files();
                continue;
            }
            uint8_t rec[16];
            while (::read(t->ranges_fd, rec, sizeof rec) == static_cast<ssize_t>(sizeof rec)) {
                uint64_t begin = 0, end = 0;
                for (int i = 7; i >= 0; --i) {
                    begin = (begin << 8) | rec[i];
                    end = (end << 8) | rec[8 + i];
                }
                t->got.add(begin, end);
            }
            t->ttl = meta->segments_ttl_s ? std::chrono::seconds(*meta->segments_ttl_s) : config.segments_ttl;
            t->meta = std::move(*meta);
            t->last_command = SteadyClock::now();
            log::info("files: unfinished transfer '{}' of '{}' resumed from the last run ({} bytes received)",
                      p.file_id, p.client_id, t->got.covered());
            transfers.emplace(std::pair{p.client_id, p.file_id}, std::move(t));
        }
        active_gauge.store(transfers.size(), std::memory_order_relaxed);
    }

    void drop(decltype(transfers)::iterator it) {
        if (it == transfers.end()) return;
        it->second->remove_files();
        transfers.erase(it);
        active_gauge.store(transfers.size(), std::memory_order_relaxed);
    }

    void handle(Job& job) {
        backlog_bytes.fetch_sub(job.payload.size(), std::memory_order_relaxed);
        std::expected<void, Failure> result;
        auto cmd = parse_file_topic(job.topic);
        if (!cmd) {
            result = fail(Outcome::BadTopic, job.topic + ": " + cmd.error());
        } else {
            commands[static_cast<std::size_t>(cmd->kind)].add();
            result = run(job.client_id, *cmd, job.payload);
        }
        const uint8_t reason = result ? kSuccess : kUnspecifiedError;
        const std::string why = result ? std::string() : result.error().why;
        if (!result) {
            failures[static_cast<std::size_t>(result.error().kind)].add();
            IB_LOG_LIMITED_WARN("files: '{}' on {}: {}", job.client_id, job.topic, why);
        }
        if (job.outcome) {
            job.outcome->reason = reason;
            job.outcome->reason_string = why;
        }
        respond(job, reason, why);
        job.ticket.complete();
    }

    // The result as JSON, to the request's response topic (5.0) with its
    // correlation data, else to $file-response/{clientId}.
    void respond(const Job& job, uint8_t reason, const std::string& why) {
        std::string body;
        JsonWriter w(body);
        w.begin_object()
            .field("vsn", "0.1")
            .field("topic", job.topic)
            .field("packet_id", job.packet_id)
            .field("reason_code", reason)
            .field("reason_description", reason == kSuccess ? std::string("success") : why)
            .end_object();
        mqtt::broker::PublishOptions o;
        o.qos = 1;
        if (job.correlation_data) o.correlation_data = Bytes(*job.correlation_data);
        const std::string topic = job.response_topic ? *job.response_topic : "$file-response/" + job.client_id;
        if (auto r = router.publish(topic, as_bytes(body), o); !r) {
            IB_LOG_LIMITED_WARN("files: the result for '{}' cannot go to '{}': {}", job.client_id, topic, r.error());
        }
    }

    void sweep() {
        const auto now = SteadyClock::now();
        for (auto it = transfers.begin(); it != transfers.end();) {
            auto next = std::next(it);
            if (now - it->second->last_command > it->second->ttl) {
                log::info("files: unfinished transfer '{}' of '{}' expired ({} bytes received)", it->first.second,
                          it->first.first, it->second->got.covered());
                transfers_expired.add();
                drop(it);
            }
            it = next;
        }
        // Stored files: their expiry, the retention, and the total (a bridge
        // may have deleted forwarded ones) every 10 s.
        if (now - last_store_sweep < std::chrono::seconds(10)) return;
        last_store_sweep = now;
        const int64_t now_s = unix_s();
        const int64_t now_ms = unix_ms();
        uint64_t total = 0, count = 0;
        for (const Manifest& m : store.list()) {
            const bool past_expiry = m.expire_at && *m.expire_at < now_s;
            const bool past_retention = config.retention.count() > 0 &&
                                        now_ms - m.stored_at_ms > std::chrono::duration_cast<std::chrono::milliseconds>(config.retention).count();
            if ((past_expiry || past_retention) && !queued_anywhere(m)) {
                store.remove(m.client_id, m.file_id);
                files_expired.add();
                log::info("files: '{}' of '{}' expired and was deleted", m.file_id, m.client_id);
                continue;
            }
            total += m.size;
            ++count;
        }
        stored_bytes = total;
        stored_bytes_gauge.store(total, std::memory_order_relaxed);
        stored_files_gauge.store(count, std::memory_order_relaxed);
    }

    // The queues of bridges that no longer forward files are set aside, so
    // they hold nothing back from expiry (and come back with their bridge).
    void park_queues() {
        const auto r = store.park_queues(config.forward_bridges);
        for (const auto& b : r.parked) {
            log::warn("files: bridge '{}' no longer forwards files; its queue is set aside until it does again "
                      "(queued files now expire as others do)", b);
        }
        for (const auto& b : r.resumed) log::info("files: bridge '{}' forwards files again; its queue is resumed", b);
        if (!r.error.empty()) log::error("files: forward queues: {}", r.error);
    }

    bool queued_anywhere(const Manifest& m) const {
        return !config.forward_bridges.empty() && store.queued_elsewhere("", m.client_id, m.file_id);
    }

    void schedule_tick() {
        if (stopping) return;
        tick->expires_after(kTick);
        tick->async_wait([this](const boost::system::error_code& ec) {
            if (ec || stopping) return;
            // Until the first command (or a store found non-empty at start)
            // there is nothing to expire, and no thread to start for it.
            if (thread.started()) thread.submit([this] { sweep(); });
            schedule_tick();
        });
    }
};

FileTransferService::FileTransferService(FilesConfig config, std::string root, mqtt::broker::Router& router)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(root), router)) {}

FileTransferService::~FileTransferService() { impl_->thread.drain(); }

std::expected<void, std::string> FileTransferService::start(asio::io_context& tick_loop) {
    if (auto r = impl_->store.open(); !r) return r;
    impl_->tick = std::make_unique<asio::steady_timer>(tick_loop);
    Impl* i = impl_.get();
    // An empty store, as most nodes have at start, has nothing to restore,
    // sweep or set aside: the thread (ib-files) starts with the first file
    // command, or the first change of the bridges, instead.
    if (!i->store.empty()) {
        i->thread.submit([i] {
            i->park_queues();
            i->restore();
            i->sweep();
        });
    }
    i->schedule_tick();
    return {};
}

void FileTransferService::stop() {
    impl_->stopping = true;
    if (impl_->tick) impl_->tick->cancel();
    impl_->thread.drain();
}

bool FileTransferService::on_file_command(const mqtt::broker::FileCommandRequest& request,
                                          std::shared_ptr<AckOutcome> outcome, DurableTicket ticket) {
    Impl* i = impl_.get();
    Job job;
    job.client_id = request.client_id;
    job.topic = request.topic;
    job.payload.assign(request.payload.begin(), request.payload.end());
    job.packet_id = request.packet_id;
    if (request.response_topic) job.response_topic = std::string(*request.response_topic);
    if (request.correlation_data) job.correlation_data.emplace(request.correlation_data->begin(), request.correlation_data->end());
    job.outcome = std::move(outcome);
    job.ticket = std::move(ticket);
    const uint64_t behind = i->backlog_bytes.fetch_add(job.payload.size(), std::memory_order_relaxed);
    const bool async = request.topic.starts_with("$file-async/");
    // An async command's answer goes to the response topic only; its ticket is
    // dropped at once unless the service is behind.
    const bool hold = !async || behind > kMaxAsyncBacklogBytes;
    if (!hold) {
        job.outcome.reset();
        job.ticket.complete();
    }
    i->thread.submit([i, job = std::make_shared<Job>(std::move(job))] { i->handle(*job); });
    return hold;
}

void FileTransferService::list(std::size_t offset, std::size_t limit, std::function<void(std::string)> done) {
    Impl* i = impl_.get();
    i->thread.submit([i, offset, limit, done = std::move(done)] {
        const auto all = i->store.list();
        std::string out;
        JsonWriter w(out);
        w.begin_object().field("total", all.size()).field("offset", offset).key("files").begin_array();
        for (std::size_t k = offset; k < all.size() && k < offset + limit; ++k) w.raw(manifest_to_json(all[k]));
        w.end_array().end_object();
        done(std::move(out));
    });
}

void FileTransferService::remove(std::string client, std::string id, std::function<void(std::optional<Manifest>)> done) {
    Impl* i = impl_.get();
    i->thread.submit([i, client = std::move(client), id = std::move(id), done = std::move(done)] {
        auto m = i->store.manifest(client, id);
        if (m && i->store.remove(client, id)) {
            i->stored_bytes -= std::min(i->stored_bytes, m->size);
            i->stored_bytes_gauge.store(i->stored_bytes, std::memory_order_relaxed);
            i->stored_files_gauge.fetch_sub(1, std::memory_order_relaxed);
        }
        done(std::move(m));
    });
}

void FileTransferService::set_on_queued(std::function<void()> fn) { impl_->on_queued = std::move(fn); }

void FileTransferService::set_forward_bridges(std::vector<std::string> names) {
    Impl* i = impl_.get();
    // The list is the service thread's: fin and the sweep read it there.
    i->thread.submit([i, names = std::move(names)]() mutable {
        i->config.forward_bridges = std::move(names);
        i->park_queues();
    });
}

const FileStore& FileTransferService::store() const { return impl_->store; }

void FileTransferService::collect_metrics(MetricSink& sink) const {
    const Impl& i = *impl_;
    using enum MetricType;
    for (std::size_t k = 0; k < kCommandNames.size(); ++k) {
        sink.push_back({"ib_files_commands_total", "File transfer commands received, by command.", Counter,
                        "command=\"" + std::string(kCommandNames[k]) + "\"", static_cast<double>(i.commands[k].get())});
    }
    for (std::size_t k = 0; k < kOutcomeNames.size(); ++k) {
        sink.push_back({"ib_files_command_failures_total", "File transfer commands answered with an error, by reason.",
                        Counter, "reason=\"" + std::string(kOutcomeNames[k]) + "\"",
                        static_cast<double>(i.failures[k].get())});
    }
    sink.push_back({"ib_files_stored_total", "Files assembled, verified and stored.", Counter, "",
                    static_cast<double>(i.files_stored.get())});
    sink.push_back({"ib_files_received_bytes_total", "Segment bytes written.", Counter, "",
                    static_cast<double>(i.received_bytes.get())});
    sink.push_back({"ib_files_transfers_expired_total", "Unfinished transfers dropped after their segments_ttl.", Counter,
                    "", static_cast<double>(i.transfers_expired.get())});
    sink.push_back({"ib_files_transfers_aborted_total", "Transfers aborted by their client.", Counter, "",
                    static_cast<double>(i.aborted.get())});
    sink.push_back({"ib_files_expired_total", "Stored files deleted at their expiry or retention.", Counter, "",
                    static_cast<double>(i.files_expired.get())});
    sink.push_back({"ib_files_active_transfers", "Unfinished transfers.", Gauge, "",
                    static_cast<double>(i.active_gauge.load(std::memory_order_relaxed))});
    sink.push_back({"ib_files_stored_bytes", "Bytes of stored files.", Gauge, "",
                    static_cast<double>(i.stored_bytes_gauge.load(std::memory_order_relaxed))});
    sink.push_back({"ib_files_stored_files", "Stored files.", Gauge, "",
                    static_cast<double>(i.stored_files_gauge.load(std::memory_order_relaxed))});
    sink.push_back({"ib_files_backlog_bytes", "Segment bytes received and not yet written.", Gauge, "",
                    static_cast<double>(i.backlog_bytes.load(std::memory_order_relaxed))});
}

}  // namespace ib::files
