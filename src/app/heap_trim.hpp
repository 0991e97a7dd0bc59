// Start-up builds big short-lived structures (the configuration's TOML tree:
// about 660 bytes per tag of a 10,000-tag device) that are freed once the
// modules hold their typed settings. The allocator keeps that memory, since
// what was allocated after it pins the heap's top; this hands it back.
#pragma once

namespace ib::app {

// Returns the heap's free pages to the system (glibc's malloc_trim); nothing
// elsewhere. Call once start-up is over, not on a hot path: it walks every arena.
void give_back_free_heap();

}  // namespace ib::app
