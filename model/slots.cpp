// Section 14.8: the physical page each model page occupies, and the order free ones are reused.
#include <algorithm>

#include "model/model.hpp"

namespace kv {

// V-O1/V-O2: the free list's head. Pages never used are in page order behind the released ones
// under lifo (each released page is pushed onto the head) and ahead of them under fifo (each is
// appended at the tail). `any` compares nothing and uses lifo.
uint64_t Model::take_slot() {
  const bool fifo = config_.reuse_order == reuse_fifo;
  if (released_slots_.empty() || (fifo && next_fresh_slot_ < config_.max_pages)) {
    return next_fresh_slot_++;
  }
  const uint64_t slot = released_slots_.front();
  released_slots_.pop_front();
  return slot;
}

// An unregistered page reaching refcount 0 (P12) or an erased cached one: its slot is free.
void Model::release_slot(uint64_t slot) {
  if (config_.reuse_order == reuse_fifo) {
    released_slots_.push_back(slot);
  } else {
    released_slots_.push_front(slot);
  }
}

// Every slot below next_fresh_slot_ is held by one page or released once; none is above it.
void Model::audit_slots(std::vector<std::string>& problems) const {
  std::vector<uint64_t> held(released_slots_.begin(), released_slots_.end());
  for (const auto& [id, page] : pages_) held.push_back(page.slot);
  std::sort(held.begin(), held.end());
  const bool partition = held.size() == next_fresh_slot_ &&
                         std::adjacent_find(held.begin(), held.end()) == held.end() &&
                         (held.empty() || held.back() < next_fresh_slot_);
  if (!partition || next_fresh_slot_ > config_.max_pages) {
    problems.push_back("model: physical pages: " + std::to_string(pages_.size()) + " held and " +
                       std::to_string(released_slots_.size()) +
                       " released should be the distinct pages below " +
                       std::to_string(next_fresh_slot_) + " (max_pages " +
                       std::to_string(config_.max_pages) + ", V-O1)");
  }
}

}  // namespace kv
