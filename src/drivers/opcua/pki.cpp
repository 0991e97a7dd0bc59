// Our application instance certificate and the server trust list, on OpenSSL 3
// and plain files (the own/ trusted/ rejected/ layout of node-opcua and Beckhoff).
#include "drivers/opcua/pki.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <iterator>

#include "drivers/opcua/status_code.hpp"

namespace ib::drivers::opcua {

namespace fs = std::filesystem;

namespace {

struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
    void operator()(BIO* b) const { BIO_free(b); }
    void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
    void operator()(ASN1_TIME* t) const { ASN1_TIME_free(t); }
    void operator()(X509_CRL* c) const { X509_CRL_free(c); }
    void operator()(X509_STORE* s) const { X509_STORE_free(s); }
    void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
    void operator()(STACK_OF(X509)* k) const { sk_X509_pop_free(k, X509_free); }
};
template <typename T>
using Owned = std::unique_ptr<T, X509Free>;

std::unexpected<PkiError> pki_fail(StatusCode status, std::string message) {
    return std::unexpected(PkiError{status, std::move(message)});
}

Owned<X509> parse_der(Bytes der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    return Owned<X509>(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

ByteString to_der(X509* x) {
    const int size = i2d_X509(x, nullptr);
    if (size <= 0) return {};
    ByteString out(static_cast<std::size_t>(size));
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    i2d_X509(x, &p);
    return out;
}

std::optional<std::string> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    return std::string(std::istreambuf_iterator<char>(in), {});
}

bool write_file(const fs::path& path, Bytes data, mode_t mode) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return false;
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
    return ::close(fd) == 0 && done == data.size();
}

// A certificate file in DER or PEM.
Owned<X509> load_certificate_file(const fs::path& path) {
    auto text = read_file(path);
    if (!text) return nullptr;
    if (text->starts_with("-----BEGIN")) {
        Owned<BIO> bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
        return Owned<X509>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    }
    return parse_der(as_bytes(*text));
}

// A certificate revocation list in DER or PEM.
Owned<X509_CRL> load_crl_file(const fs::path& path) {
    auto text = read_file(path);
    if (!text) return nullptr;
    if (text->starts_with("-----BEGIN")) {
        Owned<BIO> bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
        return Owned<X509_CRL>(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
    }
    const auto* p = reinterpret_cast<const unsigned char*>(text->data());
    return Owned<X509_CRL>(d2i_X509_CRL(nullptr, &p, static_cast<long>(text->size())));
}

int64_t unix_seconds(const ASN1_TIME* t) {
    struct tm parts {};
    if (ASN1_TIME_to_tm(t, &parts) != 1) return 0;
    return static_cast<int64_t>(timegm(&parts));
}

std::string host_name() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
    return name;
}

std::vector<std::string> host_addresses() {
    std::vector<std::string> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return out;
    for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
        if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
        char text[INET_ADDRSTRLEN] = {};
        const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
        if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) != nullptr &&
            std::find(out.begin(), out.end(), text) == out.end()) {
            out.emplace_back(text);
        }
    }
    ::freeifaddrs(list);
    return out;
}

bool add_extension(X509* x, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) return false;
    const bool ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

// A file name users recognise: "<common name> [<thumbprint>].der".
std::string file_name_for(const CertificateInfo& info) {
    std::string name;
    for (char c : info.subject.empty() ? std::string("certificate") : info.subject) {
        name.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ? c : '_');
    }
    return name + " [" + info.thumbprint + "].der";
}

bool is_certificate_file(const fs::path& p) {
    const auto ext = p.extension().string();
    return ext == ".der" || ext == ".pem" || ext == ".crt" || ext == ".cer";
}

bool is_crl_file(const fs::path& p) { return p.extension() == ".crl"; }

std::string thumbprint_of(X509* x) {
    const ByteString der = to_der(x);
    return to_hex(sha1(Bytes(der)));
}

// A CA with no CRL in the folders is not checked for revocation (most
// self-signed setups have none); any other failure stands.
int accept_missing_crl(int ok, X509_STORE_CTX* ctx) {
    return ok == 0 && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL ? 1 : ok;
}

// P4 §6.1.3 for a server certificate: its chain is built from the
// certificates of trusted/ and issuers/ (intermediate and root CAs), every
// signature checked and every certificate of it looked up in the CRLs (.crl
// files) of both folders; the certificate is trusted when it, or a CA of its
// chain, is in trusted/. True: trusted; false: no chain to trusted/ (the
// caller saves it in rejected/); an error: revoked or a broken chain. Validity
// periods are the caller's (its error names the dates).
PkiResult<bool> trusted_by_chain(X509* leaf, const std::vector<Bytes>& sent_issuers, const fs::path& root) {
    Owned<X509_STORE> store(X509_STORE_new());
    if (!store) return pki_fail(status::BadInternalError, "cannot make a certificate store");
    std::vector<std::string> trusted;
    std::error_code ec;
    for (const char* folder : {"trusted", "issuers"}) {
        for (const auto& entry : fs::directory_iterator(root / folder, ec)) {
            if (!entry.is_regular_file()) continue;
            if (is_crl_file(entry.path())) {
                if (auto crl = load_crl_file(entry.path())) X509_STORE_add_crl(store.get(), crl.get());
                continue;
            }
            if (!is_certificate_file(entry.path())) continue;
            auto x = load_certificate_file(entry.path());
            if (!x) continue;
            X509_STORE_add_cert(store.get(), x.get());  // a copy already there is no error
            if (std::string_view(folder) == "trusted") trusted.push_back(thumbprint_of(x.get()));
        }
    }
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL | X509_V_FLAG_NO_CHECK_TIME);
    X509_STORE_set_verify_cb(store.get(), accept_missing_crl);
    // The CAs the server sent along complete the chain; they vouch for nothing.
    Owned<STACK_OF(X509)> untrusted(sk_X509_new_null());
    for (Bytes der : sent_issuers) {
        if (auto x = parse_der(der); x && untrusted && sk_X509_push(untrusted.get(), x.get()) > 0) x.release();
    }
    Owned<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
        return pki_fail(status::BadInternalError, "cannot set up the certificate check");
    }
    if (X509_verify_cert(ctx.get()) != 1) {
        const int error = X509_STORE_CTX_get_error(ctx.get());
        const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
        const std::string why = X509_verify_cert_error_string(error);
        switch (error) {
            case X509_V_ERR_CERT_REVOKED:
                return pki_fail(depth == 0 ? status::BadCertificateRevoked : status::BadCertificateIssuerRevoked,
                                "the server certificate " + thumbprint_of(leaf) +
                                    (depth == 0 ? " is revoked" : " was issued by a revoked CA") +
                                    " (a CRL in " + (root / "issuers").string() + " or trusted/ lists it)");
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
            case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
            case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
                return false;  // no chain to a certificate we know: the user decides
            default:
                return pki_fail(status::BadCertificateInvalid,
                                "the server certificate " + thumbprint_of(leaf) + " fails its chain check: " + why);
        }
    }
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
    for (int i = 0; i < sk_X509_num(chain); ++i) {
        if (std::find(trusted.begin(), trusted.end(), thumbprint_of(sk_X509_value(chain, i))) != trusted.end()) {
            return true;
        }
    }
    return false;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// The certificate in `dir` whose thumbprint is `thumbprint`: its path and info.
std::optional<std::pair<fs::path, CertificateInfo>> find_in(const fs::path& dir, std::string_view thumbprint) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (!entry.is_regular_file() || !is_certificate_file(entry.path())) continue;
        auto x = load_certificate_file(entry.path());
        if (!x) continue;
        const ByteString der = to_der(x.get());
        auto info = inspect_certificate(Bytes(der));
        if (info && info->thumbprint == thumbprint) {
            info->file = entry.path().filename().string();
            return std::pair{entry.path(), *info};
        }
    }
    return std::nullopt;
}

}  // namespace

PkiResult<KeyedCertificate> make_certificate(const CertificateRequest& request) {
    KeyPtr key = adopt_key(EVP_RSA_gen(2048));
    Owned<X509> x(X509_new());
    if (!key || !x) return pki_fail(status::BadInternalError, "cannot make an RSA 2048 key");
    X509_set_version(x.get(), X509_VERSION_3);
    // A random positive serial of 16 bytes, so two certificates never share one.
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7F;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
    BN_free(bn);
    // A day back, for servers whose clocks run behind.
    X509_gmtime_adj(X509_getm_notBefore(x.get()), -24L * 3600);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), static_cast<long>(request.valid_days) * 24 * 3600);
    X509_NAME* name = X509_get_subject_name(x.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(request.common_name.c_str()), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(request.organization.c_str()), -1, -1, 0);
    X509_set_issuer_name(x.get(), name);
    X509_set_pubkey(x.get(), key.get());
    std::string alt = "URI:" + request.application_uri;
    for (const std::string& dns : request.dns_names.empty() ? std::vector{host_name()} : request.dns_names) {
        alt += ",DNS:" + dns;
    }
    for (const std::string& ip : request.ip_addresses.empty() ? host_addresses() : request.ip_addresses) {
        alt += ",IP:" + ip;
    }
    const bool ok = add_extension(x.get(), NID_basic_constraints, "critical,CA:FALSE") &&
                    add_extension(x.get(), NID_subject_key_identifier, "hash") &&
                    add_extension(x.get(), NID_authority_key_identifier, "keyid:always") &&
                    add_extension(x.get(), NID_key_usage,
                                  "critical,digitalSignature,nonRepudiation,keyEncipherment,dataEncipherment,keyCertSign") &&
                    add_extension(x.get(), NID_ext_key_usage, "clientAuth,serverAuth") &&
                    add_extension(x.get(), NID_subject_alt_name, alt);
    if (!ok) return pki_fail(status::BadConfigurationError, "cannot build the certificate's extensions from " + alt);
    if (X509_sign(x.get(), key.get(), EVP_sha256()) <= 0) return pki_fail(status::BadInternalError, "cannot sign the certificate");
    return KeyedCertificate{std::move(key), to_der(x.get())};
}

PkiResult<CertificateInfo> inspect_certificate(Bytes der) {
    auto x = parse_der(der);
    if (!x) return pki_fail(status::BadCertificateInvalid, "not a DER X.509 certificate");
    CertificateInfo info;
    info.thumbprint = to_hex(sha1(der));
    char cn[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x.get()), NID_commonName, cn, sizeof cn) > 0) info.subject = cn;
    Owned<GENERAL_NAMES> names(
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
        if (n->type == GEN_URI && info.application_uri.empty()) {
            const ASN1_IA5STRING* uri = n->d.uniformResourceIdentifier;
            info.application_uri.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                                        static_cast<std::size_t>(ASN1_STRING_length(uri)));
        }
    }
    info.not_before = unix_seconds(X509_get0_notBefore(x.get()));
    info.not_after = unix_seconds(X509_get0_notAfter(x.get()));
    return info;
}

PkiResult<KeyPtr> public_key_of(Bytes der) {
    auto x = parse_der(der);
    if (!x) return pki_fail(status::BadCertificateInvalid, "not a DER X.509 certificate");
    KeyPtr key = adopt_key(X509_get_pubkey(x.get()));
    if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
        return pki_fail(status::BadCertificateInvalid, "the certificate's key is not RSA");
    }
    // P7: the SHA-2 policies take RSA keys of 2048 to 4096 bits.
    const int bits = EVP_PKEY_get_bits(key.get());
    if (bits < 2048 || bits > 4096) {
        return pki_fail(status::BadCertificateInvalid, "RSA key of " + std::to_string(bits) + " bits (2048 to 4096 needed)");
    }
    return key;
}

PkiResult<KeyedCertificate> load_keyed_certificate(const fs::path& certificate, const fs::path& key_file) {
    auto x = load_certificate_file(certificate);
    if (!x) return pki_fail(status::BadConfigurationError, "cannot read a certificate from " + certificate.string());
    auto text = read_file(key_file);
    if (!text) return pki_fail(status::BadConfigurationError, "cannot read " + key_file.string());
    Owned<BIO> bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    KeyPtr key = adopt_key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) return pki_fail(status::BadConfigurationError, "no PEM private key in " + key_file.string());
    if (X509_check_private_key(x.get(), key.get()) != 1) {
        return pki_fail(status::BadConfigurationError, key_file.string() + " is not the key of " + certificate.string());
    }
    return KeyedCertificate{std::move(key), to_der(x.get())};
}

Pki::Pki(fs::path root) : root_(std::move(root)) {}

PkiResult<KeyedCertificate> Pki::own_certificate(const CertificateRequest& request) const {
    const fs::path cert = root_ / "own" / "certificate.der";
    const fs::path key = root_ / "own" / "private" / "key.pem";
    std::error_code ec;
    if (fs::exists(cert, ec) && fs::exists(key, ec)) {
        auto own = load_keyed_certificate(cert, key);
        if (!own) return own;
        auto info = inspect_certificate(Bytes(own->certificate));
        if (info && info->application_uri != request.application_uri) {
            // P4 §5.6.2: servers refuse a client whose certificate names another URI.
            return pki_fail(status::BadCertificateUriInvalid,
                            cert.string() + " is for " + info->application_uri + ", not for the application URI " +
                                request.application_uri + ": remove own/ to make a new one");
        }
        return own;
    }
    fs::create_directories(root_ / "own" / "private", ec);
    if (ec) return pki_fail(status::BadConfigurationError, "cannot create " + (root_ / "own").string() + ": " + ec.message());
    auto made = make_certificate(request);
    if (!made) return made;
    Owned<BIO> bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(bio.get(), made->key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* pem = nullptr;
    const long pem_size = BIO_get_mem_data(bio.get(), &pem);
    if (!write_file(key, Bytes(reinterpret_cast<const std::byte*>(pem), static_cast<std::size_t>(pem_size)), 0600) ||
        !write_file(cert, Bytes(made->certificate), 0644)) {
        return pki_fail(status::BadConfigurationError, "cannot write our certificate under " + (root_ / "own").string());
    }
    return made;
}

PkiResult<KeyPtr> Pki::check_server_certificate(Bytes chain, std::string_view application_uri,
                                                bool trust_on_first_use) const {
    // Of a chain, the end certificate is the server's: what is trusted, saved and named.
    const Bytes der = leaf_certificate(chain);
    auto key = public_key_of(der);
    if (!key) return std::unexpected(key.error());
    auto info = inspect_certificate(der);
    if (!info) return std::unexpected(info.error());
    auto leaf = parse_der(der);
    auto trusted = trusted_by_chain(leaf.get(), chain_issuers(chain), root_);
    if (!trusted) return std::unexpected(trusted.error());
    std::error_code ec;
    if (!*trusted) {
        const fs::path folder = root_ / (trust_on_first_use ? "trusted" : "rejected");
        fs::create_directories(folder, ec);
        const fs::path file = folder / file_name_for(*info);
        if (!write_file(file, der, 0644)) {
            return pki_fail(status::BadConfigurationError, "cannot save the server certificate in " + folder.string());
        }
        if (!trust_on_first_use) {
            return pki_fail(status::BadCertificateUntrusted,
                            "the server certificate " + info->thumbprint + " (" + info->subject +
                                ") is not trusted; saved as " + file.string() +
                                ": move it to " + (root_ / "trusted").string() + " to trust it");
        }
    }
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    if (now < info->not_before || now > info->not_after) {
        return pki_fail(status::BadCertificateTimeInvalid,
                        "the server certificate " + info->thumbprint + " is valid from " + std::to_string(info->not_before) +
                            " to " + std::to_string(info->not_after) + " (Unix seconds), not now");
    }
    if (info->application_uri != application_uri) {
        return pki_fail(status::BadCertificateUriInvalid,
                        "the server certificate " + info->thumbprint + " names " + info->application_uri +
                            " but the endpoint's applicationUri is " + std::string(application_uri));
    }
    return key;
}

std::vector<CertificateInfo> Pki::list() const {
    std::vector<CertificateInfo> out;
    for (const bool trusted : {true, false}) {
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(root_ / (trusted ? "trusted" : "rejected"), ec)) {
            if (!entry.is_regular_file() || !is_certificate_file(entry.path())) continue;
            auto x = load_certificate_file(entry.path());
            if (!x) continue;
            const ByteString der = to_der(x.get());
            auto info = inspect_certificate(Bytes(der));
            if (!info) continue;
            info->file = entry.path().filename().string();
            info->trusted = trusted;
            out.push_back(std::move(*info));
        }
    }
    return out;
}

PkiResult<CertificateInfo> Pki::trust(std::string_view thumbprint) const { return move_to(thumbprint, true); }

PkiResult<CertificateInfo> Pki::reject(std::string_view thumbprint) const { return move_to(thumbprint, false); }

PkiResult<CertificateInfo> Pki::move_to(std::string_view thumbprint, bool trusted) const {
    const std::string wanted = lower(thumbprint);
    const fs::path to = root_ / (trusted ? "trusted" : "rejected");
    const fs::path from = root_ / (trusted ? "rejected" : "trusted");
    if (auto there = find_in(to, wanted)) {
        there->second.trusted = trusted;
        return there->second;  // already where it is asked to be
    }
    auto found = find_in(from, wanted);
    if (!found) return pki_fail(status::BadCertificateInvalid, "no certificate " + wanted + " in " + from.string());
    std::error_code ec;
    fs::create_directories(to, ec);
    fs::rename(found->first, to / found->first.filename(), ec);
    if (ec) return pki_fail(status::BadConfigurationError, "cannot move " + found->first.string() + ": " + ec.message());
    found->second.trusted = trusted;
    return found->second;
}

}  // namespace ib::drivers::opcua
