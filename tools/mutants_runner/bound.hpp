// BOUND(condition): the loop and queue bounds, checked in release builds too (NDEBUG or not).
#pragma once

#include <cstdio>
#include <cstdlib>

#define BOUND(condition)                                                                        \
  do {                                                                                          \
    if (!(condition)) [[unlikely]] {                                                            \
      std::fprintf(stderr, "tools/mutants: bound exceeded: %s (%s:%d)\n", #condition, __FILE__, \
                   __LINE__);                                                                   \
      std::abort();                                                                             \
    }                                                                                           \
  } while (false)
