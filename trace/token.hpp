// Token ids and token values. A generated token (append, step) gets a value unique within the
// trace; a prompt token (prefill, kvtrace 2) gets a value fixed by the id prefix ending at it, so
// equal prompt prefixes hold equal K/V data. Each 32-bit K/V word is derived from the value, so
// aliasing, lost copies and K/V swaps show on `read`.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "trace/config.hpp"
#include "trace/op.hpp"

namespace kv {

// Unique per (tick, entry, offset): entry < 256 (step entries) and offset < 2^21 (append limit).
inline uint64_t token_value(Tick tick, uint32_t entry, uint32_t offset) {
  return (tick << 29) | (uint64_t{entry} << 21) | offset;
}

// ---- token ids (kvtrace 2) -------------------------------------------------------------------

// A token's id. Prompt ids are `P << 20 | i` (stream P in 0..2047, i < 2^20), so below 2^31.
// Generated tokens (append, step) get ids with the top bit set: never equal to a prompt id.
using TokenId = uint64_t;
inline constexpr TokenId generated_token_flag = 1ull << 63;

inline TokenId prompt_token_id(uint32_t stream, uint32_t index) {
  return (uint64_t{stream} << 20) | index;
}
inline TokenId generated_token_id(uint64_t value) {
  return generated_token_flag | value;
}
inline bool is_prompt_token(TokenId id) {
  return id < generated_token_flag;
}

// The ids of `prefill S P1:N1 ...`'s segments, in order: segment P:N gives P<<20|0 .. P<<20|N-1.
// nullopt when a segment has N = 0 or P > 2047, or the total is over 1,048,576 (invalid_argument).
inline std::optional<std::vector<TokenId>> prompt_token_ids(
    const std::vector<StepEntry>& segments) {
  uint64_t total = 0;
  for (const StepEntry& segment : segments) {
    if (segment.token_count == 0 || segment.seq > prompt_stream_max) return std::nullopt;
    total += segment.token_count;
  }
  if (segments.empty() || total > prefill_token_count_max) return std::nullopt;
  std::vector<TokenId> ids;
  ids.reserve(total);
  for (const StepEntry& segment : segments) {
    for (uint32_t i = 0; i < segment.token_count; i++)
      ids.push_back(prompt_token_id(segment.seq, i));
  }
  return ids;
}

// ---- token values ----------------------------------------------------------------------------

// The chain over a prompt's id prefix: chain(k) = prompt_chain(chain(k-1), id k), starting from
// prompt_chain_start. It is a function of the whole id prefix ending at token k.
inline constexpr uint64_t prompt_chain_start = 0x6A09E667F3BCC908ull;
inline uint64_t prompt_chain(uint64_t previous, TokenId id) {
  uint64_t x = (previous ^ (id * 0xD6E8FEB86659FD93ull)) + 0x9E3779B97F4A7C15ull;
  x ^= x >> 32;
  x *= 0xD6E8FEB86659FD93ull;
  x ^= x >> 32;
  return x;
}

// A prompt token's value: its chain with the top bit set. Generated values (token_value below)
// stay below 2^50, so a prompt value never equals a generated one.
inline uint64_t prompt_token_value(uint64_t chain) {
  return chain | (1ull << 63);
}
inline bool is_prompt_value(uint64_t value) {
  return (value >> 63) != 0;
}

// The values of a whole prompt, token by token.
inline std::vector<uint64_t> prompt_token_values(const std::vector<TokenId>& ids) {
  std::vector<uint64_t> values;
  values.reserve(ids.size());
  uint64_t chain = prompt_chain_start;
  for (const TokenId id : ids) {
    chain = prompt_chain(chain, id);
    values.push_back(prompt_token_value(chain));
  }
  return values;
}

// The values of a sequence's known ids: prompt values for its leading prompt ids, then the value
// each generated id carries (generated_token_id sets a flag on it). A recomputed token (kvtrace 3,
// after `preempt`) therefore gets back the value it had.
inline std::vector<uint64_t> token_values_of_ids(const std::vector<TokenId>& ids) {
  std::vector<TokenId> prompt;
  while (prompt.size() < ids.size() && is_prompt_token(ids[prompt.size()])) {
    prompt.push_back(ids[prompt.size()]);
  }
  std::vector<uint64_t> values = prompt_token_values(prompt);
  for (size_t k = prompt.size(); k < ids.size(); k++)
    values.push_back(ids[k] & ~generated_token_flag);
  return values;
}

// The value group g's layers store for a token of value `value` (docs/semantics.md V-G2): group 0
// stores the value itself, so a config without kv_groups is unchanged.
inline uint64_t group_token_value(uint64_t value, uint32_t group) {
  return value ^ (uint64_t{group} << 52);
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
    // V's words are K's with the top bit set (token_word): one hash per index serves both.
    for (uint32_t index = 0; index < vector_words; index++) {
      const uint32_t k_word = token_word(value, layer, 0, index);
      out[pos + index] = k_word;
      out[pos + vector_words + index] = k_word | (1u << 31);
    }
    pos += 2 * size_t{vector_words};
  }
}

}  // namespace kv
