// Byte views and a bounds-checked big-endian reader and writer, the building
// blocks of every wire codec. The reader never reads past its span; callers check
// `ok()` or the returned optional. The writer appends to a reusable buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace ib {

using Bytes = std::span<const std::byte>;

inline Bytes as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view as_string_view(Bytes b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

class ByteReader {
public:
    explicit ByteReader(Bytes data) : data_(data) {}

    std::size_t offset() const { return pos_; }
    std::size_t remaining() const { return data_.size() - pos_; }
    bool empty() const { return pos_ == data_.size(); }

    std::optional<uint8_t> u8() {
        if (remaining() < 1) return std::nullopt;
        return static_cast<uint8_t>(data_[pos_++]);
    }
    std::optional<uint16_t> u16() {
        if (remaining() < 2) return std::nullopt;
        uint16_t v = static_cast<uint16_t>((static_cast<uint8_t>(data_[pos_]) << 8) |
                                           static_cast<uint8_t>(data_[pos_ + 1]));
        pos_ += 2;
        return v;
    }
    std::optional<uint32_t> u32() {
        if (remaining() < 4) return std::nullopt;
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + i]);
        pos_ += 4;
        return v;
    }
    std::optional<Bytes> take(std::size_t n) {
        if (remaining() < n) return std::nullopt;
        Bytes out = data_.subspan(pos_, n);
        pos_ += n;
        return out;
    }
    Bytes rest() {
        Bytes out = data_.subspan(pos_);
        pos_ = data_.size();
        return out;
    }

private:
    Bytes data_;
    std::size_t pos_ = 0;
};

// Appends to a std::vector<std::byte> that the owner reuses, so steady-state
// encoding allocates nothing once the vector has grown to its working size.
class ByteWriter {
public:
    explicit ByteWriter(std::vector<std::byte>& out) : out_(out) {}

    std::size_t size() const { return out_.size(); }
    void u8(uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
    void u16(uint16_t v) {
        u8(static_cast<uint8_t>(v >> 8));
        u8(static_cast<uint8_t>(v));
    }
    void u32(uint32_t v) {
        for (int shift = 24; shift >= 0; shift -= 8) u8(static_cast<uint8_t>(v >> shift));
    }
    void bytes(Bytes b) { out_.insert(out_.end(), b.begin(), b.end()); }
    void bytes(std::string_view s) { bytes(as_bytes(s)); }
    // Overwrites bytes already written, for lengths known only afterwards.
    void patch_u8(std::size_t at, uint8_t v) { out_[at] = static_cast<std::byte>(v); }

private:
    std::vector<std::byte>& out_;
};

}  // namespace ib
