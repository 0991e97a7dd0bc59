// Helpers shared by the OPC UA codec tests: byte vectors written as ints, and
// encoding a value into a fresh vector.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "drivers/opcua/binary_writer.hpp"

namespace ib::drivers::opcua::test {

using Buf = std::vector<std::byte>;

inline Buf bytes(std::initializer_list<int> v) {
    Buf out;
    for (int b : v) out.push_back(static_cast<std::byte>(b));
    return out;
}

inline Buf cat(std::initializer_list<Buf> parts) {
    Buf out;
    for (const Buf& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

inline Buf text(std::string_view s) {
    Buf out;
    for (char c : s) out.push_back(static_cast<std::byte>(c));
    return out;
}

template <typename F>
Buf encoded(F&& write) {
    Buf out;
    BinaryWriter w(out);
    write(w);
    return out;
}

}  // namespace ib::drivers::opcua::test
