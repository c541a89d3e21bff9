// Reach: how far generated traces take the cache (live sequences, holders per page, step members,
// vector words, ids, page sizes), measured by running them through the model.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "trace/trace.hpp"

namespace kv {

struct Reach {
  uint64_t trace_count = 0;
  uint64_t op_count = 0;
  uint64_t max_live_sequences = 0;
  uint64_t max_holders_per_page = 0;  // the largest page refcount seen
  uint64_t max_step_members = 0;
  uint64_t max_vector_words = 0;  // kv_heads * head_dim: one K or V vector of one layer
  uint64_t max_token_words = 0;   // words per token: K and V, every layer
  uint64_t max_pool_pages = 0;
  uint64_t min_pool_pages = UINT64_MAX;
  uint64_t evictions = 0;  // victims over all ops
  SeqId min_id = UINT32_MAX, max_id = 0;
  std::set<SeqId> ids;  // distinct ids named (capped, see reach.cpp)
  std::set<uint32_t> page_sizes;

  // Runs `trace` through a fresh model and folds what it reached into this.
  void add(const Trace& trace);
  // How many of `page_sizes` are not a power of two.
  uint64_t odd_page_size_count() const;
  // A table, one `what | value` row per line.
  std::string format() const;
};

}  // namespace kv
