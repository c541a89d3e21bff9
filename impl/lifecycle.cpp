// Cache's request lifecycle (kvtrace 3, docs/semantics.md section 15): admit, reserve, commit,
// preempt, swap. A sequence keeps its pending tokens' ids and words (each KV group's, group-major),
// so a recompute writes back exactly what a preempt took away.
#include <algorithm>

#include "impl/check.hpp"
#include "impl/kvcache.hpp"

namespace kvcache {

namespace {
constexpr uint32_t kAbsent = detail::SeqIndex::kEmptySlot;
}

Outcome Cache::admit(SeqId id, std::span<const uint32_t> token_ids,
                     std::span<const uint32_t> token_words, Tick now) {
  evicted_.clear();
  if (config_.skip_reserved_slots) return fail(Error::invalid_argument);  // V-L9
  if (const Error error = prompt_error(id, token_ids, token_words); error != Error::none) {
    return fail(error);
  }
  Sequence& seq = slots_[create_sequence(id, now)];
  seq.pending_ids.assign(token_ids.begin(), token_ids.end());
  seq.pending_words.assign(token_words.begin(), token_words.end());
  seq.waiting = true;
  return success();
}

Outcome Cache::reserve(SeqId id, uint32_t token_count, Tick now) {
  evicted_.clear();
  if (config_.skip_reserved_slots) return fail(Error::invalid_argument);  // V-L9
  if (token_count == 0 || token_count > kMaxAppendTokens) return fail(Error::invalid_argument);
  uint32_t slot = index_.find(id);
  if (slot != kAbsent && slots_[slot].swapped) return fail(Error::invalid_argument);  // V-S4
  if (slot != kAbsent && slots_[slot].waiting) return reserve_waiting(slot, token_count, now);
  const uint64_t tokens = slot == kAbsent ? 0 : slots_[slot].token_count + slots_[slot].reserved;
  const uint64_t pages = slot == kAbsent ? 0 : slots_[slot].block_table.size();
  const uint64_t wanted = page_count_for(tokens + token_count);
  const uint64_t need = (wanted > pages ? wanted - pages : 0) * groups_;
  if (slot != kAbsent) release_out_of_window(slots_[slot]);  // V-W4; the need stays the same
  if (const Error error = make_room(need, slot, {}); error != Error::none) return fail(error);
  if (slot == kAbsent) slot = create_sequence(id, now);
  Sequence& seq = slots_[slot];
  for (uint32_t g = 0; g < groups_; ++g) {
    auto& block_table = seq.group(g).block_table;
    while (block_table.size() < wanted) block_table.push_back(take_page());
  }
  seq.reserved += token_count;
  use(slot, now);
  return success();
}

// The lookup of a waiting sequence's pending ids (prefill's hit rule and fit), then pages for
// token_count slots after the hit.
Outcome Cache::reserve_waiting(uint32_t slot, uint32_t token_count, Tick now) {
  const std::vector<uint32_t>& ids = slots_[slot].pending_ids;
  hit_pages_.clear();
  if (!ids.empty()) find_hits(ids);
  const uint64_t hit_count = hit_blocks();
  const uint64_t hit_tokens = hit_count * config_.page_size;
  const uint64_t new_pages = page_count_for(hit_tokens + token_count) - hit_count;  // per group
  if (const Error error = make_room_with_hits(new_pages * groups_, slot, {});
      error != Error::none) {
    return fail(error);
  }
  Sequence& seq = slots_[slot];
  take_hits_and_pages(seq, new_pages);
  keep_windowed(seq, seq.pending_ids, seq.pending_words);
  erase_pending(seq, hit_tokens);
  seq.token_count = hit_tokens;
  token_count_ += hit_tokens;
  seq.reserved = token_count;
  seq.waiting = false;
  use(slot, now);
  return Outcome{Error::none, evicted_, hit_tokens, true};
}

Outcome Cache::commit(SeqId id, uint32_t token_count, std::span<const uint32_t> generated_words,
                      Tick now, std::span<const uint32_t> generated_ids) {
  evicted_.clear();
  if (config_.skip_reserved_slots) return fail(Error::invalid_argument);  // V-L9
  if (token_count > kMaxAppendTokens) return fail(Error::invalid_argument);
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  if (token_count > slots_[slot].reserved || slots_[slot].swapped)
    return fail(Error::invalid_argument);
  if (generated_words.size() != uint64_t{token_count} * groups_ * words_per_token_)
    return fail(Error::invalid_argument);  // caller's buffer does not match token_count
  if (!generated_ids.empty() && generated_ids.size() != token_count)
    return fail(Error::invalid_argument);
  if (!config_.decode_caching) generated_ids = {};  // generated tokens have no keyable id
  const uint64_t n = slots_[slot].token_count;
  const uint64_t shared = token_count > 0 ? copy_on_write_need(slots_[slot]) : 0;
  if (const Error error = make_room(shared, slot, {}); error != Error::none) return fail(error);

  Sequence& seq = slots_[slot];
  // As append: copy only if the page is still shared, and a registered page written loses its key.
  if (token_count > 0) copy_shared_pages(seq);
  // The pending tokens first, with their own words; then generated ones. Group by group.
  const uint64_t pending = std::min<uint64_t>(token_count, seq.pending_ids.size());
  const uint64_t pending_words = pending * words_per_token_;
  const uint64_t group_pending = seq.pending_ids.size() * words_per_token_;
  const uint64_t group_generated = uint64_t{token_count} * words_per_token_;
  commit_words_.clear();
  for (uint32_t g = 0; g < groups_; ++g) {
    const auto own_pending =
        seq.pending_words.begin() + static_cast<std::ptrdiff_t>(g * group_pending);
    const auto own_generated =
        generated_words.begin() + static_cast<std::ptrdiff_t>(g * group_generated);
    commit_words_.insert(commit_words_.end(), own_pending,
                         own_pending + static_cast<std::ptrdiff_t>(pending_words));
    commit_words_.insert(commit_words_.end(),
                         own_generated + static_cast<std::ptrdiff_t>(pending_words),
                         own_generated + static_cast<std::ptrdiff_t>(group_generated));
  }
  write_tokens(seq, token_count, commit_words_);
  if (!slot_token_ids_.empty()) {
    for (uint64_t i = 0; i < slot_mapping_.size(); ++i) {  // each group's slots in turn
      const uint64_t k = i % token_count;
      slot_token_ids_[slot_mapping_[i]] = k < pending             ? seq.pending_ids[k]
                                          : generated_ids.empty() ? kGeneratedToken
                                                                  : generated_ids[k];
    }
  }
  erase_pending(seq, pending);
  if (!config_.register_at_release) {
    register_committed(seq, divider_.page(n), divider_.page(seq.token_count));
  }
  seq.reserved = 0;
  if (config_.release_rejected_slots) release_tail(seq, page_count_for(seq.token_count));
  use(slot, now);
  return success();
}

// Blocks [first_block, end_block) of `seq` just became full: each is registered under its key
// (every id from token 0 through its end) when all those ids are known (prompt ids, or generated
// ones under decode_caching=on: no kGeneratedToken) and the key is free (or duplicate_keys=kept),
// unless its page holds a key already (a hit's, under register_at=release). The walk starts at the
// key of block first_block-1 when that page is registered (its key is this sequence's id prefix),
// else at the root, creating the nodes of earlier blocks that have none; it stops before the
// first block with an unknown id, so every node it creates gets a page or a child. Every group,
// group 0 first, each under its own root (V-G5).
// duplicate_keys=remapped (V-K5): a block whose key is registered already moves onto that page
// afterwards (apply_remaps), block-major.
void Cache::register_committed(Sequence& seq, uint64_t first_block, uint64_t end_block) {
  if (slot_token_ids_.empty()) return;
  for (uint32_t g = 0; g < groups_; ++g) register_group_committed(seq, g, first_block, end_block);
  if (!remaps_.empty()) apply_remaps(seq);
}

void Cache::register_group_committed(const Sequence& seq, uint32_t group, uint64_t first_block,
                                     uint64_t end_block) {
  const Table& table = seq.group(group);
  const uint64_t page_size = config_.page_size;
  const auto block_ids = [&](uint64_t block) {  // a null block's ids were kept (windowed_ids)
    if (block < table.null_entries)
      return std::span(seq.windowed_ids).subspan(block * page_size, page_size);
    return std::span<const uint32_t>(
        slot_token_ids_.data() + uint64_t{table.block_table[block]} * page_size, page_size);
  };
  // Null entries hold no page.
  first_block = std::max<uint64_t>(first_block, table.null_entries);
  detail::NodeId node = group;  // the group's root
  uint64_t start = 0;           // the first block the walk looks at
  if (first_block > table.null_entries && pages_.registered(table.block_table[first_block - 1])) {
    node = prefix_.node_of(table.block_table[first_block - 1]);
    start = first_block;
  }
  uint64_t prompt_blocks = start;  // leading blocks of known ids only
  while (prompt_blocks < end_block &&
         std::ranges::find(block_ids(prompt_blocks), kGeneratedToken) ==
             block_ids(prompt_blocks).end()) {
    ++prompt_blocks;
  }
  for (uint64_t block = start; block < prompt_blocks && first_block < prompt_blocks; ++block) {
    node = prefix_.find_or_add(node, block_ids(block));
    if (block < first_block) continue;
    const PageId page = table.block_table[block];
    if (pages_.registered(page)) continue;  // a hit page keeps its key (P9)
    if (prefix_.page_of(node) != detail::PrefixIndex::kNoPage && !config_.keep_duplicate_keys) {
      if (remaps_duplicates()) note_remap(group, block, prefix_.page_of(node));
      continue;  // a duplicate key
    }
    prefix_.assign(node, page);
    pages_.set_registered(page, true);
  }
}

Outcome Cache::preempt(SeqId id) {
  evicted_.clear();
  if (config_.skip_reserved_slots) return fail(Error::invalid_argument);  // V-L9
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  Sequence& seq = slots_[slot];
  if (seq.swapped) return fail(Error::invalid_argument);  // V-S4
  const uint64_t n = seq.token_count;
  if (config_.register_at_release) register_committed(seq, 0, divider_.page(n));  // V-L6
  // The computed tokens go back in front of the pending ones, each group's in its own block. The
  // tokens of null entries were kept aside (V-W6): they come first.
  const uint64_t old_pending_words = seq.pending_ids.size() * words_per_token_;
  std::vector<uint32_t> words;
  std::vector<uint32_t> ids;
  std::vector<uint32_t> pending_words;
  pending_words.reserve(seq.pending_words.size() + n * groups_ * words_per_token_);
  for (uint32_t g = 0; g < groups_; ++g) {
    Table& table = seq.group(g);
    words.clear();
    ids.clear();
    copy_out(seq, g, words, ids);
    if (g == 0) {  // ids once: those kept for the most null entries, then group 0's past them
      const uint64_t kept = seq.windowed_ids.size() - null_tokens(table);
      seq.windowed_ids.insert(seq.windowed_ids.end(),
                              ids.begin() + static_cast<std::ptrdiff_t>(kept), ids.end());
    }
    pending_words.insert(pending_words.end(), table.windowed_words.begin(),
                         table.windowed_words.end());
    pending_words.insert(pending_words.end(), words.begin(), words.end());
    const auto old = seq.pending_words.begin() + static_cast<std::ptrdiff_t>(g * old_pending_words);
    pending_words.insert(pending_words.end(), old,
                         old + static_cast<std::ptrdiff_t>(old_pending_words));
  }
  seq.pending_ids.insert(seq.pending_ids.begin(), seq.windowed_ids.begin(), seq.windowed_ids.end());
  seq.pending_words = std::move(pending_words);
  release_tail(seq, 0);
  token_count_ -= n;
  seq.token_count = 0;
  seq.reserved = 0;
  seq.waiting = true;
  for (uint32_t g = 0; g < groups_; ++g) {
    seq.group(g).null_entries = 0;
    seq.group(g).windowed_words.clear();
  }
  seq.windowed_ids.clear();
  return success();
}

// Drops the first token_count pending tokens: their ids, and their words in every group's block.
void Cache::erase_pending(Sequence& seq, uint64_t token_count) {
  const uint64_t group_words = seq.pending_ids.size() * words_per_token_;
  for (uint32_t g = groups_; g-- > 0;) {  // the last block first: earlier offsets stay put
    const auto first = seq.pending_words.begin() + static_cast<std::ptrdiff_t>(g * group_words);
    seq.pending_words.erase(first,
                            first + static_cast<std::ptrdiff_t>(token_count * words_per_token_));
  }
  seq.pending_ids.erase(seq.pending_ids.begin(),
                        seq.pending_ids.begin() + static_cast<std::ptrdiff_t>(token_count));
}

// Appends the words (one gather: a device-to-host copy on a device store) and ids (kGeneratedToken
// without prefix caching) of the computed tokens group g's pages hold (those after its null
// entries), for preempt and swap_out.
void Cache::copy_out(const Sequence& seq, uint32_t group, std::vector<uint32_t>& words,
                     std::vector<uint32_t>& ids) {
  const Table& table = seq.group(group);
  const uint64_t first = null_tokens(table);
  const uint64_t count = seq.token_count - first;
  const uint64_t old_words = words.size();
  words.resize(old_words + count * words_per_token_);
  store_.gather(std::span<const PageId>(table.block_table.data() + table.null_entries,
                                        table.block_table.size() - table.null_entries),
                count, std::span(words).subspan(old_words));
  const uint64_t old_ids = ids.size();
  ids.resize(old_ids + count, kGeneratedToken);
  for (uint64_t k = 0; k < count && !slot_token_ids_.empty(); ++k) {
    const uint64_t page = table.block_table[divider_.page(first + k)];
    ids[old_ids + k] = slot_token_ids_[page * config_.page_size + divider_.offset(first + k)];
  }
}

Outcome Cache::swap_out(SeqId id) {
  evicted_.clear();
  if (config_.skip_reserved_slots) return fail(Error::invalid_argument);  // V-L9
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  Sequence& seq = slots_[slot];
  if (seq.swapped || seq.in_flight()) return fail(Error::invalid_argument);
  const uint64_t cpu_pages = held_pages(seq);  // null entries stay null (V-W6, V-G4)
  if (cpu_pages > config_.cpu_pages - cpu_pages_used_) return fail(Error::capacity_exceeded);
  seq.swapped_words.clear();
  seq.swapped_ids.clear();
  for (uint32_t g = 0; g < groups_; ++g) copy_out(seq, g, seq.swapped_words, seq.swapped_ids);
  for (uint32_t g = 0; g < groups_; ++g) {  // group 0 first, each last entry first (V-G3)
    auto& block_table = seq.group(g).block_table;
    while (block_table.size() > seq.group(g).null_entries) {
      pages_.release(block_table.back());
      block_table.pop_back();
    }
  }
  seq.swapped = true;
  cpu_pages_used_ += cpu_pages;
  return success();
}

Outcome Cache::swap_in(SeqId id, Tick now) {
  evicted_.clear();
  if (config_.skip_reserved_slots) return fail(Error::invalid_argument);  // V-L9
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  if (!slots_[slot].swapped) return fail(Error::invalid_argument);
  const uint64_t need = held_pages(slots_[slot]);  // after the null entries it kept
  if (const Error error = make_room(need, slot, {}); error != Error::none) return fail(error);
  Sequence& seq = slots_[slot];
  const uint32_t entries = page_count_for(seq.token_count);
  slot_mapping_.clear();
  for (uint32_t g = 0; g < groups_; ++g) {
    Table& table = seq.group(g);
    while (table.block_table.size() < entries) table.block_table.push_back(take_page());
    const uint64_t at = slot_mapping_.size();
    slot_mapping_.resize(at + seq.token_count - null_tokens(table));
    map_slots(table, null_tokens(table), seq.token_count - null_tokens(table), at);
  }
  store_.write_tokens(slot_mapping_, seq.swapped_words);  // the host-to-device copy
  for (uint64_t i = 0; i < slot_mapping_.size() && !slot_token_ids_.empty(); ++i) {
    slot_token_ids_[slot_mapping_[i]] = seq.swapped_ids[i];
  }
  seq.swapped = false;
  seq.swapped_words.clear();
  seq.swapped_ids.clear();
  cpu_pages_used_ -= need;
  use(slot, now);
  return success();
}

void Cache::audit_lifecycle(std::vector<std::string>& problems) const {
  uint64_t cpu_pages = 0;
  for (const Sequence& seq : slots_) {
    if (!seq.live) continue;
    const std::string name = "sequence " + std::to_string(seq.id);
    cpu_pages += seq.swapped ? held_pages(seq) : 0;
    uint64_t held_words = 0;
    for (uint32_t g = 0; g < groups_; ++g)
      held_words += (seq.token_count - null_tokens(seq.group(g))) * words_per_token_;
    if (seq.swapped && seq.swapped_words.size() != held_words) {
      problems.push_back(name + " is swapped out and holds " +
                         std::to_string(seq.swapped_words.size()) + " words (expected " +
                         std::to_string(held_words) + ")");
    }
    for (uint32_t g = 0; g < groups_; ++g) audit_group_lifecycle(seq, g, problems);
    const uint64_t pending_words = seq.pending_ids.size() * groups_ * words_per_token_;
    if (seq.pending_words.size() != pending_words) {
      problems.push_back(name + ": " + std::to_string(seq.pending_words.size()) +
                         " pending words for " + std::to_string(seq.pending_ids.size()) +
                         " pending tokens, expected " + std::to_string(pending_words));
    }
  }
  if (cpu_pages != cpu_pages_used_ || cpu_pages > config_.cpu_pages) {
    problems.push_back("CPU pages in use expected " + std::to_string(cpu_pages) + ", actual " +
                       std::to_string(cpu_pages_used_) + " (cpu_pages " +
                       std::to_string(config_.cpu_pages) + ")");
  }
}

// One group's table against its sequence's lifecycle state: swapped out it holds only its null
// entries, else enough pages for the tokens and reserved slots; waiting, none.
void Cache::audit_group_lifecycle(const Sequence& seq, uint32_t group,
                                  std::vector<std::string>& problems) const {
  const Table& table = seq.group(group);
  const std::string name = "sequence " + std::to_string(seq.id) +
                           (groups_ > 1 ? " group " + std::to_string(group) : std::string());
  const uint64_t size = table.block_table.size();
  if (seq.swapped && size != table.null_entries) {
    problems.push_back(name + " is swapped out but holds " +
                       std::to_string(size - table.null_entries) + " pages (expected 0)");
  }
  if (!seq.swapped && size < page_count_for(seq.token_count + seq.reserved)) {
    problems.push_back(name + ": " + std::to_string(size) + " pages for " +
                       std::to_string(seq.token_count) + " tokens and " +
                       std::to_string(seq.reserved) + " reserved slots");
  }
  if (seq.waiting && (size > 0 || seq.token_count > 0 || seq.reserved > 0)) {
    problems.push_back(name + " waits but holds " + std::to_string(size) + " pages, " +
                       std::to_string(seq.token_count) + " tokens and " +
                       std::to_string(seq.reserved) + " reserved slots (expected none)");
  }
}

}  // namespace kvcache
