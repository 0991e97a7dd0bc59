#include "app/passwd.hpp"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "auth/password_file.hpp"
#include "auth/password_hash.hpp"

namespace ib::app {
namespace {

// One line from the terminal with echo off; the old terminal mode is restored
// before returning, whatever happens.
std::optional<std::string> read_hidden(const char* prompt) {
    std::fprintf(stderr, "%s", prompt);
    std::fflush(stderr);
    termios old{};
    const bool have_tty = tcgetattr(STDIN_FILENO, &old) == 0;
    if (have_tty) {
        termios quiet = old;
        quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    std::string line;
    const bool ok = static_cast<bool>(std::getline(std::cin, line));
    if (have_tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        std::fprintf(stderr, "\n");
    }
    if (!ok) return std::nullopt;
    return line;
}

}  // namespace

int run_passwd(const std::string& file, const std::string& user, bool remove, uint32_t iterations) {
    if (!auth::valid_file_user(user)) {
        std::fprintf(stderr, "ironbridge passwd: '%s' is not a valid user name (no ':' or control characters)\n",
                     user.c_str());
        return 2;
    }
    if (remove) {
        if (auto r = auth::update_password_file(file, user, ""); !r) {
            std::fprintf(stderr, "ironbridge passwd: %s\n", r.error().c_str());
            return 1;
        }
        std::fprintf(stderr, "ironbridge passwd: user '%s' deleted from %s\n", user.c_str(), file.c_str());
        return 0;
    }
    std::string password;
    if (isatty(STDIN_FILENO)) {
        auto first = read_hidden("Password: ");
        auto again = first ? read_hidden("Password again: ") : std::nullopt;
        if (!first || !again) {
            std::fprintf(stderr, "ironbridge passwd: no password read\n");
            return 1;
        }
        if (*first != *again) {
            std::fprintf(stderr, "ironbridge passwd: the two passwords differ; nothing changed\n");
            return 1;
        }
        password = *first;
    } else {
        if (!std::getline(std::cin, password)) {
            std::fprintf(stderr, "ironbridge passwd: no password on stdin\n");
            return 1;
        }
        if (!password.empty() && password.back() == '\r') password.pop_back();
    }
    if (password.empty()) {
        std::fprintf(stderr, "ironbridge passwd: the password is empty; nothing changed\n");
        return 1;
    }
    auto hash = auth::hash_password(password, iterations);
    if (!hash) {
        std::fprintf(stderr, "ironbridge passwd: %s\n", hash.error().c_str());
        return 1;
    }
    if (auto r = auth::update_password_file(file, user, *hash); !r) {
        std::fprintf(stderr, "ironbridge passwd: %s\n", r.error().c_str());
        return 1;
    }
    std::fprintf(stderr, "ironbridge passwd: user '%s' set in %s\n", user.c_str(), file.c_str());
    return 0;
}

}  // namespace ib::app
