// Programmer invariants. Never use for untrusted input: that returns an Error.
#pragma once

#include <cstdio>
#include <cstdlib>

#define IB_ASSERT(cond, why)                                                              \
    do {                                                                                  \
        if (!(cond)) [[unlikely]] {                                                       \
            std::fprintf(stderr, "%s:%d: assertion '%s' failed: %s\n", __FILE__, __LINE__, \
                         #cond, why);                                                     \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)
