#include "core/suggest.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ib {
namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string_view suggest(std::string_view key, std::span<const std::string_view> candidates) {
    std::string_view best;
    size_t best_distance = SIZE_MAX;
    for (std::string_view c : candidates) {
        size_t d = edit_distance(key, c);
        if (d < best_distance && d <= std::max<size_t>(2, c.size() / 3)) {
            best = c;
            best_distance = d;
        }
    }
    return best;
}

}  // namespace ib
