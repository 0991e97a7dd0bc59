// "Did you mean ...?" for a mistyped configuration key or function name: the closest candidate
// within a typo's distance, shared by the config loaders and the rule compiler.
#pragma once

#include <span>
#include <string_view>

namespace ib {

// The candidate closest to `key` by edit distance, if close enough to be a typo
// (at most a third of the candidate's length, and at least two edits allowed);
// "" otherwise.
std::string_view suggest(std::string_view key, std::span<const std::string_view> candidates);

}  // namespace ib
