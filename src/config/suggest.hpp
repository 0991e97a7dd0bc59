// "Did you mean ...?" for a mistyped configuration key: the closest candidate
// within a typo's distance, shared by the settings loader and the device loader.
#pragma once

#include <span>
#include <string_view>

namespace ib::config {

// The candidate closest to `key` by edit distance, if close enough to be a typo
// (at most a third of the candidate's length, and at least two edits allowed);
// "" otherwise.
std::string_view suggest(std::string_view key, std::span<const std::string_view> candidates);

}  // namespace ib::config
