// Validation and printing of the kvtrace config line.
#include "trace/config.hpp"

#include <array>

namespace kv {
namespace {

struct Range {
  const char* key;
  uint32_t Config::*field;
  uint32_t min;
  uint32_t max;
};

constexpr std::array<Range, 7> ranges = {{
    {"page_size", &Config::page_size, 1, 65536},
    {"max_pages", &Config::max_pages, 1, 16777216},
    {"kv_heads", &Config::kv_heads, 1, 256},
    {"head_dim", &Config::head_dim, 1, 1024},
    {"layers", &Config::layers, 1, 256},
    {"cpu_pages", &Config::cpu_pages, 0, 16777216},
    {"sliding_window", &Config::sliding_window, 0, 1048576},
}};

// a * b, or nothing when it does not fit 64 bits.
std::optional<uint64_t> checked_mul(std::optional<uint64_t> a, uint64_t b) {
  uint64_t product = 0;
  if (!a || __builtin_mul_overflow(*a, b, &product)) return std::nullopt;
  return product;
}

// V-G0: 2..8 groups, each window 0 or 2..1048576, no sliding_window or skipped slots beside them.
std::optional<std::string> validate_groups(const Config& config) {
  if (config.group_count == 0) return std::nullopt;
  if (config.group_count < 2 || config.group_count > kv_groups_max) {
    return "kv_groups gives " + std::to_string(config.group_count) +
           " window(s); it needs 2..8 (one group with a window is sliding_window=W, "
           "docs/semantics.md "
           "V-G0)";
  }
  for (uint32_t g = 0; g < kv_groups_max; g++) {
    const uint32_t w = config.group_windows[g];
    if (g >= config.group_count ? w != 0 : w == 1 || w > 1048576) {
      return "kv_groups window " + std::to_string(w) + " of group " + std::to_string(g) +
             " is out of range: 0 (full attention) or 2..1048576 (docs/semantics.md V-G0)";
    }
  }
  if (config.sliding_window > 0) {
    return std::string(
        "kv_groups cannot be combined with sliding_window (give each group its window in "
        "kv_groups, docs/semantics.md V-G0)");
  }
  if (config.reserved_slots) {
    return std::string(
        "reserved_slots=skipped cannot be combined with kv_groups (docs/semantics.md V-G0)");
  }
  return std::nullopt;
}

}  // namespace

bool Config::any_window() const {
  for (uint32_t g = 0; g < groups(); g++) {
    if (window(g) > 0) return true;
  }
  return false;
}

std::string format_group_windows(const Config& config) {
  std::string out;
  for (uint32_t g = 0; g < config.group_count; g++) {
    out += (g == 0 ? "" : ",") + std::to_string(config.group_windows[g]);
  }
  return out;
}

std::optional<uint64_t> Config::pool_bytes() const {
  std::optional<uint64_t> bytes = max_pages;
  for (const uint64_t factor : {uint64_t{page_size}, uint64_t{kv_heads}, uint64_t{head_dim},
                                uint64_t{layers}, uint64_t{2}, uint64_t{4}}) {
    bytes = checked_mul(bytes, factor);
  }
  return bytes;
}

std::optional<std::string> validate_config(const Config& config, uint64_t memory_budget_bytes) {
  for (const Range& range : ranges) {
    const uint32_t value = config.*range.field;
    if (value < range.min || value > range.max) {
      return std::string(range.key) + "=" + std::to_string(value) + " is out of range " +
             std::to_string(range.min) + ".." + std::to_string(range.max);
    }
  }
  if (config.sliding_window == 1) {
    return std::string(
        "sliding_window=1 is out of range: 0 (full attention) or 2..1048576 (docs/semantics.md "
        "V-W0)");
  }
  if (auto message = validate_groups(config)) return message;
  if (config.reserved_slots && config.sliding_window > 0) {
    return std::string(
        "reserved_slots=skipped cannot be combined with sliding_window (docs/semantics.md V-W0: "
        "skipped slots are not in block order)");
  }
  if (config.reserved_slots && config.prefix_caching) {
    return std::string(
        "reserved_slots=skipped cannot be combined with prefix_caching=on (docs/semantics.md "
        "section 14: blocks are positions, and skipped slots break them)");
  }
  if (config.reuse_order == reuse_lifo && config.free_queue && config.prefix_caching) {
    return std::string(
        "reuse_order=lifo cannot be combined with free_queue=single and prefix_caching=on "
        "(docs/semantics.md V-O3: the single queue hands out its head, the first page released)");
  }
  const std::optional<uint64_t> pool_bytes = config.pool_bytes();
  if (!pool_bytes || *pool_bytes > memory_budget_bytes) {
    const std::string needed = pool_bytes ? std::to_string(*pool_bytes) + " bytes"
                                          : "over 18446744073709551615 bytes (overflows 64 bits)";
    return "page pool size " + needed +
           " (max_pages*page_size*kv_heads*head_dim*layers*2*4) is over the memory budget of " +
           std::to_string(memory_budget_bytes) +
           " bytes; shrink the config or raise --memory-budget-mib";
  }
  return std::nullopt;
}

const VariantKey* find_variant_key(std::string_view key) {
  for (const VariantKey& variant : variant_keys) {
    if (key == variant.key) return &variant;
  }
  return nullptr;
}

std::optional<uint8_t> VariantKey::word_index(std::string_view word) const {
  for (uint8_t i = 0; i < word_count(); i++) {
    if (word == words[i]) return i;
  }
  return std::nullopt;
}

std::string VariantKey::word_list() const {
  std::string out = words[0];
  for (uint8_t i = 1; i < word_count(); i++) out += std::string("|") + words[i];
  return out;
}

std::string format_variants(const Config& config) {
  std::string out;
  for (const VariantKey& variant : variant_keys) {
    if (config.*variant.field)
      out += std::string(" ") + variant.key + "=" + variant_word(config, variant);
  }
  return out;
}

std::string format_config(const Config& config) {
  std::string out = "config page_size=" + std::to_string(config.page_size) +
                    " max_pages=" + std::to_string(config.max_pages) +
                    " eviction=" + (config.eviction == Eviction::lru ? "lru" : "none");
  const Config defaults;
  if (config.kv_heads != defaults.kv_heads) out += " kv_heads=" + std::to_string(config.kv_heads);
  if (config.head_dim != defaults.head_dim) out += " head_dim=" + std::to_string(config.head_dim);
  if (config.layers != defaults.layers) out += " layers=" + std::to_string(config.layers);
  if (config.prefix_caching) out += " prefix_caching=on";
  if (config.cpu_pages > 0) out += " cpu_pages=" + std::to_string(config.cpu_pages);
  if (config.sliding_window > 0) out += " sliding_window=" + std::to_string(config.sliding_window);
  if (config.group_count > 0) out += " kv_groups=" + format_group_windows(config);
  return out + format_variants(config);
}

}  // namespace kv
