// How many cases a slow test runs in this build: all of them, or a quarter under ASan/UBSan.
#pragma once

#include <cstdint>

namespace kv {

// The sanitizer build (preset sanitize) runs about ten times slower, and the memory errors it is
// for show within the first cases; the dev build runs every case, so nothing goes unchecked.
#ifdef KV_SANITIZER_BUILD
inline constexpr uint64_t sanitizer_case_divisor = 4;
#else
inline constexpr uint64_t sanitizer_case_divisor = 1;
#endif

// `count` cases in the dev build; a quarter of them, at least one, in the sanitizer build.
constexpr uint64_t cases_in_this_build(uint64_t count) {
  return count / sanitizer_case_divisor > 0 ? count / sanitizer_case_divisor : 1;
}

}  // namespace kv
