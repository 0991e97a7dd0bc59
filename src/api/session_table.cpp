#include "api/session_table.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>

#include "core/assert.hpp"

namespace ib::api {
namespace {

// 256 bits from the CSPRNG, as 64 hex digits: safe in a cookie and a header.
std::string random_token() {
    std::array<unsigned char, 32> bytes{};
    IB_ASSERT(RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) == 1,
              "OpenSSL's CSPRNG is seeded by the kernel and does not fail on Linux");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (unsigned char b : bytes) {
        out += kHex[b >> 4];
        out += kHex[b & 0xF];
    }
    return out;
}

std::string digest_of(std::string_view id) {
    std::array<unsigned char, 32> d{};
    unsigned int len = 0;
    EVP_Digest(id.data(), id.size(), d.data(), &len, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

bool SessionTable::alive(const Session& s, Clock::time_point now) const {
    if (now >= s.expires) return false;
    return limits_.idle.count() == 0 || now - s.last_used < limits_.idle;
}

void SessionTable::make_room(Clock::time_point now) {
    if (sessions_.size() < limits_.max_sessions) return;
    std::erase_if(sessions_, [&](const auto& kv) { return !alive(kv.second, now); });
    // Still full: the session closest to its end goes (the oldest login).
    while (!sessions_.empty() && sessions_.size() >= limits_.max_sessions) {
        auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
            return a.second.expires < b.second.expires;
        });
        sessions_.erase(oldest);
    }
}

SessionTable::Opened SessionTable::open(std::string user, auth::Role role, uint64_t auth_generation,
                                        Clock::time_point now) {
    make_room(now);
    std::string id = random_token();
    Session s;
    s.user = std::move(user);
    s.role = role;
    s.csrf_token = random_token();
    s.expires = now + limits_.ttl;
    s.last_used = now;
    s.expires_at = std::chrono::system_clock::now() + limits_.ttl;
    s.auth_generation = auth_generation;
    auto [it, inserted] = sessions_.insert_or_assign(digest_of(id), std::move(s));
    return Opened{std::move(id), &it->second};
}

SessionTable::Session* SessionTable::find(std::string_view id, Clock::time_point now) {
    if (id.empty()) return nullptr;
    auto it = sessions_.find(digest_of(id));
    if (it == sessions_.end()) return nullptr;
    if (!alive(it->second, now)) {
        sessions_.erase(it);
        return nullptr;
    }
    it->second.last_used = now;
    return &it->second;
}

bool SessionTable::close(std::string_view id) { return !id.empty() && sessions_.erase(digest_of(id)) > 0; }

bool SessionTable::csrf_matches(const Session& s, std::string_view presented) {
    return presented.size() == s.csrf_token.size() &&
           CRYPTO_memcmp(presented.data(), s.csrf_token.data(), presented.size()) == 0;
}

}  // namespace ib::api
