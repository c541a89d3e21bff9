// KV_CHECK: an always-on assertion for broken invariants; prints who is likely at fault and aborts.
#pragma once

#include <cstdio>
#include <cstdlib>

// Defined only in clang coverage builds (tools/coverage): abort() skips the hook that writes the
// counters, so a failed check writes them first and its own branch shows as covered.
extern "C" int __llvm_profile_write_file(void) __attribute__((weak));

namespace kvcache::detail {

// Out of line of the hot path: the check itself stays one predictable branch.
[[noreturn]] [[gnu::cold]] inline void check_failed(const char* condition, const char* message,
                                                    const char* file, int line) {
  std::fprintf(stderr, "%s:%d: KV_CHECK(%s) failed: %s\n", file, line, condition, message);
  std::fflush(stderr);
  if (__llvm_profile_write_file) __llvm_profile_write_file();
  std::abort();
}

}  // namespace kvcache::detail

// Enabled in every build type: a broken invariant in a cache corrupts token data silently, so
// we would rather stop. `message` should name the likely culprit (caller or cache code).
#define KV_CHECK(condition, message)                                              \
  do {                                                                            \
    if (!(condition)) [[unlikely]]                                                \
      ::kvcache::detail::check_failed(#condition, (message), __FILE__, __LINE__); \
  } while (false)
