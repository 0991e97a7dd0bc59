#include "net/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace ib::net {

namespace {

// Drains this thread's OpenSSL error queue into one line.
std::string ssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

// A file OpenSSL cannot open gets errno's words, which say more than
// "system lib" from the error queue.
std::string unreadable(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return std::strerror(errno);
    std::fclose(f);
    return {};
}

// A socket BIO that writes with send(MSG_NOSIGNAL): OpenSSL's own uses write(),
// which raises SIGPIPE when a peer has gone, and the process does not ignore it
// (Asio's own sockets pass MSG_NOSIGNAL; this keeps TLS the same).
int nosignal_write(BIO* b, const char* data, int len) {
    const int fd = static_cast<int>(BIO_get_fd(b, nullptr));
    errno = 0;
    const ssize_t r = ::send(fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
    BIO_clear_retry_flags(b);
    if (r <= 0 && BIO_sock_should_retry(static_cast<int>(r))) BIO_set_retry_write(b);
    return static_cast<int>(r);
}

const BIO_METHOD* nosignal_socket_method() {
    static BIO_METHOD* method = [] {
        const BIO_METHOD* base = BIO_s_socket();
        BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOCKET, "socket, MSG_NOSIGNAL");
        BIO_meth_set_write(m, nosignal_write);
        BIO_meth_set_read(m, BIO_meth_get_read(base));
        BIO_meth_set_puts(m, BIO_meth_get_puts(base));
        BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
        BIO_meth_set_create(m, BIO_meth_get_create(base));
        BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
        return m;
    }();
    return method;
}

struct CtxDeleter {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

std::expected<SSL_CTX*, std::string> build(const TlsServerSettings& s) {
    ERR_clear_error();
    std::unique_ptr<SSL_CTX, CtxDeleter> ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) return std::unexpected("cannot create a TLS context: " + ssl_errors());
    const int min = s.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(ctx.get(), min);
    // Renegotiation would let a client make SSL_write wait for a read; nothing
    // an MQTT client needs.
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Partial writes and a buffer that may move between retries: the output
    // buffer grows while a write waits. Released buffers: an idle TLS
    // connection holds no record buffers.
    SSL_CTX_set_mode(ctx.get(),
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    auto file_error = [](const char* what, const std::string& path, std::string why) {
        return std::unexpected(std::string(what) + " '" + path + "': " + why);
    };
    if (auto e = unreadable(s.cert_file); !e.empty()) return file_error("tls_cert", s.cert_file, e);
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), s.cert_file.c_str()) != 1)
        return file_error("tls_cert", s.cert_file, "not a PEM certificate: " + ssl_errors());
    if (auto e = unreadable(s.key_file); !e.empty()) return file_error("tls_key", s.key_file, e);
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), s.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            return file_error("tls_key", s.key_file, "does not match the certificate in '" + s.cert_file + "'");
        }
        return file_error("tls_key", s.key_file, "not a PEM private key: " + ssl_errors());
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1)
        return file_error("tls_key", s.key_file, "does not match the certificate in '" + s.cert_file + "'");
    if (!s.ca_file.empty()) {
        if (auto e = unreadable(s.ca_file); !e.empty()) return file_error("tls_ca", s.ca_file, e);
        if (SSL_CTX_load_verify_locations(ctx.get(), s.ca_file.c_str(), nullptr) != 1)
            return file_error("tls_ca", s.ca_file, "no PEM certificates: " + ssl_errors());
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca_file.c_str()))
            SSL_CTX_set_client_CA_list(ctx.get(), names);
        int mode = SSL_VERIFY_PEER;
        if (s.require_client_cert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx.get(), mode, nullptr);
        // Session resumption with client certificates needs an id context.
        static const unsigned char kSidCtx[] = "ironbridge-mqtt";
        SSL_CTX_set_session_id_context(ctx.get(), kSidCtx, sizeof kSidCtx - 1);
    }
    return ctx.release();
}

}  // namespace

std::string check_tls_files(const TlsServerSettings& s) {
    auto ctx = build(s);
    if (!ctx) return ctx.error();
    SSL_CTX_free(*ctx);
    return {};
}

TlsServerContext::~TlsServerContext() {
    if (ctx_) SSL_CTX_free(ctx_);
}

TlsServerContext::Stamp TlsServerContext::stamp() const {
    Stamp st;
    struct stat sb;
    auto of = [&](const std::string& path, FileStamp& f) {
        if (!path.empty() && ::stat(path.c_str(), &sb) == 0) {
            f.mtime = sb.st_mtim.tv_sec;
            f.mtime_ns = sb.st_mtim.tv_nsec;
            f.size = sb.st_size;
            f.inode = sb.st_ino;
        }
    };
    of(settings_.cert_file, st.cert);
    of(settings_.key_file, st.key);
    of(settings_.ca_file, st.ca);
    return st;
}

std::expected<void, std::string> TlsServerContext::load(const TlsServerSettings& s) {
    settings_ = s;
    stamp_ = stamp();
    auto ctx = build(s);
    if (!ctx) return std::unexpected(ctx.error());
    std::lock_guard lock(mutex_);
    if (ctx_) SSL_CTX_free(ctx_);
    ctx_ = *ctx;
    return {};
}

std::string TlsServerContext::reload_if_changed() {
    const Stamp now = stamp();
    if (now == stamp_) return {};
    // Remembered even when the build fails: a bad file is reported once, not
    // on every check, and a later fix changes the stamp again.
    stamp_ = now;
    auto ctx = build(settings_);
    if (!ctx) return ctx.error();
    std::lock_guard lock(mutex_);
    if (ctx_) SSL_CTX_free(ctx_);  // sessions still using it hold their own reference
    ctx_ = *ctx;
    return "reloaded";
}

ssl_st* TlsServerContext::new_session(int fd) {
    SSL* ssl = nullptr;
    {
        std::lock_guard lock(mutex_);
        if (ctx_) ssl = SSL_new(ctx_);
    }
    if (!ssl) return nullptr;
    BIO* bio = BIO_new(nosignal_socket_method());
    if (!bio) {
        SSL_free(ssl);
        return nullptr;
    }
    BIO_set_fd(bio, fd, BIO_NOCLOSE);
    SSL_set_bio(ssl, bio, bio);  // the SSL owns the BIO now
    SSL_set_accept_state(ssl);
    return ssl;
}

TlsStream::~TlsStream() {
    if (ssl_) SSL_free(ssl_);
}

TlsIo TlsStream::map_error(int ret) {
    const int err = SSL_get_error(ssl_, ret);
    if (err == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        // OpenSSL 3 reports a close without close_notify as an error; for MQTT,
        // whose packets are self-delimiting, it is a plain end of the connection.
        ERR_clear_error();
        error_ = "connection closed without close_notify";
        fatal_ = true;
        return TlsIo::Closed;
    }
    switch (err) {
        case SSL_ERROR_WANT_READ: return TlsIo::WantRead;
        case SSL_ERROR_WANT_WRITE: return TlsIo::WantWrite;
        case SSL_ERROR_ZERO_RETURN: return TlsIo::Closed;
        case SSL_ERROR_SYSCALL:
            if (ERR_peek_error() == 0) {
                // EOF without close_notify, or a reset: the peer is gone.
                error_ = errno != 0 ? std::strerror(errno) : "connection closed";
                fatal_ = true;
                return TlsIo::Closed;
            }
            [[fallthrough]];
        default:
            error_ = ssl_errors();
            fatal_ = true;
            return TlsIo::Error;
    }
}

TlsIo TlsStream::handshake() {
    if (handshake_done_) return TlsIo::Ok;
    ERR_clear_error();
    errno = 0;
    const int r = SSL_do_handshake(ssl_);
    if (r != 1) {
        TlsIo io = map_error(r);
        if (io == TlsIo::Error || io == TlsIo::Closed) {
            const long v = SSL_get_verify_result(ssl_);
            if (v != X509_V_OK) error_ = std::string("client certificate: ") + X509_verify_cert_error_string(v);
        }
        return io;
    }
    handshake_done_ = true;
    if (X509* cert = SSL_get0_peer_certificate(ssl_); cert && SSL_get_verify_result(ssl_) == X509_V_OK) {
        X509_NAME* subject = X509_get_subject_name(cert);
        const int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
        if (i >= 0) {
            unsigned char* utf8 = nullptr;
            const int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
            if (len > 0) peer_cn_.assign(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
            OPENSSL_free(utf8);
        }
    }
    return TlsIo::Ok;
}

TlsIo TlsStream::read(std::byte* buf, std::size_t len, std::size_t& n) {
    ERR_clear_error();
    errno = 0;
    n = 0;
    const int r = SSL_read_ex(ssl_, buf, len, &n);
    return r == 1 ? TlsIo::Ok : map_error(r);
}

TlsIo TlsStream::write(const std::byte* buf, std::size_t len, std::size_t& n) {
    ERR_clear_error();
    errno = 0;
    n = 0;
    const int r = SSL_write_ex(ssl_, buf, len, &n);
    return r == 1 ? TlsIo::Ok : map_error(r);
}

void TlsStream::shutdown() {
    if (!handshake_done_ || fatal_) return;
    ERR_clear_error();
    SSL_shutdown(ssl_);  // best effort: the socket closes next, whatever it returns
    ERR_clear_error();
}

}  // namespace ib::net
