// The token-data digest of docs/backend-protocol.md: FNV-1a 64 over 32-bit words, little-endian.
#pragma once

#include <cstdint>
#include <span>

namespace kv {

inline constexpr uint64_t digest_offset_basis = 0xcbf29ce484222325ull;
inline constexpr uint64_t digest_prime = 0x100000001b3ull;

inline uint64_t words_digest(std::span<const uint32_t> words) {
  uint64_t hash = digest_offset_basis;
  for (uint32_t word : words) {
    for (uint32_t byte = 0; byte < 4; byte++) {
      hash ^= (word >> (8 * byte)) & 0xFFu;
      hash *= digest_prime;
    }
  }
  return hash;
}

}  // namespace kv
