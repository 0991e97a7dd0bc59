// A bounds-checked little-endian reader for OPC UA Binary (OPC 10000-6 §5.2.2:
// "All integer types shall be encoded as little-endian values"). core/bytes.hpp's
// ByteReader is big-endian, as MQTT and Modbus are, so this module has its own.
// It never reads past its span and every error names the absolute offset.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/bytes.hpp"
#include "drivers/opcua/decode_error.hpp"

namespace ib::drivers::opcua {

// Variants in Variants, DataValues in Variants and inner DiagnosticInfos recurse;
// a hostile message may not take the stack with it.
inline constexpr int kMaxNesting = 32;

class BinaryReader {
public:
    // `base` is the offset of data[0] in the whole message, so errors found in a
    // sub-reader still name the offset in what was received.
    explicit BinaryReader(Bytes data, std::size_t base = 0) : data_(data), base_(base) {}

    std::size_t offset() const { return base_ + pos_; }
    std::size_t remaining() const { return data_.size() - pos_; }
    bool empty() const { return pos_ == data_.size(); }
    Bytes rest() const { return data_.subspan(pos_); }

    Result<uint8_t> u8() { return fixed<uint8_t>(); }
    Result<uint16_t> u16() { return fixed<uint16_t>(); }
    Result<uint32_t> u32() { return fixed<uint32_t>(); }
    Result<uint64_t> u64() { return fixed<uint64_t>(); }
    Result<int8_t> i8() { return fixed<int8_t>(); }
    Result<int16_t> i16() { return fixed<int16_t>(); }
    Result<int32_t> i32() { return fixed<int32_t>(); }
    Result<int64_t> i64() { return fixed<int64_t>(); }
    // §5.2.2.3: IEEE 754 single and double precision, little-endian.
    Result<float> f32() { return fixed<float>(); }
    Result<double> f64() { return fixed<double>(); }

    Result<Bytes> take(std::size_t n) {
        if (remaining() < n) return fail(DecodeErrc::Truncated, offset(), "field runs past the end of the input");
        Bytes out = data_.subspan(pos_, n);
        pos_ += n;
        return out;
    }

    // The Int32 length in front of a String, ByteString or array (§5.2.2.4, §5.2.5):
    // -1 is null (returned as 0, which this codec treats alike), any other negative
    // value is malformed, and a length whose elements (`min_element_size` bytes each
    // at least) cannot fit in what remains is refused before anything is allocated.
    Result<std::size_t> length(std::size_t min_element_size, const char* what) {
        const std::size_t at = offset();
        auto n = i32();
        if (!n) return std::unexpected(n.error());
        if (*n == -1) return 0;
        if (*n < 0) return fail(DecodeErrc::BadLength, at, what);
        const auto count = static_cast<std::size_t>(*n);
        if (min_element_size != 0 && count > remaining() / min_element_size) {
            return fail(DecodeErrc::BadLength, at, what);
        }
        return count;
    }

    // Nesting guard for recursive types; pair every successful enter() with leave().
    Result<void> enter() {
        if (depth_ >= kMaxNesting) return fail(DecodeErrc::TooDeep, offset(), "nesting deeper than 32 levels");
        ++depth_;
        return {};
    }
    void leave() { --depth_; }

private:
    template <typename T>
    Result<T> fixed() {
        if (remaining() < sizeof(T)) return fail(DecodeErrc::Truncated, offset(), "field runs past the end of the input");
        static_assert(std::endian::native == std::endian::little, "big-endian hosts are not supported");
        T v;
        std::memcpy(&v, data_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    Bytes data_;
    std::size_t base_ = 0;
    std::size_t pos_ = 0;
    int depth_ = 0;
};

}  // namespace ib::drivers::opcua
