// Cache's request lifecycle (kvtrace 3, docs/semantics.md section 15): admit, reserve, commit,
// preempt. A sequence keeps its pending tokens' ids and words, so a recompute writes back exactly
// what a preempt took away.
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
  if (token_count == 0 || token_count > kMaxAppendTokens) return fail(Error::invalid_argument);
  uint32_t slot = index_.find(id);
  if (slot != kAbsent && slots_[slot].swapped) return fail(Error::invalid_argument);  // V-S4
  if (slot != kAbsent && slots_[slot].waiting) return reserve_waiting(slot, token_count, now);
  const uint64_t tokens = slot == kAbsent ? 0 : slots_[slot].token_count + slots_[slot].reserved;
  const uint64_t pages = slot == kAbsent ? 0 : slots_[slot].block_table.size();
  const uint64_t wanted = page_count_for(tokens + token_count);
  const uint64_t need = wanted > pages ? wanted - pages : 0;
  if (slot != kAbsent) release_out_of_window(slots_[slot]);  // V-W4; the need stays the same
  if (const Error error = make_room(need, slot, {}); error != Error::none) return fail(error);
  if (slot == kAbsent) slot = create_sequence(id, now);
  Sequence& seq = slots_[slot];
  while (seq.block_table.size() < wanted) seq.block_table.push_back(take_page());
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
  const uint64_t hit_count = hit_pages_.size();
  const uint64_t hit_tokens = hit_count * config_.page_size;
  const uint64_t new_pages = page_count_for(hit_tokens + token_count) - hit_count;
  if (const Error error = make_room_with_hits(new_pages, slot, {}); error != Error::none) {
    return fail(error);
  }
  Sequence& seq = slots_[slot];
  take_hits_and_pages(seq, new_pages);
  keep_windowed(seq, std::span(seq.pending_ids).first(null_tokens(seq)),
                std::span(seq.pending_words).first(null_tokens(seq) * words_per_token_));
  seq.pending_ids.erase(seq.pending_ids.begin(),
                        seq.pending_ids.begin() + static_cast<std::ptrdiff_t>(hit_tokens));
  seq.pending_words.erase(
      seq.pending_words.begin(),
      seq.pending_words.begin() + static_cast<std::ptrdiff_t>(hit_tokens * words_per_token_));
  seq.token_count = hit_tokens;
  token_count_ += hit_tokens;
  seq.reserved = token_count;
  seq.waiting = false;
  use(slot, now);
  return Outcome{Error::none, evicted_, hit_tokens, true};
}

Outcome Cache::commit(SeqId id, uint32_t token_count, std::span<const uint32_t> generated_words,
                      Tick now) {
  evicted_.clear();
  if (token_count > kMaxAppendTokens) return fail(Error::invalid_argument);
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  if (token_count > slots_[slot].reserved || slots_[slot].swapped)
    return fail(Error::invalid_argument);
  if (generated_words.size() != uint64_t{token_count} * words_per_token_)
    return fail(Error::invalid_argument);  // caller's buffer does not match token_count
  const uint64_t n = slots_[slot].token_count;
  const uint64_t write_entry = divider_.page(n);
  const bool shared = token_count > 0 && write_entry < slots_[slot].block_table.size() &&
                      pages_.refcount(slots_[slot].block_table[write_entry]) > 1;
  if (const Error error = make_room(shared ? 1 : 0, slot, {}); error != Error::none)
    return fail(error);

  Sequence& seq = slots_[slot];
  // As append: copy only if the page is still shared, and a registered page written loses its key.
  if (token_count > 0 && write_entry < seq.block_table.size()) {
    if (pages_.refcount(seq.block_table[write_entry]) > 1) copy_page_of(seq, write_entry);
    if (!slot_token_ids_.empty()) unregister_page(seq.block_table[write_entry]);
  }
  // The pending tokens first, with their own words; then generated ones.
  const uint64_t pending = std::min<uint64_t>(token_count, seq.pending_ids.size());
  const uint64_t pending_words = pending * words_per_token_;
  commit_words_.assign(seq.pending_words.begin(),
                       seq.pending_words.begin() + static_cast<std::ptrdiff_t>(pending_words));
  commit_words_.insert(commit_words_.end(), generated_words.begin() + pending_words,
                       generated_words.end());
  write_tokens(seq, token_count, commit_words_);
  if (!slot_token_ids_.empty()) {
    for (uint64_t i = 0; i < slot_mapping_.size(); ++i) {
      slot_token_ids_[slot_mapping_[i]] = i < pending ? seq.pending_ids[i] : kGeneratedToken;
    }
  }
  seq.pending_ids.erase(seq.pending_ids.begin(),
                        seq.pending_ids.begin() + static_cast<std::ptrdiff_t>(pending));
  seq.pending_words.erase(seq.pending_words.begin(),
                          seq.pending_words.begin() + static_cast<std::ptrdiff_t>(pending_words));
  if (!config_.register_at_release) {
    register_committed(seq, divider_.page(n), divider_.page(seq.token_count));
  }
  seq.reserved = 0;
  if (config_.release_rejected_slots) release_tail(seq, page_count_for(seq.token_count));
  use(slot, now);
  return success();
}

// Blocks [first_block, end_block) of `seq` just became full: each is registered under its key
// (every id from token 0 through its end) when all those ids are prompt ids and the key is free.
// The walk from the root creates the nodes of earlier blocks that have none; it stops before the
// first block with a generated token, so every node it creates gets a page or a child.
void Cache::register_committed(const Sequence& seq, uint64_t first_block, uint64_t end_block) {
  if (slot_token_ids_.empty()) return;
  const uint64_t page_size = config_.page_size;
  const auto block_ids = [&](uint64_t block) {  // a null block's ids were kept (windowed_ids)
    if (block < seq.null_entries)
      return std::span(seq.windowed_ids).subspan(block * page_size, page_size);
    return std::span<const uint32_t>(
        slot_token_ids_.data() + uint64_t{seq.block_table[block]} * page_size, page_size);
  };
  first_block = std::max<uint64_t>(first_block, seq.null_entries);  // null entries hold no page
  uint64_t prompt_blocks = 0;  // leading blocks of prompt ids only
  while (prompt_blocks < end_block &&
         std::ranges::find(block_ids(prompt_blocks), kGeneratedToken) ==
             block_ids(prompt_blocks).end()) {
    ++prompt_blocks;
  }
  detail::NodeId node = detail::PrefixIndex::kRoot;
  for (uint64_t block = 0; block < prompt_blocks && first_block < prompt_blocks; ++block) {
    node = prefix_.find_or_add(node, block_ids(block));
    if (block < first_block || prefix_.page_of(node) != detail::PrefixIndex::kNoPage) continue;
    prefix_.assign(node, seq.block_table[block]);
    pages_.set_registered(seq.block_table[block], true);
  }
}

Outcome Cache::preempt(SeqId id) {
  evicted_.clear();
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  Sequence& seq = slots_[slot];
  if (seq.swapped) return fail(Error::invalid_argument);  // V-S4
  const uint64_t n = seq.token_count;
  if (config_.register_at_release) register_committed(seq, 0, divider_.page(n));  // V-L6
  // The computed tokens go back in front of the pending ones.
  std::vector<uint32_t> words;
  std::vector<uint32_t> ids;
  copy_out(seq, words, ids);
  // The tokens of null entries were kept aside (V-W6): they come first.
  words.insert(words.begin(), seq.windowed_words.begin(), seq.windowed_words.end());
  ids.insert(ids.begin(), seq.windowed_ids.begin(), seq.windowed_ids.end());
  seq.pending_words.insert(seq.pending_words.begin(), words.begin(), words.end());
  seq.pending_ids.insert(seq.pending_ids.begin(), ids.begin(), ids.end());
  release_tail(seq, 0);
  token_count_ -= n;
  seq.token_count = 0;
  seq.reserved = 0;
  seq.waiting = true;
  seq.null_entries = 0;
  seq.windowed_words.clear();
  seq.windowed_ids.clear();
  return success();
}

// The words (one gather: a device-to-host copy on a device store) and ids (kGeneratedToken
// without prefix caching) of the computed tokens `seq`'s pages hold (those after its null
// entries), for preempt and swap_out.
void Cache::copy_out(const Sequence& seq, std::vector<uint32_t>& words,
                     std::vector<uint32_t>& ids) {
  const uint64_t first = null_tokens(seq);
  const uint64_t count = seq.token_count - first;
  words.resize(count * words_per_token_);
  store_.gather(std::span<const PageId>(seq.block_table.data() + seq.null_entries,
                                        seq.block_table.size() - seq.null_entries),
                count, words);
  ids.assign(count, kGeneratedToken);
  for (uint64_t k = 0; k < count && !slot_token_ids_.empty(); ++k) {
    const uint64_t page = seq.block_table[divider_.page(first + k)];
    ids[k] = slot_token_ids_[page * config_.page_size + divider_.offset(first + k)];
  }
}

Outcome Cache::swap_out(SeqId id) {
  evicted_.clear();
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  Sequence& seq = slots_[slot];
  if (seq.swapped || seq.in_flight()) return fail(Error::invalid_argument);
  const uint64_t cpu_pages = held_pages(seq);  // null entries stay null (V-W6)
  if (cpu_pages > config_.cpu_pages - cpu_pages_used_) return fail(Error::capacity_exceeded);
  copy_out(seq, seq.swapped_words, seq.swapped_ids);
  release_tail(seq, seq.null_entries);
  seq.swapped = true;
  cpu_pages_used_ += cpu_pages;
  return success();
}

Outcome Cache::swap_in(SeqId id, Tick now) {
  evicted_.clear();
  const uint32_t slot = index_.find(id);
  if (slot == kAbsent) return fail(Error::unknown_sequence);
  if (!slots_[slot].swapped) return fail(Error::invalid_argument);
  const uint64_t need = held_pages(slots_[slot]);  // after the null entries it kept
  if (const Error error = make_room(need, slot, {}); error != Error::none) return fail(error);
  Sequence& seq = slots_[slot];
  for (uint64_t i = 0; i < need; ++i) seq.block_table.push_back(take_page());
  const uint64_t count = seq.token_count - null_tokens(seq);
  seq.token_count -= count;  // write_tokens counts them back in
  token_count_ -= count;
  write_tokens(seq, static_cast<uint32_t>(count), seq.swapped_words);  // the host-to-device copy
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
    const uint64_t held_words = (seq.token_count - null_tokens(seq)) * words_per_token_;
    if (seq.swapped &&
        (seq.block_table.size() != seq.null_entries || seq.swapped_words.size() != held_words)) {
      problems.push_back(name + " is swapped out but holds " +
                         std::to_string(seq.block_table.size() - seq.null_entries) + " pages and " +
                         std::to_string(seq.swapped_words.size()) + " words (expected 0 and " +
                         std::to_string(held_words) + ")");
    }
    if (!seq.swapped && seq.block_table.size() < page_count_for(seq.token_count + seq.reserved)) {
      problems.push_back(name + ": " + std::to_string(seq.block_table.size()) + " pages for " +
                         std::to_string(seq.token_count) + " tokens and " +
                         std::to_string(seq.reserved) + " reserved slots");
    }
    if (seq.waiting && (!seq.block_table.empty() || seq.token_count > 0 || seq.reserved > 0)) {
      problems.push_back(name + " waits but holds " + std::to_string(seq.block_table.size()) +
                         " pages, " + std::to_string(seq.token_count) + " tokens and " +
                         std::to_string(seq.reserved) + " reserved slots (expected none)");
    }
    if (seq.pending_words.size() != seq.pending_ids.size() * words_per_token_) {
      problems.push_back(name + ": " + std::to_string(seq.pending_words.size()) +
                         " pending words for " + std::to_string(seq.pending_ids.size()) +
                         " pending tokens, expected " +
                         std::to_string(seq.pending_ids.size() * words_per_token_));
    }
  }
  if (cpu_pages != cpu_pages_used_ || cpu_pages > config_.cpu_pages) {
    problems.push_back("CPU pages in use expected " + std::to_string(cpu_pages) + ", actual " +
                       std::to_string(cpu_pages_used_) + " (cpu_pages " +
                       std::to_string(config_.cpu_pages) + ")");
  }
}

}  // namespace kvcache
