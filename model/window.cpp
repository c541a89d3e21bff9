// The reference model's sliding window (docs/semantics.md section 16): null entries, the release
// of blocks that left the window, the window's prefix hit and its audit, each in its rule's words.
#include <algorithm>

#include "model/model.hpp"

namespace kv {

// z(S): "a sequence's null entries are a prefix of its table" (V-W2).
uint64_t Model::null_entries(const Sequence& sequence) const {
  uint64_t count = 0;
  while (count < sequence.block_table.size() && sequence.block_table[count] == null_page) count++;
  return count;
}

uint64_t Model::page_count(const Sequence& sequence) const {
  return static_cast<uint64_t>(std::count_if(sequence.block_table.begin(),
                                             sequence.block_table.end(),
                                             [](ModelPageId page) { return page != null_page; }));
}

// "S's entries z(S) .. skip(n)-1 are released last entry first, as P14 releases, and become null"
// (V-W4), before an op that grows S computes its need.
void Model::release_out_of_window(Sequence& sequence) {
  const uint64_t skip = std::min<uint64_t>(config_.out_of_window_entries(sequence.token_count),
                                           sequence.block_table.size());
  for (uint64_t entry = skip; entry > null_entries(sequence); entry--) {
    release(sequence.block_table[entry - 1]);
    sequence.block_table[entry - 1] = null_page;
  }
}

// V-W7: "the largest h at most the limit whose blocks max(0,h-c) .. h-1 all have registered keys";
// the hit's pages, null for entries 0 .. max(0,H-c)-1.
std::vector<ModelPageId> Model::window_hits(const std::vector<TokenId>& ids) const {
  const uint64_t page_size = config_.page_size;
  const uint64_t needed = (config_.sliding_window - 1 + page_size - 1) / page_size;  // c
  const uint64_t limit = (ids.size() - 1) / page_size;
  std::vector<std::optional<ModelPageId>> registered(limit);  // each block's page, if any
  for (uint64_t block = 0; block < limit; block++) {
    const Key key(ids.begin(), ids.begin() + static_cast<int64_t>((block + 1) * page_size));
    const auto found = registered_.find(key);
    if (found != registered_.end()) registered[block] = found->second.front();  // V-K2
  }
  for (uint64_t h = limit; h > 0; h--) {
    const uint64_t first = h > needed ? h - needed : 0;
    std::vector<ModelPageId> hits(first, null_page);
    for (uint64_t block = first; block < h && registered[block]; block++) {
      hits.push_back(*registered[block]);
    }
    if (hits.size() == h) return hits;
  }
  return {};
}

// V-W2's invariants: nulls only with a window, a prefix of at most skip(n) entries.
void Model::audit_window(std::vector<std::string>& problems) const {
  for (const auto& [id, sequence] : sequences_) {
    const uint64_t nulls = null_entries(sequence);
    const uint64_t all_nulls = sequence.block_table.size() - page_count(sequence);
    const uint64_t skip = config_.out_of_window_entries(sequence.token_count);
    if (nulls != all_nulls || nulls > skip) {
      problems.push_back(
          "model: sequence " + std::to_string(id) + " has " + std::to_string(all_nulls) +
          " null entries, " + std::to_string(nulls) +
          " of them leading; expected a prefix of at most skip(n) = " + std::to_string(skip));
    }
  }
}

}  // namespace kv
