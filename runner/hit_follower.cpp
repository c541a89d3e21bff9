// HitFollower: a duplicate key's pages on the backend before an op, and its choice after it.
#include "runner/hit_follower.hpp"

#include <map>

namespace kv {

HitFollower::HitFollower(const Model& model, const Backend& backend, const Op& op)
    : hits_(model.duplicate_hits(op)) {
  std::map<SeqId, std::vector<uint64_t>> tables;  // the backend's, read once each
  std::optional<PrefixCacheView> cache;
  bool cache_read = false;
  for (const Model::DuplicateHit& hit : hits_) {
    std::vector<std::optional<uint64_t>>& pages = backend_pages_.emplace_back();
    for (const Model::DuplicateHit::Page& page : hit.pages) {
      std::optional<uint64_t> backend_page;
      if (page.holder) {
        auto [table, unread] = tables.try_emplace(*page.holder);
        if (unread) table->second = backend.block_table(*page.holder);
        if (page.entry < table->second.size()) backend_page = table->second[page.entry];
      } else {
        if (!cache_read && !backend.declined().queue_order) cache = backend.prefix_cache();
        cache_read = true;
        if (cache && page.queue_position < cache->queue.size())
          backend_page = cache->queue[page.queue_position];
      }
      pages.push_back(backend_page);
    }
  }
}

std::vector<Model::HitChoice> HitFollower::choices(const Backend& backend, SeqId seq,
                                                   uint32_t groups) const {
  std::vector<Model::HitChoice> out;
  const std::vector<uint64_t> table = backend.block_table(seq);
  const uint64_t length = table.size() / groups;  // every group's table has it (V-G1, V-G7)
  for (size_t i = 0; i < hits_.size(); i++) {
    const Model::DuplicateHit& hit = hits_[i];
    const uint64_t index = hit.group * length + hit.block;
    if (hit.block >= length) continue;  // a short table: the sharing check reports it
    std::optional<ModelPageId> chosen;
    for (size_t j = 0; j < hit.pages.size() && !chosen; j++) {
      if (backend_pages_[i][j] == table[index]) chosen = hit.pages[j].page;
    }
    // No known page: the key's first queued page that the backend did not report, if any.
    for (size_t j = 0; j < hit.pages.size() && !chosen; j++) {
      if (!backend_pages_[i][j] && !hit.pages[j].holder) chosen = hit.pages[j].page;
    }
    if (chosen) out.push_back({hit.group, hit.block, *chosen});
  }
  return out;
}

std::vector<Model::HitChoice> HitFollower::costliest_choices() const {
  std::vector<Model::HitChoice> out;
  for (const Model::DuplicateHit& hit : hits_) {
    for (const Model::DuplicateHit::Page& page : hit.pages) {
      if (page.holder) continue;
      out.push_back({hit.group, hit.block, page.page});
      break;
    }
  }
  return out;
}

bool HitFollower::departs_from_first(const std::vector<Model::HitChoice>& choices) const {
  for (const Model::HitChoice& choice : choices) {
    for (const Model::DuplicateHit& hit : hits_) {
      if (hit.group == choice.group && hit.block == choice.block &&
          hit.pages.front().page != choice.page)
        return true;
    }
  }
  return false;
}

}  // namespace kv
