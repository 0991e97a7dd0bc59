// Little-endian appends for OPC UA Binary (OPC 10000-6 §5.2.2), onto a vector the
// owner reuses so that steady-state encoding allocates nothing. Only our own values
// are written here; sizes beyond what the encoding can carry are asserted.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "core/assert.hpp"
#include "core/bytes.hpp"

namespace ib::drivers::opcua {

class BinaryWriter {
public:
    explicit BinaryWriter(std::vector<std::byte>& out) : out_(out) {}

    std::size_t size() const { return out_.size(); }

    void u8(uint8_t v) { fixed(v); }
    void u16(uint16_t v) { fixed(v); }
    void u32(uint32_t v) { fixed(v); }
    void u64(uint64_t v) { fixed(v); }
    void i8(int8_t v) { fixed(v); }
    void i16(int16_t v) { fixed(v); }
    void i32(int32_t v) { fixed(v); }
    void i64(int64_t v) { fixed(v); }
    void f32(float v) { fixed(v); }
    void f64(double v) { fixed(v); }
    void raw(Bytes b) { out_.insert(out_.end(), b.begin(), b.end()); }
    void raw(std::string_view s) { raw(as_bytes(s)); }

    // An Int32 length; the caller writes the elements.
    void length(std::size_t n) {
        IB_ASSERT(n <= static_cast<std::size_t>(std::numeric_limits<int32_t>::max()),
                  "OPC UA lengths are Int32: our own values stay below 2 GiB");
        i32(static_cast<int32_t>(n));
    }

    // Overwrites a UInt32 written earlier (message sizes known only at the end).
    void patch_u32(std::size_t at, uint32_t v) {
        IB_ASSERT(at + 4 <= out_.size(), "patching bytes that were written");
        std::memcpy(out_.data() + at, &v, 4);
    }

private:
    template <typename T>
    void fixed(T v) {
        static_assert(std::endian::native == std::endian::little, "big-endian hosts are not supported");
        const auto at = out_.size();
        out_.resize(at + sizeof(T));
        std::memcpy(out_.data() + at, &v, sizeof(T));
    }

    std::vector<std::byte>& out_;
};

}  // namespace ib::drivers::opcua
