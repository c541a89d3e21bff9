// Cache ops: alloc, append (with copy-on-write), fork, free, truncate, pin, touch, read, evict,
// queries; alloc and append release the entries out of the sliding window first.
#include <algorithm>

#include "impl/check.hpp"
#include "impl/kvcache.hpp"

namespace kvcache {

namespace {
constexpr uint32_t kAbsent = detail::SeqIndex::kEmptySlot;
}

Outcome Cache::alloc(SeqId id, Tick now) {
  uint32_t slot = index_.find(id);
  // No page for a waiting (V-L8) or swapped-out (V-S4) sequence.
  if (slot != kAbsent && (slots_[slot].waiting || slots_[slot].swapped)) {
    return fail(Error::invalid_argument);
  }
  if (slot != kAbsent) release_out_of_window(slots_[slot]);  // V-W4
  evicted_.clear();
  if (const Error error = make_room(1, slot, {}); error != Error::none) return fail(error);
  if (slot == kAbsent) slot = create_sequence(id, now);
  slots_[slot].block_table.push_back(take_page());
  use(slot, now);
  return success();
}

Outcome Cache::append(SeqId id, uint32_t token_count, std::span<const uint32_t> token_words,
                      Tick now, std::span<const SeqId> protected_ids) {
  evicted_.clear();
  if (token_count == 0 || token_count > kMaxAppendTokens) return fail(Error::invalid_argument);
  if (token_words.size() != uint64_t{token_count} * words_per_token_)
    return fail(Error::invalid_argument);  // caller's buffer does not match token_count
  uint32_t slot = index_.find(id);
  if (slot != kAbsent && (slots_[slot].in_flight() || slots_[slot].swapped)) {
    return fail(Error::invalid_argument);  // V-L8, V-S4
  }
  if (slot != kAbsent) release_out_of_window(slots_[slot]);  // V-W4: even if it then fails
  const uint64_t old_tokens = slot == kAbsent ? 0 : slots_[slot].token_count;
  const uint64_t old_pages = slot == kAbsent ? 0 : slots_[slot].block_table.size();
  const uint64_t new_pages = page_count_for(old_tokens + token_count);
  const uint64_t grow_pages = new_pages > old_pages ? new_pages - old_pages : 0;
  // Only entry n / page_size can be both shared and written (fork shares token pages only).
  const uint64_t write_entry = divider_.page(old_tokens);
  const bool shared =
      write_entry < old_pages && pages_.refcount(slots_[slot].block_table[write_entry]) > 1;
  const uint64_t need = grow_pages + (shared ? 1 : 0);
  if (const Error error = make_room(need, slot, protected_ids); error != Error::none)
    return fail(error);

  if (slot == kAbsent) slot = create_sequence(id, now);
  Sequence& seq = slots_[slot];
  // Eviction may have removed the other sharers; copy only if the page is still shared.
  if (write_entry < old_pages && pages_.refcount(seq.block_table[write_entry]) > 1) {
    copy_page_of(seq, write_entry);
  }
  // Writing into a registered page (possible after truncate) unregisters it first.
  if (!slot_token_ids_.empty() && write_entry < seq.block_table.size())
    unregister_page(seq.block_table[write_entry]);
  for (uint64_t i = 0; i < grow_pages; ++i) seq.block_table.push_back(take_page());
  write_tokens(seq, token_count, token_words);
  if (!slot_token_ids_.empty()) {
    for (const uint64_t written : slot_mapping_) slot_token_ids_[written] = kGeneratedToken;
  }
  use(slot, now);
  return success();
}

// Copy-on-write of entry `entry` (n / page_size): a private page with the slots below
// n % page_size (their token ids too), and the shared page's reference dropped.
void Cache::copy_page_of(Sequence& seq, uint64_t entry) {
  const PageId old_page = seq.block_table[entry];
  const PageId new_page = take_page();
  store_.copy_page(old_page, new_page, static_cast<uint32_t>(divider_.offset(seq.token_count)));
  if (!slot_token_ids_.empty()) {
    const uint64_t from = uint64_t{old_page} * config_.page_size;
    std::copy_n(slot_token_ids_.begin() + from, divider_.offset(seq.token_count),
                slot_token_ids_.begin() + uint64_t{new_page} * config_.page_size);
  }
  seq.block_table[entry] = new_page;
  pages_.release(old_page);
}

// Maps tokens n .. n+count-1 to slots (page * page_size + offset) and hands them to the store.
void Cache::write_tokens(Sequence& seq, uint32_t token_count,
                         std::span<const uint32_t> token_words) {
  slot_mapping_.resize(token_count);  // reuses capacity after warm-up
  const uint64_t page_size = config_.page_size;
  // Walk page by page: one division for the first token, then increments.
  uint64_t entry = divider_.page(seq.token_count);
  uint64_t offset = divider_.offset(seq.token_count);
  for (uint32_t i = 0; i < token_count; ++i) {
    slot_mapping_[i] = uint64_t{seq.block_table[entry]} * page_size + offset;
    if (++offset == page_size) {
      offset = 0;
      ++entry;
    }
  }
  store_.write_tokens(slot_mapping_, token_words);
  seq.token_count += token_count;
  token_count_ += token_count;
}

Outcome Cache::fork(SeqId src, SeqId dst, Tick now) {
  evicted_.clear();
  const uint32_t src_slot = index_.find(src);
  if (src_slot == kAbsent) return fail(Error::unknown_sequence);
  if (dst == src || index_.find(dst) != kAbsent) return fail(Error::sequence_exists);
  if (slots_[src_slot].swapped) return fail(Error::invalid_argument);  // V-S4
  const uint32_t dst_slot = create_sequence(dst, now);  // may move slots_: index afterwards
  const Sequence& from = slots_[src_slot];
  Sequence& to = slots_[dst_slot];
  // Only pages holding tokens are shared; reserved pages stay private to SRC.
  const uint32_t shared_pages = page_count_for(from.token_count);
  to.block_table.assign(from.block_table.begin(), from.block_table.begin() + shared_pages);
  for (const PageId page : to.block_table)
    if (page != kNullPage) pages_.share(page);  // null entries are copied as nulls (V-W2)
  to.null_entries = from.null_entries;
  to.windowed_words = from.windowed_words;
  to.windowed_ids = from.windowed_ids;
  to.token_count = from.token_count;
  token_count_ += from.token_count;
  use(src_slot, now);
  return success();
}

Outcome Cache::free(SeqId id) {
  evicted_.clear();
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  destroy_sequence(slot);
  return success();
}

Outcome Cache::truncate(SeqId id, uint64_t token_count, Tick now) {
  evicted_.clear();
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  Sequence& seq = slots_[slot];
  if (token_count > seq.token_count || seq.in_flight() || seq.swapped)
    return fail(Error::invalid_argument);
  // V-W5: the tokens before N would need a block the window released.
  if (seq.null_entries > out_of_window(token_count)) return fail(Error::invalid_argument);
  release_tail(seq, page_count_for(token_count));  // reserved pages go too
  token_count_ -= seq.token_count - token_count;
  seq.token_count = token_count;
  use(slot, now);
  return success();
}

Outcome Cache::pin(SeqId id) {
  evicted_.clear();
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  if (!slots_[slot].pinned) {
    lru_unlink(slot);
    slots_[slot].pinned = true;
  }
  return success();
}

Outcome Cache::unpin(SeqId id) {
  evicted_.clear();
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  if (slots_[slot].pinned) {
    slots_[slot].pinned = false;
    lru_insert(slot);
  }
  return success();
}

Outcome Cache::touch(SeqId id, Tick now) {
  evicted_.clear();
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  use(slot, now);
  return success();
}

Outcome Cache::read(SeqId id, std::vector<uint32_t>& out_words, Tick now) {
  evicted_.clear();
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  const Sequence& seq = slots_[slot];
  if (seq.swapped) return fail(Error::invalid_argument);  // V-S4
  // Only the pages after the null entries hold tokens (V-W3).
  const uint64_t first = null_tokens(seq);
  out_words.resize((seq.token_count - first) * words_per_token_);
  store_.gather(std::span<const PageId>(seq.block_table.data() + seq.null_entries,
                                        seq.block_table.size() - seq.null_entries),
                seq.token_count - first, out_words);
  use(slot, now);
  return success();
}

Outcome Cache::evict() {
  evicted_.clear();
  uint32_t victim = lru_head_;
  while (victim != kNone && slots_[victim].swapped) victim = slots_[victim].lru_next;
  if (victim == kNone) return fail(Error::nothing_to_evict);
  evicted_.push_back(slots_[victim].id);
  destroy_sequence(victim);
  return success();
}

std::optional<SeqInfo> Cache::info(SeqId id) const {
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return std::nullopt;
  const Sequence& seq = slots_[slot];
  return SeqInfo{seq.token_count, static_cast<uint32_t>(seq.block_table.size()) - seq.null_entries,
                 seq.pinned, seq.last_use};
}

Stats Cache::stats() const {
  return Stats{pages_.used_count(), pages_.free_count(), sequence_count_,
               token_count_,        prefix_.key_count(), cpu_pages_used_};
}

std::span<const PageId> Cache::block_table(SeqId id) const {
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return {};
  const Sequence& seq = slots_[slot];
  return {seq.block_table.data(), seq.block_table.size()};
}

std::vector<SeqId> Cache::sequence_ids() const {
  std::vector<SeqId> ids;
  ids.reserve(sequence_count_);
  for (const Sequence& seq : slots_)
    if (seq.live) ids.push_back(seq.id);
  return ids;
}

}  // namespace kvcache
