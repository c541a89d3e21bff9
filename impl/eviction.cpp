// Cache eviction: making room for a request by choosing the shortest LRU prefix of victims.
#include "impl/check.hpp"
#include "impl/kvcache.hpp"

namespace kvcache {

// Frees `need` pages or fails having changed nothing. `requester` is the asking sequence's
// slot (kNone when the op is about to create it); it and `protected_ids` are never victims.
Error Cache::make_room(uint64_t need, uint32_t requester, std::span<const SeqId> protected_ids) {
  if (need <= pages_.free_count()) return Error::none;
  if (config_.eviction == Eviction::none) return Error::capacity_exceeded;
  if (!plan_victims(need, requester, protected_ids)) return Error::capacity_exceeded;
  for (const uint32_t slot : victim_slots_) {
    evicted_.push_back(slots_[slot].id);
    destroy_sequence(slot);
  }
  KV_CHECK(pages_.free_count() >= need, "make_room: plan promised more pages than eviction freed");
  return Error::none;
}

// Walks the eviction order (the LRU list, which holds no pinned sequence) and collects into
// victim_slots_ the shortest prefix of unprotected sequences whose removal frees `need` pages.
// Cost O(P + victims x their pages), P = protected_ids.size(); a request no prefix can satisfy
// walks the whole list before failing. Leaves pending_drop_ all zero.
bool Cache::plan_victims(uint64_t need, uint32_t requester, std::span<const SeqId> protected_ids) {
  // A fresh epoch marks this plan's protected sequences in O(P) lookups, not O(P) per candidate.
  ++protect_epoch_;
  for (const SeqId id : protected_ids) {
    const uint32_t slot = index_.find(id);
    if (slot != detail::SeqIndex::kEmptySlot) slots_[slot].protect_epoch = protect_epoch_;
  }
  victim_slots_.clear();
  const uint64_t free_count = pages_.free_count();
  uint64_t freed = 0;
  if (need <= config_.max_pages) {  // otherwise no prefix can ever suffice
    for (uint32_t slot = lru_head_; slot != kNone; slot = slots_[slot].lru_next) {
      if (slot == requester || slots_[slot].protect_epoch == protect_epoch_) continue;
      if (slots_[slot].swapped) continue;  // holds no device page: no victim (V-S4)
      victim_slots_.push_back(slot);
      freed += mark_victim(slots_[slot]);
      if (free_count + freed >= need) break;
    }
  }
  unmark_victims();
  const bool enough = free_count + freed >= need;
  if (!enough) victim_slots_.clear();
  return enough;
}

// Simulates dropping `victim`'s references; returns how many pages reach refcount 0. A page
// shared with a sequence outside the prefix never reaches 0, so it does not count as freed; nor
// does a prefill's hit page, which the prefill takes right back. Null entries hold no page.
// Every group's table.
uint32_t Cache::mark_victim(const Sequence& victim) {
  uint32_t freed = 0;
  for_each_table(victim, [&](const Table& table) {
    for (const PageId page : table.block_table) {
      if (page == kNullPage) continue;
      if (++pending_drop_[page] == pages_.refcount(page) && !is_hit(page)) ++freed;
    }
  });
  return freed;
}

void Cache::unmark_victims() {
  for (const uint32_t slot : victim_slots_) {
    for_each_table(slots_[slot], [&](const Table& table) {
      for (const PageId page : table.block_table)
        if (page != kNullPage) pending_drop_[page] = 0;
    });
  }
}

}  // namespace kvcache
