// Lists reused message after message (a request buffer, a commit's entries):
// cleared, they keep their buffer, which is the point; but a rare burst should
// not leave them holding its room for good.
#pragma once

#include <cstddef>

namespace ib {

// Empties `list`, and gives its buffer back too when it holds room for more than
// `kept` entries. (`list = {}` would not: it clears and keeps the room.)
template <typename List>
void clear_keeping_room(List& list, std::size_t kept) {
    if (list.capacity() > kept) {
        List().swap(list);
    } else {
        list.clear();
    }
}

}  // namespace ib
