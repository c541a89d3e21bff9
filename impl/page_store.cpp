// HostPageStore: the host-memory data plane (contiguous page pool) and the Error/Config helpers.
#include <algorithm>
#include <cstring>

#include "impl/check.hpp"
#include "impl/kvcache.hpp"

namespace kvcache {
namespace {

// One K or V vector: usually a few words, where a plain loop beats a call to memcpy.
inline void copy_words(uint32_t* target, const uint32_t* source, uint32_t word_count) {
  if (word_count > 16) {
    std::memcpy(target, source, word_count * sizeof(uint32_t));
    return;
  }
  for (uint32_t i = 0; i < word_count; ++i) target[i] = source[i];
}

// V-G0: no groups, or 2..kMaxGroups windows each 0 or 2..1048576 (and 0 past group_count), not
// beside a sliding window.
std::string groups_problem(const Config& config) {
  if (config.group_count == 0) return {};
  if (config.group_count < 2 || config.group_count > kMaxGroups) return "group_count must be 2..8";
  if (config.sliding_window != 0) return "sliding_window must be 0 with KV groups";
  for (uint32_t g = 0; g < kMaxGroups; ++g) {
    const uint32_t window = config.group_windows[g];
    if (g >= config.group_count ? window != 0 : window == 1 || window > kMaxAppendTokens)
      return "group_windows must be 0 or 2..1048576 (0 past group_count)";
  }
  return {};
}

}  // namespace

std::string_view error_name(Error error) {
  switch (error) {
    case Error::none:
      return "ok";
    case Error::capacity_exceeded:
      return "capacity_exceeded";
    case Error::unknown_sequence:
      return "unknown_sequence";
    case Error::sequence_exists:
      return "sequence_exists";
    case Error::invalid_argument:
      return "invalid_argument";
    case Error::nothing_to_evict:
      return "nothing_to_evict";
  }
  return "unknown_error";
}

std::string config_problem(const Config& config) {
  auto out_of_range = [](uint32_t value, uint32_t max) { return value < 1 || value > max; };
  if (out_of_range(config.page_size, kMaxPageSize)) return "page_size must be 1..65536";
  if (out_of_range(config.max_pages, kMaxPages)) return "max_pages must be 1..16777216";
  if (out_of_range(config.shape.kv_heads, kMaxKvHeads)) return "kv_heads must be 1..256";
  if (out_of_range(config.shape.head_dim, kMaxHeadDim)) return "head_dim must be 1..1024";
  if (out_of_range(config.shape.layers, kMaxLayers)) return "layers must be 1..256";
  if (config.eviction != Eviction::none && config.eviction != Eviction::lru)
    return "eviction must be none or lru";
  if (config.sliding_window == 1 || config.sliding_window > kMaxAppendTokens)
    return "sliding_window must be 0 or 2..1048576";
  if (config.skip_reserved_slots &&
      (config.prefix_caching || config.sliding_window != 0 || config.group_count != 0))
    return "skip_reserved_slots needs prefix_caching off, no sliding_window and no KV groups";
  if (config.keep_duplicate_keys && config.remap_duplicate_keys)
    return "keep_duplicate_keys and remap_duplicate_keys exclude each other";
  return groups_problem(config);
}

HostPageStore::HostPageStore(const Config& config)
    : page_size_(config.page_size),
      divider_(config.page_size),
      max_pages_(config.max_pages),
      layers_(config.shape.layers),
      vector_words_(config.shape.kv_heads * config.shape.head_dim) {
  KV_CHECK(config_problem(config).empty(), "HostPageStore: caller passed an unvalidated Config");
}

void HostPageStore::cover(uint64_t page) {
  const uint64_t words = (page + 1) * page_size_ * layers_ * 2 * vector_words_;
  if (pool_.size() < words) pool_.resize(words, 0u);
}

void HostPageStore::write_tokens(std::span<const uint64_t> slots,
                                 std::span<const uint32_t> token_words) {
  const uint64_t token_words_each = uint64_t{layers_} * 2 * vector_words_;
  KV_CHECK(token_words.size() == slots.size() * token_words_each,
           "HostPageStore::write_tokens: caller's word count != slots * words_per_token");
  const uint32_t* source = token_words.data();
  for (const uint64_t slot : slots) {
    const uint64_t page = divider_.page(slot);
    const uint64_t offset = divider_.offset(slot);
    KV_CHECK(page < max_pages_, "HostPageStore::write_tokens: slot beyond the pool (cache bug)");
    cover(page);
    // Token input is [layer][kv][head][dim]; each (layer, kv) vector lands in its page block.
    for (uint32_t layer = 0; layer < layers_; ++layer) {
      for (uint32_t kv = 0; kv < 2; ++kv) {
        uint32_t* target = pool_.data() + block_offset(page, layer, kv) + offset * vector_words_;
        copy_words(target, source, vector_words_);
        source += vector_words_;
      }
    }
  }
}

void HostPageStore::copy_page(PageId src, PageId dst, uint32_t slot_count) {
  KV_CHECK(src < max_pages_ && dst < max_pages_ && src != dst,
           "HostPageStore::copy_page: bad page ids (cache bug)");
  cover(std::max(src, dst));
  KV_CHECK(slot_count <= page_size_, "HostPageStore::copy_page: slot_count > page_size");
  const uint64_t words = uint64_t{slot_count} * vector_words_;
  for (uint32_t layer = 0; layer < layers_; ++layer) {
    for (uint32_t kv = 0; kv < 2; ++kv) {
      std::memcpy(pool_.data() + block_offset(dst, layer, kv),
                  pool_.data() + block_offset(src, layer, kv), words * sizeof(uint32_t));
    }
  }
}

void HostPageStore::gather(std::span<const PageId> block_table, uint64_t token_count,
                           std::span<uint32_t> out_words) {
  const uint64_t token_words_each = uint64_t{layers_} * 2 * vector_words_;
  KV_CHECK(out_words.size() == token_count * token_words_each,
           "HostPageStore::gather: caller's output size != token_count * words_per_token");
  KV_CHECK(token_count <= uint64_t{block_table.size()} * page_size_,
           "HostPageStore::gather: block table too short for token_count (cache bug)");
  uint32_t* target = out_words.data();
  for (uint64_t token = 0; token < token_count; ++token) {
    const PageId page = block_table[divider_.page(token)];
    const uint64_t offset = divider_.offset(token);
    KV_CHECK(page < max_pages_, "HostPageStore::gather: page id beyond the pool (cache bug)");
    cover(page);
    for (uint32_t layer = 0; layer < layers_; ++layer) {
      for (uint32_t kv = 0; kv < 2; ++kv) {
        const uint32_t* source =
            pool_.data() + block_offset(page, layer, kv) + offset * vector_words_;
        copy_words(target, source, vector_words_);
        target += vector_words_;
      }
    }
  }
}

}  // namespace kvcache
