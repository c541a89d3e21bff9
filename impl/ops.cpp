// Cache ops: alloc, append (with copy-on-write), fork, free, truncate, pin, touch, read, evict,
// queries; alloc and append release the entries out of the sliding window first. Every op acts on
// each KV group's table, group 0 first.
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
  if (const Error error = make_room(groups_, slot, {}); error != Error::none) return fail(error);
  if (slot == kAbsent) slot = create_sequence(id, now);
  for (uint32_t g = 0; g < groups_; ++g) slots_[slot].group(g).block_table.push_back(take_page());
  if (config_.skip_reserved_slots) slots_[slot].fills.push_back(0);  // a reserved page (V-R2)
  use(slot, now);
  return success();
}

Outcome Cache::append(SeqId id, uint32_t token_count, std::span<const uint32_t> token_words,
                      Tick now, std::span<const SeqId> protected_ids,
                      std::span<const uint32_t> token_ids) {
  evicted_.clear();
  if (token_count == 0 || token_count > kMaxAppendTokens) return fail(Error::invalid_argument);
  if (token_words.size() != uint64_t{token_count} * groups_ * words_per_token_)
    return fail(Error::invalid_argument);  // caller's buffer does not match token_count
  if (!token_ids.empty() && token_ids.size() != token_count) return fail(Error::invalid_argument);
  uint32_t slot = index_.find(id);
  if (slot != kAbsent && (slots_[slot].in_flight() || slots_[slot].swapped)) {
    return fail(Error::invalid_argument);  // V-L8, V-S4
  }
  if (config_.skip_reserved_slots)
    return append_packed(slot, id, token_count, token_words, now, protected_ids);
  if (slot != kAbsent) release_out_of_window(slots_[slot]);  // V-W4: even if it then fails
  const uint64_t old_tokens = slot == kAbsent ? 0 : slots_[slot].token_count;
  const uint64_t old_pages = slot == kAbsent ? 0 : slots_[slot].block_table.size();
  const uint64_t new_pages = page_count_for(old_tokens + token_count);
  const uint64_t grow_pages = new_pages > old_pages ? new_pages - old_pages : 0;
  const uint64_t shared = slot == kAbsent ? 0 : copy_on_write_need(slots_[slot]);
  const uint64_t need = grow_pages * groups_ + shared;
  if (const Error error = make_room(need, slot, protected_ids); error != Error::none)
    return fail(error);

  if (slot == kAbsent) slot = create_sequence(id, now);
  Sequence& seq = slots_[slot];
  copy_shared_pages(seq);
  for_each_table(seq, [&](Table& table) {
    for (uint64_t i = 0; i < grow_pages; ++i) table.block_table.push_back(take_page());
  });
  write_tokens(seq, token_count, token_words);
  if (!slot_token_ids_.empty()) record_generated_ids(seq, token_count, token_ids);
  use(slot, now);
  return success();
}

// The ids of an append's tokens, just written at slot_mapping_ (each group's slots in turn):
// kGeneratedToken (never keyed) unless decode_caching=on, which also registers the blocks the
// append filled (V-D1), now or (register_at=release) when the sequence is released.
void Cache::record_generated_ids(Sequence& seq, uint32_t token_count,
                                 std::span<const uint32_t> token_ids) {
  if (!config_.decode_caching || token_ids.empty()) {
    for (const uint64_t written : slot_mapping_) slot_token_ids_[written] = kGeneratedToken;
    return;
  }
  for (uint64_t i = 0; i < slot_mapping_.size(); ++i)
    slot_token_ids_[slot_mapping_[i]] = token_ids[i % token_count];
  if (config_.register_at_release) return;
  register_committed(seq, divider_.page(seq.token_count - token_count),
                     divider_.page(seq.token_count));
}

// The pages a write at n copies first: only entry n / page_size can be both shared and written
// (fork shares token pages only), once per group whose page there is shared.
uint64_t Cache::copy_on_write_need(const Sequence& seq) const {
  const uint64_t write_entry = divider_.page(seq.token_count);
  uint64_t shared = 0;
  for_each_table(seq, [&](const Table& table) {
    const auto& block_table = table.block_table;
    shared += write_entry < block_table.size() && pages_.refcount(block_table[write_entry]) > 1;
  });
  return shared;
}

// Before a write at n, per group: a still-shared page there is copied (eviction may have removed
// the other sharers), and a registered one (possible after truncate) loses its key.
void Cache::copy_shared_pages(Sequence& seq) {
  const uint64_t write_entry = divider_.page(seq.token_count);
  for_each_table(seq, [&](Table& table) {
    if (write_entry >= table.block_table.size()) return;
    if (pages_.refcount(table.block_table[write_entry]) > 1)
      copy_page_of(table, seq.token_count, write_entry);
    if (!slot_token_ids_.empty()) unregister_page(table.block_table[write_entry]);
  });
}

// Copy-on-write of entry `entry` (n / page_size): a private page with the slots below
// n % page_size (their token ids too), and the shared page's reference dropped.
void Cache::copy_page_of(Table& table, uint64_t token_count, uint64_t entry) {
  const PageId old_page = table.block_table[entry];
  const PageId new_page = take_page();
  store_.copy_page(old_page, new_page, static_cast<uint32_t>(divider_.offset(token_count)));
  if (!slot_token_ids_.empty()) {
    const uint64_t from = uint64_t{old_page} * config_.page_size;
    std::copy_n(slot_token_ids_.begin() + from, divider_.offset(token_count),
                slot_token_ids_.begin() + uint64_t{new_page} * config_.page_size);
  }
  table.block_table[entry] = new_page;
  pages_.release(old_page);
}

// Writes into slot_mapping_ from `at` on the slots (page * page_size + offset) of tokens
// first .. first+count-1 of `table`.
void Cache::map_slots(const Table& table, uint64_t first_token, uint64_t token_count, uint64_t at) {
  const uint64_t page_size = config_.page_size;
  // Walk page by page: one division for the first token, then increments.
  uint64_t entry = divider_.page(first_token);
  uint64_t offset = divider_.offset(first_token);
  for (uint64_t i = 0; i < token_count; ++i) {
    slot_mapping_[at++] = uint64_t{table.block_table[entry]} * page_size + offset;
    if (++offset == page_size) {
      offset = 0;
      ++entry;
    }
  }
}

// Maps tokens n .. n+count-1 of every group to slots and hands them to the store in one call;
// token_words is group-major (count tokens per group).
void Cache::write_tokens(Sequence& seq, uint32_t token_count,
                         std::span<const uint32_t> token_words) {
  slot_mapping_.resize(uint64_t{token_count} * groups_);  // reuses capacity after warm-up
  uint64_t at = 0;
  for_each_table(seq, [&](const Table& table) {
    map_slots(table, seq.token_count, token_count, at);
    at += token_count;
  });
  store_.write_tokens(slot_mapping_, token_words);
  seq.token_count += token_count;
  token_count_ += token_count;
}

// Tokens first .. first+count-1 of each group of `words` (group-major, token_count tokens per
// group), as one group-major buffer: a view with one group, else a copy.
std::span<const uint32_t> Cache::group_words(std::span<const uint32_t> words, uint64_t token_count,
                                             uint64_t first, uint64_t count) {
  if (groups_ == 1) return words.subspan(first * words_per_token_, count * words_per_token_);
  group_words_.clear();
  for (uint32_t g = 0; g < groups_; ++g) {
    const auto own =
        words.subspan((g * token_count + first) * words_per_token_, count * words_per_token_);
    group_words_.insert(group_words_.end(), own.begin(), own.end());
  }
  return group_words_;
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
  if (config_.skip_reserved_slots) fork_packed(from, to);  // the entries holding tokens (V-R4)
  // Only pages holding tokens are shared; reserved pages stay private to SRC. Every group's table.
  const uint32_t shared_pages = page_count_for(from.token_count);
  for (uint32_t g = 0; g < groups_ && !config_.skip_reserved_slots; ++g) {
    const Table& from_table = from.group(g);
    Table& to_table = to.group(g);
    to_table.block_table.assign(from_table.block_table.begin(),
                                from_table.block_table.begin() + shared_pages);
    for (const PageId page : to_table.block_table)
      if (page != kNullPage) pages_.share(page);  // null entries are copied as nulls (V-W2)
    to_table.null_entries = from_table.null_entries;
    to_table.windowed_words = from_table.windowed_words;
  }
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
  // V-W5: the tokens before N would need a block the window released (any group, V-G3).
  for (uint32_t g = 0; g < groups_; ++g) {
    if (seq.group(g).null_entries > out_of_window(token_count, g))
      return fail(Error::invalid_argument);
  }
  // Reserved pages go too; packed entries (V-R4): through the one holding token N-1.
  release_tail(seq, config_.skip_reserved_slots ? packed_entries_kept(seq, token_count)
                                                : page_count_for(token_count));
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
  if (config_.skip_reserved_slots) {
    out_words.resize(seq.token_count * words_per_token_);
    gather_packed(seq, out_words);
    use(slot, now);
    return success();
  }
  // Only the pages after the null entries hold tokens (V-W3); each group's, group 0 first.
  uint64_t words = 0;
  for (uint32_t g = 0; g < groups_; ++g)
    words += (seq.token_count - null_tokens(seq.group(g))) * words_per_token_;
  out_words.resize(words);
  uint64_t at = 0;
  for (uint32_t g = 0; g < groups_; ++g) {
    const Table& table = seq.group(g);
    const uint64_t count = seq.token_count - null_tokens(table);
    store_.gather(std::span<const PageId>(table.block_table.data() + table.null_entries,
                                          table.block_table.size() - table.null_entries),
                  count, std::span(out_words).subspan(at, count * words_per_token_));
    at += count * words_per_token_;
  }
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
  uint32_t pages = 0;  // non-null entries of every group (V-G1)
  for (uint32_t g = 0; g < groups_; ++g)
    pages += static_cast<uint32_t>(seq.group(g).block_table.size()) - seq.group(g).null_entries;
  return SeqInfo{seq.token_count, pages, seq.pinned, seq.last_use};
}

Stats Cache::stats() const {
  return Stats{pages_.used_count(), pages_.free_count(), sequence_count_,
               token_count_,        prefix_.key_count(), cpu_pages_used_};
}

std::span<const PageId> Cache::block_table(SeqId id, uint32_t group) const {
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent || group >= groups_) return {};
  const Table& table = slots_[slot].group(group);
  return {table.block_table.data(), table.block_table.size()};
}

std::span<const uint32_t> Cache::entry_fills(SeqId id) const {
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return {};
  return slots_[slot].fills;
}

std::vector<SeqId> Cache::sequence_ids() const {
  std::vector<SeqId> ids;
  ids.reserve(sequence_count_);
  for (const Sequence& seq : slots_)
    if (seq.live) ids.push_back(seq.id);
  return ids;
}

}  // namespace kvcache
