// What the model and a backend report about their prefix cache (kvtrace 2), for the runner to
// compare.
#pragma once

#include <cstdint>
#include <vector>

namespace kv {

// One registered page: its key (every token id through the end of its block) and its page id.
struct CachedPageView {
  std::vector<uint64_t> key;
  uint64_t page = 0;
  uint32_t group = 0;  // the KV group the key belongs to (V-G5); 0 without kv_groups
};

// Page ids are the reporter's own; the runner compares them up to renaming, by key.
struct PrefixCacheView {
  std::vector<CachedPageView> registered;  // any order
  std::vector<uint64_t> queue;             // the cached-free queue, oldest (next reused) first
  // `keys hash` backends: each key is one word, a digest of the backend's own hash of the block
  // (runner/key_hashes.hpp learns which model key it names).
  bool hashed_keys = false;
};

}  // namespace kv
