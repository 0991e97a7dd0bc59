// Server-side TLS (OpenSSL 3) over a non-blocking socket the caller drives with
// readiness waits: no Asio stream wrapper, no thread of its own, no protocol.
// OpenSSL's types stay behind this header (opaque forward declarations only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <expected>
#include <mutex>
#include <string>
#include <string_view>

struct ssl_st;
struct ssl_ctx_st;

namespace ib::net {

struct TlsServerSettings {
    std::string cert_file;  // PEM, the server certificate (and its chain)
    std::string key_file;   // PEM private key matching cert_file
    std::string ca_file;    // PEM CAs for client certificates; empty: none asked for
    bool require_client_cert = false;
    std::string min_version = "1.2";  // "1.2" or "1.3"
};

// Checks the files the way a context build would (readable, PEM, key matches
// certificate) and returns the error naming the file; empty when fine.
std::string check_tls_files(const TlsServerSettings& s);

// The SSL_CTX of one listener. New connections take the current one; reload()
// replaces it only when the new files are good, so a bad certificate on disk
// never stops new connections (each SSL keeps a reference to its own context).
class TlsServerContext {
public:
    TlsServerContext() = default;
    ~TlsServerContext();
    TlsServerContext(const TlsServerContext&) = delete;
    TlsServerContext& operator=(const TlsServerContext&) = delete;

    // Builds the first context; the error names the file at fault.
    std::expected<void, std::string> load(const TlsServerSettings& s);
    // Rebuilds when a file changed (time, size or inode) since the last attempt.
    // Returns an empty string when nothing changed, "reloaded", or the reason
    // the new files were refused (the old context stays in use).
    std::string reload_if_changed();

    // A new server-side SSL for `fd`, or nullptr (out of memory).
    ssl_st* new_session(int fd);

private:
    // A file's identity and version as stat sees them. The size and inode are
    // part of it: a copy in place (truncate, then write) within one tick of a
    // coarse clock keeps the mtime the check saw between the two steps.
    struct FileStamp {
        std::time_t mtime = 0;
        long mtime_ns = 0;
        long long size = -1;
        unsigned long long inode = 0;
        bool operator==(const FileStamp&) const = default;
    };
    struct Stamp {
        FileStamp cert, key, ca;
        bool operator==(const Stamp&) const = default;
    };
    Stamp stamp() const;

    TlsServerSettings settings_;
    std::mutex mutex_;  // guards ctx_: sessions start on every shard
    ssl_ctx_st* ctx_ = nullptr;
    Stamp stamp_{};
};

// Outcome of one TLS read, write or handshake step on a non-blocking socket.
enum class TlsIo : uint8_t { Ok, WantRead, WantWrite, Closed, Error };

// One connection's TLS state. Owns the SSL, not the descriptor: the socket's
// owner closes it. Moves with the descriptor when a connection changes shard.
class TlsStream {
public:
    explicit TlsStream(ssl_st* ssl) : ssl_(ssl) {}
    ~TlsStream();
    TlsStream(const TlsStream&) = delete;
    TlsStream& operator=(const TlsStream&) = delete;

    bool handshake_done() const { return handshake_done_; }
    // Continues the handshake; Ok once it is complete.
    TlsIo handshake();
    // Why the handshake or the last operation failed (OpenSSL's text).
    const std::string& error() const { return error_; }
    // The verified client certificate's subject CN (empty if none).
    std::string_view peer_cn() const { return peer_cn_; }

    TlsIo read(std::byte* buf, std::size_t len, std::size_t& n);
    TlsIo write(const std::byte* buf, std::size_t len, std::size_t& n);
    // One non-blocking close_notify; the socket is closed right after.
    void shutdown();

private:
    TlsIo map_error(int ret);

    ssl_st* ssl_;
    bool handshake_done_ = false;
    bool fatal_ = false;  // after a fatal error OpenSSL forbids SSL_shutdown
    std::string error_;
    std::string peer_cn_;
};

}  // namespace ib::net
