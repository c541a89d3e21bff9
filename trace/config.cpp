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

constexpr std::array<Range, 5> ranges = {{
    {"page_size", &Config::page_size, 1, 65536},
    {"max_pages", &Config::max_pages, 1, 16777216},
    {"kv_heads", &Config::kv_heads, 1, 256},
    {"head_dim", &Config::head_dim, 1, 1024},
    {"layers", &Config::layers, 1, 256},
}};

}  // namespace

std::optional<std::string> validate_config(const Config& config, uint64_t memory_budget_bytes) {
  for (const Range& range : ranges) {
    const uint32_t value = config.*range.field;
    if (value < range.min || value > range.max) {
      return std::string(range.key) + "=" + std::to_string(value) + " is out of range " +
             std::to_string(range.min) + ".." + std::to_string(range.max);
    }
  }
  if (config.pool_bytes() > memory_budget_bytes) {
    return "page pool needs " + std::to_string(config.pool_bytes()) +
           " bytes (max_pages*page_size*kv_heads*head_dim*layers*2*4), over the memory budget of " +
           std::to_string(memory_budget_bytes) +
           " bytes; shrink the config or raise --memory-budget-mib";
  }
  return std::nullopt;
}

std::string format_config(const Config& config) {
  std::string out = "config page_size=" + std::to_string(config.page_size) +
                    " max_pages=" + std::to_string(config.max_pages) +
                    " eviction=" + (config.eviction == Eviction::lru ? "lru" : "none");
  const Config defaults;
  if (config.kv_heads != defaults.kv_heads) out += " kv_heads=" + std::to_string(config.kv_heads);
  if (config.head_dim != defaults.head_dim) out += " head_dim=" + std::to_string(config.head_dim);
  if (config.layers != defaults.layers) out += " layers=" + std::to_string(config.layers);
  return out;
}

}  // namespace kv
