// `ironbridge passwd FILE USER [-D]`: adds, changes or deletes one user of a
// password file. The password is read twice from the terminal without echo, or
// once from stdin when stdin is not a terminal (scripts and tests).
#pragma once

#include <cstdint>
#include <string>

namespace ib::app {

int run_passwd(const std::string& file, const std::string& user, bool remove, uint32_t iterations);

}  // namespace ib::app
