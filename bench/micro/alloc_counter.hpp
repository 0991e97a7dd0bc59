// Counts every global allocation, so a benchmark can print allocations per
// operation next to its time. alloc_counter.cpp replaces the global operator
// new; bench/CMakeLists.txt links it into each micro-benchmark executable.
#pragma once

#include <cstdint>

namespace ib::bench {

// Allocations made through operator new since the program started.
uint64_t allocations();

}  // namespace ib::bench
