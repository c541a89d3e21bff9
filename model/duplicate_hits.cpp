// duplicate_hit=any (docs/semantics.md V-K7): the model takes the hit page it is told to take.
#include <algorithm>

#include "model/model.hpp"

namespace kv {

ModelPageId Model::hit_page(uint32_t group, uint64_t block,
                            const std::vector<ModelPageId>& pages) const {
  if (config_.duplicate_hit != duplicate_hit_any) return pages.front();  // V-K2
  for (const HitChoice& choice : hit_choices_) {
    if (choice.group != group || choice.block != block) continue;
    if (std::find(pages.begin(), pages.end(), choice.page) != pages.end()) return choice.page;
  }
  return pages.front();
}

std::pair<SeqId, uint64_t> Model::first_holder(ModelPageId page) const {
  for (const auto& [id, sequence] : sequences_) {
    uint64_t entry = 0;  // an entry of block_table(id): every group's table in group order (V-G7)
    for (uint32_t g = 0; g < groups(); g++) {
      for (const ModelPageId held : sequence.tables[g]) {
        if (held == page) return {id, entry};
        entry++;
      }
    }
  }
  return {0, 0};  // unreachable: a page in use is held by some entry (audit())
}

// Only prefill and a waiting sequence's reserve look keys up (V-D2). The lookup is prefix_hits'
// with no choices: which of a key's pages is taken changes neither the hit H nor its keys.
std::vector<Model::DuplicateHit> Model::duplicate_hits(const Op& op) const {
  std::vector<DuplicateHit> out;
  if (config_.duplicate_hit != duplicate_hit_any || config_.duplicate_keys != duplicate_kept)
    return out;
  const auto found = sequences_.find(op.seq);
  std::optional<std::vector<TokenId>> ids;
  if (op.kind == OpKind::prefill && found == sequences_.end()) ids = prompt_token_ids(op.entries);
  if (op.kind == OpKind::reserve && found != sequences_.end() && found->second.waiting)
    ids = found->second.pending_ids;
  if (!ids) return out;
  const Tables hits = prefix_hits(*ids);
  for (uint32_t g = 0; g < groups(); g++) {
    for (uint64_t block = 0; block < hits[g].size(); block++) {
      if (hits[g][block] == null_page) continue;  // out of a window's hit (V-W7)
      const std::vector<ModelPageId>& pages = registered_.at(*pages_.at(hits[g][block]).key);
      if (pages.size() < 2) continue;
      DuplicateHit hit{g, block, {}};
      for (const ModelPageId page : pages) {
        DuplicateHit::Page where{page, std::nullopt, 0, 0};
        if (pages_.at(page).refcount > 0) {
          const auto [holder, entry] = first_holder(page);
          where.holder = holder;
          where.entry = entry;
        } else {
          const auto queued = std::find(cached_queue_.begin(), cached_queue_.end(), page);
          where.queue_position = static_cast<uint64_t>(queued - cached_queue_.begin());
        }
        hit.pages.push_back(where);
      }
      out.push_back(std::move(hit));
    }
  }
  return out;
}

}  // namespace kv
