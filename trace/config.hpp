// The cache config of a kvtrace file: pool size, eviction policy, data-plane shape, and their
// limits.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kv {

enum class Eviction : uint8_t { none, lru };

inline constexpr uint64_t memory_budget_default_bytes = 256ull << 20;
// A null block-table entry (docs/semantics.md V-W2: out of the sliding window, no page), as
// block-table observations and the model show it.
inline constexpr uint64_t null_page = UINT64_MAX;
// At most this many KV groups (docs/semantics.md V-G0).
inline constexpr uint32_t kv_groups_max = 8;

struct Config {
  uint32_t page_size = 0;  // tokens per page
  uint32_t max_pages = 0;
  Eviction eviction = Eviction::none;
  uint32_t kv_heads = 1;
  uint32_t head_dim = 2;
  uint32_t layers = 1;
  bool prefix_caching = false;  // kvtrace 2: register full prompt blocks and reuse them
  uint32_t cpu_pages = 0;       // kvtrace 3: the CPU pool swap_out moves pages to (0: none)
  // kvtrace 3 (docs/semantics.md section 16): each token attends to the W-1 tokens before it;
  // blocks that fall out of the window are released (0: full attention).
  uint32_t sliding_window = 0;
  // kvtrace 3 (section 17): the KV groups' windows (0: full attention), `kv_groups=0,128`;
  // group_count is 0 without the key (one group, windowed by sliding_window), else 2..8, and the
  // windows past it are 0.
  uint32_t group_count = 0;
  std::array<uint32_t, kv_groups_max> group_windows{};
  // Semantic variants (trace/variants.def, docs/semantics.md section 14): the index of the rule's
  // word, 0 being the default rule (so `if (config.field)` asks for the other rule).
#define KV_VARIANT(field, key, scope, help, ...) uint8_t field = 0;
#include "trace/variants.def"
  bool operator==(const Config&) const = default;

  // 32-bit words per token: K and V, every layer, every head.
  uint64_t words_per_token() const {
    return uint64_t{kv_heads} * head_dim * layers * 2;
  }
  // max_pages*page_size*kv_heads*head_dim*layers*2*4, or nothing when it overflows 64 bits (every
  // field at its maximum gives 2^69). Fields come from untrusted files: never multiply unchecked.
  std::optional<uint64_t> pool_bytes() const;
  // The block tables each sequence has (V-G1): 1 without kv_groups.
  uint32_t groups() const {
    return group_count == 0 ? 1 : group_count;
  }
  // Group g's window, 0 for full attention (V-G0; without kv_groups, sliding_window).
  uint32_t window(uint32_t group) const {
    return group_count == 0 ? sliding_window : group_windows[group];
  }
  bool any_window() const;
  // Section 16's skip(n) for group g: the leading entries of a sequence of n tokens that no token
  // from position n on attends to (0 in a full-attention group).
  uint64_t out_of_window_entries(uint64_t token_count, uint32_t group = 0) const {
    const uint32_t w = window(group);
    if (w == 0 || token_count < w) return 0;
    return (token_count - w + 1) / page_size;
  }
};

// Where a variant's rule means something: in any config, only under prefix_caching=on, or only
// at its other words (`optional`: the first word checks nothing).
enum class VariantScope : uint8_t { any, caching, optional };

// The words of the three-word variants: reuse_order (section 14.8) and duplicate_keys (14.5).
enum ReuseOrder : uint8_t { reuse_any = 0, reuse_lifo = 1, reuse_fifo = 2 };
enum DuplicateKeys : uint8_t { duplicate_refused = 0, duplicate_kept = 1, duplicate_remapped = 2 };
// duplicate_hit's words (V-K2, V-K7).
enum DuplicateHitRule : uint8_t { duplicate_hit_first = 0, duplicate_hit_any = 1 };
// Capabilities::either_variants' mask for every word of a variant.
inline constexpr uint8_t all_words = 0xff;

// One semantic variant's config key and its words, the default first (trace/variants.def).
struct VariantKey {
  static constexpr size_t words_max = 3;
  uint8_t Config::*field;
  const char* key;
  VariantScope scope;
  const char* help;
  std::array<const char*, words_max> words;
  const char* default_word() const { return words[0]; }
  uint8_t word_count() const { return words[2] == nullptr ? 2 : 3; }
  // The index of `word` among the key's words, or nothing.
  std::optional<uint8_t> word_index(std::string_view word) const;
  // "op|token": the words, for messages.
  std::string word_list() const;
  // Whether `config` can tell the rules apart (a caching variant without caching cannot).
  bool matters_in(const Config& config) const {
    if (scope == VariantScope::optional) return config.*field != 0;
    return scope == VariantScope::any || config.prefix_caching;
  }
};
inline constexpr VariantKey variant_keys[] = {
#define KV_VARIANT(field, key, scope, help, ...) \
  {&Config::field, key, VariantScope::scope, help, {__VA_ARGS__}},
#include "trace/variants.def"
};
const VariantKey* find_variant_key(std::string_view key);
// The word of `config`'s value of this variant.
inline const char* variant_word(const Config& config, const VariantKey& variant) {
  return variant.words[config.*variant.field];
}
// " append_atomicity=token ...": the variants that are not the default, or "".
std::string format_variants(const Config& config);

// Checks ranges and the pool size; returns a message a person can act on, or nothing when valid.
std::optional<std::string> validate_config(const Config& config, uint64_t memory_budget_bytes);

// "0,128": the kv_groups value (empty without groups).
std::string format_group_windows(const Config& config);

// `config page_size=4 max_pages=3 eviction=lru ...`, shape keys only when not the default.
std::string format_config(const Config& config);

}  // namespace kv
