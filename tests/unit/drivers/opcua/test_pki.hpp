// Certificates for the OPC UA tests, made once (an RSA key takes a while) and
// kept in the build tree between runs. ctest runs a suite's tests in parallel
// processes: a lock lets one of them make the certificate and the others read it.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>

#include "drivers/opcua/pki.hpp"

namespace ib::drivers::opcua::test {

inline PkiResult<KeyedCertificate> cached_own_certificate(const std::filesystem::path& pki_dir,
                                                          const CertificateRequest& request) {
    std::filesystem::create_directories(pki_dir);
    const int lock = ::open((pki_dir / ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    ::flock(lock, LOCK_EX);
    auto own = Pki(pki_dir).own_certificate(request);
    ::flock(lock, LOCK_UN);
    ::close(lock);
    return own;
}

}  // namespace ib::drivers::opcua::test
