// Cache: construction, sequences, page release (the sliding window's too, per KV group) and the
// intrusive LRU list, over flat page/sequence arrays.
#include "impl/kvcache.hpp"

#include <algorithm>

#include "impl/check.hpp"

namespace kvcache {

namespace {
// Checked before any member is built from it (the page pool allocates max_pages entries).
const Config& validated(const Config& config) {
  KV_CHECK(config_problem(config).empty(), "Cache: caller passed an unvalidated Config");
  return config;
}
}  // namespace

Cache::Cache(const Config& config, PageStore& store)
    : config_(validated(config)),
      divider_(config.page_size),
      store_(store),
      words_per_token_(config.shape.words_per_token()),
      groups_(config.groups()),
      pages_(config.max_pages, config.prefix_caching, config.reuse_fifo,
             config.prefix_caching && config.single_free_queue),
      prefix_(config.page_size, config.prefix_caching ? config.max_pages : 0, config.groups(),
              config.prefix_caching && config.keep_duplicate_keys) {
  windows_ = config.group_count == 0 ? std::array<uint32_t, kMaxGroups>{config.sliding_window}
                                     : config.group_windows;
  any_window_ = std::ranges::any_of(windows_, [](uint32_t window) { return window != 0; });
  pending_drop_.assign(config.max_pages, 0);
  if (config.prefix_caching) {
    slot_token_ids_.assign(uint64_t{config.max_pages} * config.page_size, kGeneratedToken);
    hit_mark_.assign(config.max_pages, 0);
  }
  slots_.reserve(64);
  free_slots_.reserve(64);
  evicted_.reserve(64);
  victim_slots_.reserve(64);
  slot_mapping_.reserve(256);
}

bool Cache::lru_less(uint32_t a, uint32_t b) const {
  const Sequence& x = slots_[a];
  const Sequence& y = slots_[b];
  return x.last_use != y.last_use ? x.last_use < y.last_use : x.id < y.id;
}

// ---- pages ----------------------------------------------------------------------------------

// Releases the entries past the first keep_page_count, last first (P14); null entries hold none.
// Group 0's table first, then group 1's, ... (V-G3).
void Cache::release_tail(Sequence& seq, uint32_t keep_page_count) {
  for_each_table(seq, [&](Table& table) {
    auto& block_table = table.block_table;
    while (block_table.size() > keep_page_count) {
      if (block_table.back() != kNullPage) pages_.release(block_table.back());
      block_table.pop_back();
    }
  });
}

// V-W4 per window group, in group order (V-G3).
void Cache::release_windows(Sequence& seq) {
  for (uint32_t g = 0; g < groups_; ++g)
    if (windows_[g] != 0) release_group_out_of_window(seq, g);
}

// V-W4: before S grows, group g's entries z .. skip(n)-1 give their pages back, last first, and
// become null. Their tokens' words (and ids past those kept) are kept first (one gather), for a
// recompute after preempt and the keys of later blocks.
void Cache::release_group_out_of_window(Sequence& seq, uint32_t group) {
  Table& table = seq.group(group);
  const uint32_t skip = out_of_window(seq.token_count, group);
  const uint32_t first = table.null_entries;
  if (skip <= first) return;
  const uint64_t page_size = config_.page_size;
  const uint64_t tokens = uint64_t{skip - first} * page_size;
  const auto pages =
      std::span<const PageId>(table.block_table.data() + first, table.block_table.data() + skip);
  const uint64_t old_words = table.windowed_words.size();
  table.windowed_words.resize(old_words + tokens * words_per_token_);
  store_.gather(pages, tokens, std::span(table.windowed_words).subspan(old_words));
  // Ids are one per token in every group: kept up to the most null entries of any group.
  for (uint64_t block = seq.windowed_ids.size() / page_size; block < skip; ++block) {
    const PageId page = table.block_table[block];
    for (uint64_t i = 0; i < page_size; ++i) {
      seq.windowed_ids.push_back(slot_token_ids_.empty() ? kGeneratedToken
                                                         : slot_token_ids_[page * page_size + i]);
    }
  }
  for (uint32_t entry = skip; entry-- > first;) {
    pages_.release(table.block_table[entry]);
    table.block_table[entry] = kNullPage;
  }
  table.null_entries = skip;
}

// A hit that leaves its first blocks null (V-W7): their tokens' ids and each group's words, from
// the prompt (`words` group-major, ids.size() tokens per group).
void Cache::keep_windowed(Sequence& seq, std::span<const uint32_t> ids,
                          std::span<const uint32_t> words) {
  uint64_t most_nulls = 0;
  for (uint32_t g = 0; g < groups_; ++g) {
    Table& table = seq.group(g);
    const auto own =
        words.subspan(g * ids.size() * words_per_token_, null_tokens(table) * words_per_token_);
    table.windowed_words.assign(own.begin(), own.end());
    most_nulls = std::max(most_nulls, null_tokens(table));
  }
  seq.windowed_ids.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(most_nulls));
}

// ---- sequences ------------------------------------------------------------------------------

uint32_t Cache::create_sequence(SeqId id, Tick now) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    KV_CHECK(slots_.size() < kNone, "create_sequence: slot index space exhausted");
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Sequence& seq = slots_[slot];
  KV_CHECK(!seq.live, "create_sequence: free slot list held a live slot");
  seq.id = id;
  seq.live = true;
  seq.pinned = false;
  seq.token_count = 0;
  seq.last_use = now;
  seq.other_groups.resize(groups_ - 1);
  for (uint32_t g = 0; g < groups_; ++g) {
    Table& table = seq.group(g);
    table.block_table.clear();  // keeps capacity from the previous tenant
    table.null_entries = 0;
    table.windowed_words.clear();
  }
  seq.pending_ids.clear();
  seq.pending_words.clear();
  seq.reserved = 0;
  seq.waiting = false;
  seq.swapped = false;
  seq.swapped_words.clear();
  seq.swapped_ids.clear();
  seq.windowed_ids.clear();
  seq.fills.clear();
  index_.insert(id, slot);
  lru_insert(slot);
  ++sequence_count_;
  return slot;
}

void Cache::destroy_sequence(uint32_t slot) {
  // register_at=release (V-E1): a freed or evicted sequence's full blocks are registered first.
  if (config_.register_at_release && !slots_[slot].swapped) {
    register_committed(slots_[slot], 0, divider_.page(slots_[slot].token_count));
  }
  Sequence& seq = slots_[slot];
  release_tail(seq, 0);
  token_count_ -= seq.token_count;
  if (!seq.pinned) lru_unlink(slot);
  index_.erase(seq.id);
  seq.live = false;
  free_slots_.push_back(slot);
  --sequence_count_;
  if (seq.swapped) cpu_pages_used_ -= held_pages(seq);
}

// "Uses S": with non-decreasing ticks the sequence belongs at (or just before) the tail.
void Cache::use(uint32_t slot, Tick now) {
  Sequence& seq = slots_[slot];
  seq.last_use = now;
  if (seq.pinned) return;  // pinned sequences are outside the list; unpin places them
  if (slot == lru_tail_ && (seq.lru_prev == kNone || lru_less(seq.lru_prev, slot))) return;
  lru_unlink(slot);
  lru_insert(slot);
}

// ---- LRU list -------------------------------------------------------------------------------

void Cache::lru_unlink(uint32_t slot) {
  Sequence& seq = slots_[slot];
  (seq.lru_prev == kNone ? lru_head_ : slots_[seq.lru_prev].lru_next) = seq.lru_next;
  (seq.lru_next == kNone ? lru_tail_ : slots_[seq.lru_next].lru_prev) = seq.lru_prev;
  seq.lru_prev = seq.lru_next = kNone;
}

// Links `slot` right after `prev` (kNone: at the head).
void Cache::lru_link_after(uint32_t prev, uint32_t slot) {
  Sequence& seq = slots_[slot];
  const uint32_t next = prev == kNone ? lru_head_ : slots_[prev].lru_next;
  seq.lru_prev = prev;
  seq.lru_next = next;
  (prev == kNone ? lru_head_ : slots_[prev].lru_next) = slot;
  (next == kNone ? lru_tail_ : slots_[next].lru_prev) = slot;
}

// Inserts `slot` at its (last_use, id) position. Searches from both ends in lockstep, so the
// cost is O(min(entries after it, entries before it)): O(1) for a use with the newest tick
// unless same-tick sequences with larger ids must be stepped over (a step applied in
// descending id order pays O(k) per entry for k same-tick entries); an unpin pays the distance
// to the nearer end.
void Cache::lru_insert(uint32_t slot) {
  uint32_t from_tail = lru_tail_;
  uint32_t from_head = lru_head_;
  while (true) {
    if (from_tail == kNone || lru_less(from_tail, slot)) return lru_link_after(from_tail, slot);
    if (from_head == kNone) return lru_link_after(lru_tail_, slot);
    if (lru_less(slot, from_head)) return lru_link_after(slots_[from_head].lru_prev, slot);
    from_tail = slots_[from_tail].lru_prev;
    from_head = slots_[from_head].lru_next;
  }
}

}  // namespace kvcache
