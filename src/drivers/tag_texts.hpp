// A tag's texts (name, address, unit) kept in one buffer that every tag of a
// device shares once packed (pack_tag_texts, done by the running Device):
// a device of 10,000 tags holds one block of text, not 30,000 strings, and
// copies of its config share it. The buffer is never written once shared, so
// copies may live on other threads; setting a text gives the tag a buffer of
// its own.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace ib::drivers {

class TagTexts {
public:
    enum Which : uint8_t { Name, Address, Unit };

    std::string_view get(Which which) const {
        return {texts_.get() + offset(which), size_[which]};
    }
    void set(Which which, std::string_view text);

    // Rebinds every tag's texts to one buffer holding them all.
    static void pack(std::span<TagTexts* const> tags);

private:
    uint32_t offset(Which which) const {
        uint32_t at = 0;
        for (uint8_t w = 0; w < which; ++w) at += size_[w];
        return at;
    }

    // This tag's texts, side by side, in a buffer it may share with other tags
    // (it owns the buffer, points at its own part); null while all are empty.
    std::shared_ptr<const char[]> texts_;
    uint32_t size_[3] = {};
};

}  // namespace ib::drivers
