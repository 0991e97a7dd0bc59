// Certificates as OPC UA users know them (OPC 10000-6 §6.2.2, OPC 10000-4 §6.1.3):
// our application instance certificate, made at first use under `<pki>/own`, and
// the trust list of server certificates: a certificate is trusted when a copy
// of it is in `<pki>/trusted`; an unknown one is refused and saved in
// `<pki>/rejected`, where the user (or the API) moves it to `trusted`. Plain
// files, so a user can also manage them with a file manager or `cp`.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/opcua/crypto.hpp"

namespace ib::drivers::opcua {

struct PkiError {
    StatusCode status;
    std::string message;
};

template <typename T>
using PkiResult = std::expected<T, PkiError>;

// A certificate with its private key: ours, or a user's X.509 identity.
struct KeyedCertificate {
    KeyPtr key;
    ByteString certificate;  // DER
};

// What our application instance certificate says (§6.2.2).
struct CertificateRequest {
    std::string application_uri;  // subjectAltName URI: must equal the one in CreateSession
    std::string common_name = "Ironbridge";
    std::string organization = "Ironbridge";
    std::vector<std::string> dns_names;     // empty: this host's name
    std::vector<std::string> ip_addresses;  // empty: this host's addresses
    int valid_days = 3650;
};

// A self-signed RSA 2048 / SHA-256 certificate with the key usages OPC UA
// servers check: digitalSignature, nonRepudiation, keyEncipherment,
// dataEncipherment, keyCertSign; clientAuth and serverAuth.
PkiResult<KeyedCertificate> make_certificate(const CertificateRequest& request);

// The parts of a certificate the checks and the API look at.
struct CertificateInfo {
    std::string thumbprint;       // SHA-1 of the DER, hex: the name OPC UA tools show
    std::string file;             // its file's name in trusted/ or rejected/
    std::string subject;          // the common name
    std::string application_uri;  // the subjectAltName URI
    int64_t not_before = 0;       // Unix seconds
    int64_t not_after = 0;
    bool trusted = false;
};

PkiResult<CertificateInfo> inspect_certificate(Bytes der);
PkiResult<KeyPtr> public_key_of(Bytes der);
// A certificate (PEM or DER) and a PEM private key, e.g. an X.509 user identity.
PkiResult<KeyedCertificate> load_keyed_certificate(const std::filesystem::path& certificate,
                                                   const std::filesystem::path& key);

class Pki {
public:
    explicit Pki(std::filesystem::path root);

    const std::filesystem::path& root() const { return root_; }

    // own/certificate.der and own/private/key.pem (0600), made when missing.
    PkiResult<KeyedCertificate> own_certificate(const CertificateRequest& request) const;

    // The server's certificate from its endpoint: trusted when in trusted/ (with
    // `trust_on_first_use`, an unknown one is copied there once); otherwise
    // saved in rejected/ and refused with BadCertificateUntrusted. A trusted one
    // must also be within its validity period (BadCertificateTimeInvalid) and
    // carry the endpoint's applicationUri (BadCertificateUriInvalid). `chain`:
    // the certificate, or a chain that starts with it (P6 §6.2.6), whose CAs
    // help build the path to trusted/ but are trusted only from there.
    PkiResult<KeyPtr> check_server_certificate(Bytes chain, std::string_view application_uri,
                                               bool trust_on_first_use) const;

    // Every certificate in trusted/ and rejected/.
    std::vector<CertificateInfo> list() const;
    // Moves the certificate with this thumbprint (hex, any case) to trusted/ or
    // to rejected/; BadCertificateInvalid when there is none.
    PkiResult<CertificateInfo> trust(std::string_view thumbprint) const;
    PkiResult<CertificateInfo> reject(std::string_view thumbprint) const;

private:
    PkiResult<CertificateInfo> move_to(std::string_view thumbprint, bool trusted) const;

    std::filesystem::path root_;
};

}  // namespace ib::drivers::opcua
