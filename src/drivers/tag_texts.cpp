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
    if (joined.empty()) return texts_.reset();
    auto buffer = std::make_shared_for_overwrite<char[]>(joined.size());
    std::memcpy(buffer.get(), joined.data(), joined.size());
    texts_ = std::move(buffer);
}

void TagTexts::pack(std::span<TagTexts* const> tags) {
    size_t total = 0;
    for (const TagTexts* t : tags) total += size_t{t->size_[Name]} + t->size_[Address] + t->size_[Unit];
    auto buffer = std::make_shared_for_overwrite<char[]>(total == 0 ? 1 : total);
    size_t at = 0;
    for (TagTexts* t : tags) {
        const size_t size = size_t{t->size_[Name]} + t->size_[Address] + t->size_[Unit];
        if (size != 0) std::memcpy(buffer.get() + at, t->texts_.get(), size);
        t->texts_ = std::shared_ptr<const char[]>(buffer, buffer.get() + at);  // shares the buffer's ownership
        at += size;
    }
}

}  // namespace ib::drivers
