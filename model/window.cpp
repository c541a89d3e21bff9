// The reference model's sliding windows (docs/semantics.md sections 16 and 17): null entries, the
// release of blocks that left a group's window, what a group accepts as a prefix hit, and their
// audit, each in its rule's words.
#include <algorithm>

#include "model/model.hpp"

namespace kv {

// z(S) of one group: "a sequence's null entries are a prefix of its table" (V-W2).
uint64_t Model::null_entries(const Sequence& sequence, uint32_t group) const {
  const Table& table = sequence.tables[group];
  uint64_t count = 0;
  while (count < table.size() && table[count] == null_page) count++;
  return count;
}

uint64_t Model::page_count(const Sequence& sequence) const {
  uint64_t count = 0;
  for (uint32_t g = 0; g < groups(); g++) {
    count +=
        static_cast<uint64_t>(std::count_if(sequence.tables[g].begin(), sequence.tables[g].end(),
                                            [](ModelPageId page) { return page != null_page; }));
  }
  return count;
}

uint64_t Model::cpu_pages_of(const Sequence& sequence) const {
  uint64_t count = 0;
  for (uint32_t g = 0; g < groups(); g++) {
    count += pages_for_tokens(sequence.token_count) - null_entries(sequence, g);
  }
  return count;
}

// "S's entries z(S) .. skip(n)-1 are released last entry first, as P14 releases, and become null"
// (V-W4), before an op that grows S computes its need; each window group in group order (V-G3).
void Model::release_out_of_window(Sequence& sequence) {
  for (uint32_t g = 0; g < groups(); g++) {
    Table& table = sequence.tables[g];
    const uint64_t skip =
        std::min<uint64_t>(config_.out_of_window_entries(sequence.token_count, g), table.size());
    for (uint64_t entry = skip; entry > null_entries(sequence, g); entry--) {
      release(table[entry - 1]);
      table[entry - 1] = null_page;
    }
  }
}

// "truncate S N is invalid_argument when z(S) > skip(N)" (V-W5), in any group (V-G3).
bool Model::window_truncate_invalid(const Sequence& sequence, uint64_t token_count) const {
  for (uint32_t g = 0; g < groups(); g++) {
    if (null_entries(sequence, g) > config_.out_of_window_entries(token_count, g)) return true;
  }
  return false;
}

// The first block group g needs for a hit of `hit_blocks` blocks: 0 for full attention (P10),
// max(0, h-c) for a window group, c = ceil((W-1)/page_size) at least 1 (V-W7); the blocks before
// it are null entries of the hit.
uint64_t Model::first_hit_block(uint32_t group, uint64_t hit_blocks) const {
  if (config_.window(group) == 0) return 0;
  const uint64_t page_size = config_.page_size;
  const uint64_t needed =
      std::max<uint64_t>(1, (config_.window(group) - 1 + page_size - 1) / page_size);
  return hit_blocks > needed ? hit_blocks - needed : 0;
}

// Whether group g accepts a hit of `hit_blocks` blocks: a full-attention group needs keys for
// blocks 0 .. h-1 (P10), a window group for blocks max(0,h-c) .. h-1 (V-W7, V-G6).
// `registered`: the group's page per block, if its key is registered.
bool Model::group_accepts(const std::vector<std::optional<ModelPageId>>& registered, uint32_t group,
                          uint64_t hit_blocks) const {
  for (uint64_t block = first_hit_block(group, hit_blocks); block < hit_blocks; block++) {
    if (block >= registered.size() || !registered[block]) return false;
  }
  return true;
}

// V-W2's invariants per group: nulls only with a window, a prefix of at most skip(n) entries.
void Model::audit_window(std::vector<std::string>& problems) const {
  for (const auto& [id, sequence] : sequences_) {
    for (uint32_t g = 0; g < groups(); g++) {
      const Table& table = sequence.tables[g];
      const uint64_t nulls = null_entries(sequence, g);
      const uint64_t all_nulls =
          static_cast<uint64_t>(std::count(table.begin(), table.end(), null_page));
      const uint64_t skip = config_.out_of_window_entries(sequence.token_count, g);
      if (nulls != all_nulls || nulls > skip) {
        problems.push_back(
            "model: sequence " + std::to_string(id) + " group " + std::to_string(g) + " has " +
            std::to_string(all_nulls) + " null entries, " + std::to_string(nulls) +
            " of them leading; expected a prefix of at most skip(n) = " + std::to_string(skip));
      }
    }
  }
}

}  // namespace kv
