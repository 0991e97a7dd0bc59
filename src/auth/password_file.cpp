#include "auth/password_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "auth/password_hash.hpp"

namespace ib::auth {
namespace {

std::expected<std::string, std::string> slurp(const std::string& path, bool& missing) {
    missing = false;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        missing = errno == ENOENT;
        return std::unexpected(path + ": cannot open: " + std::strerror(errno));
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::string line;
    std::istringstream in(text);
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
    }
    return lines;
}

bool is_entry(const std::string& line) {
    auto first = line.find_first_not_of(" \t");
    return first != std::string::npos && line[first] != '#';
}

}  // namespace

bool valid_file_user(std::string_view user) {
    if (user.empty() || user.size() > 256) return false;
    for (char c : user) {
        if (c == ':' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    }
    return true;
}

std::expected<std::vector<PasswordEntry>, std::string> read_password_file(const std::string& path) {
    bool missing = false;
    auto text = slurp(path, missing);
    if (!text) return std::unexpected(text.error());
    std::vector<PasswordEntry> out;
    std::string problems;
    auto problem = [&](uint32_t line, const std::string& what) {
        if (!problems.empty()) problems += '\n';
        problems += path + ":" + std::to_string(line) + ": " + what;
    };
    uint32_t n = 0;
    for (const std::string& line : split_lines(*text)) {
        ++n;
        if (!is_entry(line)) continue;
        auto colon = line.find(':');
        if (colon == std::string::npos) {
            problem(n, "expected user:$pbkdf2-sha512$...");
            continue;
        }
        std::string user = line.substr(0, colon);
        std::string hash = line.substr(colon + 1);
        if (!valid_file_user(user)) {
            problem(n, "'" + user + "' is not a valid user name");
            continue;
        }
        if (auto parsed = parse_password_hash(hash); !parsed) {
            problem(n, "user '" + user + "': " + parsed.error());
            continue;
        }
        bool dup = false;
        for (const auto& e : out) {
            if (e.user == user) {
                problem(n, "user '" + user + "' is already defined on line " + std::to_string(e.line));
                dup = true;
            }
        }
        if (!dup) out.push_back({std::move(user), std::move(hash), n});
    }
    if (!problems.empty()) return std::unexpected(problems);
    return out;
}

std::expected<void, std::string> update_password_file(const std::string& path, const std::string& user,
                                                      const std::string& hash) {
    if (!valid_file_user(user)) return std::unexpected("'" + user + "' is not a valid user name");
    bool missing = false;
    std::vector<std::string> lines;
    if (auto text = slurp(path, missing)) {
        lines = split_lines(*text);
    } else if (!missing || hash.empty()) {
        return std::unexpected(text.error());
    }
    bool found = false;
    std::vector<std::string> out;
    for (auto& line : lines) {
        if (is_entry(line) && line.starts_with(user + ":")) {
            if (!found && !hash.empty()) out.push_back(user + ":" + hash);
            found = true;
            continue;
        }
        out.push_back(std::move(line));
    }
    if (!found) {
        if (hash.empty()) return std::unexpected(path + ": no user '" + user + "'");
        out.push_back(user + ":" + hash);
    }
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return std::unexpected(tmp + ": cannot create: " + std::strerror(errno));
    std::string body;
    for (const auto& l : out) body += l + "\n";
    const char* p = body.data();
    std::size_t left = body.size();
    while (left > 0) {
        ssize_t w = ::write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            std::string err = std::strerror(errno);
            ::close(fd);
            ::unlink(tmp.c_str());
            return std::unexpected(tmp + ": cannot write: " + err);
        }
        p += w;
        left -= static_cast<std::size_t>(w);
    }
    // The file replaces the old one whole, so a crash leaves the old or the new.
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        ::unlink(tmp.c_str());
        return std::unexpected(tmp + ": cannot write: " + std::strerror(errno));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        std::string err = std::strerror(errno);
        ::unlink(tmp.c_str());
        return std::unexpected(path + ": cannot replace: " + err);
    }
    return {};
}

}  // namespace ib::auth
