// The token-value scheme: each written token gets a value unique within the trace, and each of its
// 32-bit K/V words is derived from that value, so aliasing, lost copies and K/V swaps show on
// `read`.
#pragma once

#include <cstdint>
#include <span>

#include "trace/config.hpp"
#include "trace/op.hpp"

namespace kv {

// Unique per (tick, entry, offset): entry < 256 (step entries) and offset < 2^21 (append limit).
inline uint64_t token_value(Tick tick, uint32_t entry, uint32_t offset) {
  return (tick << 29) | (uint64_t{entry} << 21) | offset;
}

// Word `index` of the K (kv=0) or V (kv=1) vector of one layer. K and V words differ in the top
// bit.
inline uint32_t token_word(uint64_t value, uint32_t layer, uint32_t kv, uint32_t index) {
  uint64_t x = value * 0x9E3779B97F4A7C15ull + (uint64_t{layer} << 40) + index;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  const uint32_t mixed = static_cast<uint32_t>(x) & 0x7FFFFFFFu;
  return mixed | (kv << 31);
}

// Fills one token's words in the layout [layer][K,V][head][dim] (config.words_per_token() words).
inline void fill_token_words(uint64_t value, const Config& config, std::span<uint32_t> out) {
  const uint32_t vector_words = config.kv_heads * config.head_dim;
  size_t pos = 0;
  for (uint32_t layer = 0; layer < config.layers; layer++) {
    for (uint32_t kv = 0; kv < 2; kv++) {
      for (uint32_t index = 0; index < vector_words; index++) {
        out[pos++] = token_word(value, layer, kv, index);
      }
    }
  }
}

}  // namespace kv
