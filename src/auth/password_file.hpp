// The password file: one "user:$pbkdf2-sha512$..." line per user, '#' comments
// and blank lines allowed. Read at start-up and on reload; changed only by
// `ironbridge passwd`, which rewrites it atomically (temporary file + rename).
#pragma once

#include <expected>
#include <string>
#include <utility>
#include <vector>

namespace ib::auth {

struct PasswordEntry {
    std::string user;
    std::string hash;  // the encoded form, already checked by parse_password_hash
    uint32_t line = 0;
};

// Every entry, or the problems ("<path>:<line>: ..."), one per line of text.
std::expected<std::vector<PasswordEntry>, std::string> read_password_file(const std::string& path);

// A user name usable in the file and in MQTT: not empty, no ':' and no control characters.
bool valid_file_user(std::string_view user);

// Sets (`hash` non-empty) or deletes (`hash` empty) one user, keeping every other
// line as it was. A missing file is created (mode 0600) when setting; deleting a
// user that is not there is an error.
std::expected<void, std::string> update_password_file(const std::string& path, const std::string& user,
                                                      const std::string& hash);

}  // namespace ib::auth
