// KeyHashes: what a backend that reports prefix-cache keys as hashes (`keys hash`) means by each
// hash, learned over a run from the pages the block tables pair, and the translation of its
// `? cache` view into the model's keys so the usual comparison (runner/prefix_check.hpp) applies.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "trace/prefix_view.hpp"

namespace kv {

// The key of a registration whose hash is not named yet: no token id is this large.
inline constexpr uint64_t unnamed_key_mark = UINT64_MAX;

// Invariant: key_of_hash_ and hash_of_key_ are inverse maps (one hash per key, one key per hash),
// each pair learned from a page both sides hold: in a block table, or at the same position of
// the cached-free queue.
class KeyHashes {
 public:
  // Rewrites each registration of `backend_view` (its key one hash word) as the model's key for
  // that hash; `to_model` is the renaming the block tables fix (backend page -> model page). A
  // key whose hash no table has paired yet becomes {unnamed_key_mark} on both sides. A message
  // when the backend gives one hash to two keys or two hashes to one key.
  std::optional<std::string> translate(PrefixCacheView& model_view,
                                       const std::map<uint64_t, uint64_t>& to_model,
                                       PrefixCacheView& backend_view);

 private:
  using Key = std::vector<uint64_t>;
  std::optional<std::string> learn(uint64_t hash, const Key& key);

  std::map<uint64_t, Key> key_of_hash_;
  std::map<Key, uint64_t> hash_of_key_;
};

}  // namespace kv
