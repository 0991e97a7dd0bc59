#include "drivers/tag_texts.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

namespace ib::drivers {
namespace {

uint32_t size_of(std::string_view text) {
    // The loader bounds names; an address or unit of 4 GB is no tag's.
    if (text.size() > UINT32_MAX) throw std::length_error("a tag's text longer than 4 GB");
    return static_cast<uint32_t>(text.size());
}

}  // namespace

void TagTexts::set(Which which, std::string_view text) {
    std::string joined;
    for (uint8_t w = Name; w <= Unit; ++w) joined += w == which ? text : get(static_cast<Which>(w));
    size_[which] = size_of(text);
    at_ = 0;
    if (joined.empty()) return buffer_.reset();
    auto buffer = std::make_shared_for_overwrite<char[]>(joined.size());
    std::memcpy(buffer.get(), joined.data(), joined.size());
    buffer_ = std::move(buffer);
}

void TagTexts::pack(std::span<TagTexts* const> tags) {
    size_t total = 0;
    for (const TagTexts* t : tags) total += size_t{t->size_[Name]} + t->size_[Address] + t->size_[Unit];
    if (total > UINT32_MAX) return;  // left as they are: each tag keeps its own buffer
    auto buffer = std::make_shared_for_overwrite<char[]>(total == 0 ? 1 : total);
    uint32_t at = 0;
    for (TagTexts* t : tags) {
        const uint32_t size = t->size_[Name] + t->size_[Address] + t->size_[Unit];
        if (size != 0) std::memcpy(buffer.get() + at, t->buffer_.get() + t->at_, size);
        t->buffer_ = buffer;
        t->at_ = at;
        at += size;
    }
}

}  // namespace ib::drivers
