// The console's login sessions, held in memory: a random session id (the
// ib_session cookie) maps to who logged in, their role, the session's CSRF
// token and when it ends. Bounded in number (a login beyond the cap ends the
// oldest session); ends at a fixed lifetime and optionally after idle time.
// Touched only on the API's loop: no lock. Knows no HTTP.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/role.hpp"

namespace ib::api {

struct SessionLimits {
    std::chrono::seconds ttl{8 * 3600};  // from login
    std::chrono::seconds idle{0};        // without a request; 0: no idle timeout
    uint32_t max_sessions = 1000;
};

class SessionTable {
public:
    using Clock = std::chrono::steady_clock;

    struct Session {
        std::string user;
        auth::Role role = auth::Role::Viewer;
        std::string csrf_token;
        Clock::time_point expires;
        Clock::time_point last_used;
        // What the console shows as expires_at (the wall clock at login + ttl).
        std::chrono::system_clock::time_point expires_at;
        uint64_t auth_generation = 0;  // of the rules the identity was checked with
    };
    struct Opened {
        std::string id;  // the cookie's value; never kept, only its digest
        const Session* session;
    };

    explicit SessionTable(SessionLimits limits) : limits_(limits) {}

    // A new session with fresh random id and CSRF token (32 random bytes each).
    Opened open(std::string user, auth::Role role, uint64_t auth_generation, Clock::time_point now = Clock::now());
    // The live session of this id, its idle time reset; null when unknown, ended
    // or expired (an expired one is removed). Ids are looked up by their
    // SHA-256, so the lookup's timing says nothing of a valid id.
    Session* find(std::string_view id, Clock::time_point now = Clock::now());
    // Ends a session; false when there was none.
    bool close(std::string_view id);
    std::size_t size() const { return sessions_.size(); }
    const SessionLimits& limits() const { return limits_; }

    // Whether `presented` is the session's CSRF token, in constant time.
    static bool csrf_matches(const Session& s, std::string_view presented);

private:
    bool alive(const Session& s, Clock::time_point now) const;
    void make_room(Clock::time_point now);

    SessionLimits limits_;
    std::unordered_map<std::string, Session> sessions_;  // by SHA-256 of the id (raw bytes)
};

}  // namespace ib::api
