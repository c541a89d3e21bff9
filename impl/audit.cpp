// Cache::audit: walks every internal structure and reports each broken invariant, expected vs
// actual.
#include <algorithm>
#include <string>

#include "impl/kvcache.hpp"

namespace kvcache {

namespace {
std::string str(uint64_t value) {
  return std::to_string(value);
}
}  // namespace

std::vector<std::string> Cache::audit() const {
  std::vector<std::string> problems;
  audit_pages(problems);
  audit_sequences(problems);
  audit_lru(problems);
  audit_prefix(problems);
  audit_lifecycle(problems);
  audit_window(problems);
  audit_packed(problems);
  return problems;
}

// The group of the tables each page is in (kNone: in none), for the per-group checks.
std::vector<uint32_t> Cache::page_groups() const {
  std::vector<uint32_t> groups(config_.max_pages, kNone);
  for (const Sequence& seq : slots_) {
    if (!seq.live) continue;
    for (uint32_t g = 0; g < groups_; ++g) {
      for (const PageId page : seq.group(g).block_table)
        if (page < config_.max_pages) groups[page] = g;
    }
  }
  return groups;
}

// The block-table references of each page, every group's; a page id out of range, twice in one
// sequence or in two groups' tables is a problem.
std::vector<uint32_t> Cache::table_references(std::vector<std::string>& problems) const {
  const uint32_t max_pages = config_.max_pages;
  std::vector<uint32_t> references(max_pages, 0);
  std::vector<uint32_t> seen_in_slot(max_pages, kNone);   // catches a page twice in one sequence
  std::vector<uint32_t> seen_in_group(max_pages, kNone);  // catches a page in two groups (V-G1)
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Sequence& seq = slots_[slot];
    if (!seq.live) continue;
    for (uint32_t g = 0; g < groups_; ++g) {
      const auto& block_table = seq.group(g).block_table;
      for (uint64_t entry = 0; entry < block_table.size(); ++entry) {
        const PageId page = block_table[entry];
        if (page == kNullPage) continue;  // no page, no reference (audit_window checks where)
        const auto where = [&] {
          return "sequence " + str(seq.id) + (groups_ > 1 ? " group " + str(g) : "") + " entry " +
                 str(entry);
        };  // built only for a problem
        if (page >= max_pages) {
          problems.push_back(where() + ": page id expected < " + str(max_pages) + ", actual " +
                             str(page));
          continue;
        }
        if (seen_in_slot[page] == slot)
          problems.push_back(where() + ": page " + str(page) +
                             " expected once per block table, found again");
        if (seen_in_group[page] != kNone && seen_in_group[page] != g)
          problems.push_back(where() + ": page " + str(page) + " expected only in group " +
                             str(seen_in_group[page]) + "'s tables, actual in group " + str(g) +
                             "'s too");
        seen_in_slot[page] = slot;
        seen_in_group[page] = g;
        ++references[page];
      }
    }
  }
  return references;
}

// Refcounts against block-table references, the free list against refcounts, the page totals.
void Cache::audit_pages(std::vector<std::string>& problems) const {
  const uint32_t max_pages = config_.max_pages;
  const std::vector<uint32_t> references = table_references(problems);
  std::vector<uint8_t> on_free_stack(max_pages, 0);
  const std::vector<PageId> free_stack = pages_.free_list();
  for (const PageId page : free_stack) {
    if (page >= max_pages) {
      problems.push_back("free list: page id expected < " + str(max_pages) + ", actual " +
                         str(page));
      continue;
    }
    if (on_free_stack[page]++ != 0)
      problems.push_back("free list: page " + str(page) + " expected once, found again");
  }
  uint64_t used = 0;
  for (PageId page = 0; page < max_pages; ++page) {
    const auto name = [&] { return "page " + str(page); };  // built only for a problem
    const uint32_t refcount = pages_.refcount(page);
    if (refcount != references[page])
      problems.push_back(name() + ": refcount expected " + str(references[page]) +
                         " (block-table references), actual " + str(refcount));
    if (refcount > 0) ++used;
    if (refcount > 0 && on_free_stack[page])
      problems.push_back(name() +
                         ": on the free list expected only at refcount 0, actual refcount " +
                         str(refcount));
    // free_queue=single: every free page is in the queue (audit_prefix), the free list empty.
    if (refcount == 0 && !on_free_stack[page] && !pages_.registered(page) && !pages_.single_queue())
      problems.push_back(name() + ": refcount 0, expected on the free list, actual missing");
    if (on_free_stack[page] && pages_.registered(page))
      problems.push_back(name() +
                         ": registered, expected in the cached queue, actual on the free list");
    if (pending_drop_[page] != 0)
      problems.push_back(name() + ": eviction scratch expected 0 between ops, actual " +
                         str(pending_drop_[page]));
  }
  if (pages_.single_queue() && !free_stack.empty())
    problems.push_back(
        "free list: expected empty under free_queue=single (every free page in the "
        "queue), actual " +
        str(free_stack.size()) + " pages");
  if (used + free_stack.size() + pages_.queue_size() != max_pages)
    problems.push_back("used + free expected " + str(max_pages) + ", actual " + str(used) + " + " +
                       str(free_stack.size()) + " + queued " + str(pages_.queue_size()));
}

// The id index, per-sequence token/page bounds, the running totals and the slot free list.
void Cache::audit_sequences(std::vector<std::string>& problems) const {
  uint64_t live_count = 0;
  uint64_t token_sum = 0;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Sequence& seq = slots_[slot];
    if (!seq.live) continue;
    ++live_count;
    token_sum += seq.token_count;
    const auto name = [&] { return "sequence " + str(seq.id); };  // built only for a problem
    if (index_.find(seq.id) != slot)
      problems.push_back(name() + ": index expected slot " + str(slot) + ", actual " +
                         str(index_.find(seq.id)));
    const uint64_t min_pages = seq.swapped ? 0 : page_count_for(seq.token_count);  // V-S4
    if (seq.block_table.size() < min_pages)
      problems.push_back(name() + ": pages expected >= ceil(n/page_size) = " + str(min_pages) +
                         ", actual " + str(seq.block_table.size()));
    if (seq.other_groups.size() != groups_ - 1)
      problems.push_back(name() + ": block tables expected " + str(groups_) + ", actual " +
                         str(seq.other_groups.size() + 1));
    for (uint32_t g = 1; g < groups_ && g <= seq.other_groups.size() && !seq.swapped; ++g) {
      if (seq.group(g).block_table.size() != seq.block_table.size())  // V-G1: one length
        problems.push_back(name() + " group " + str(g) + ": entries expected " +
                           str(seq.block_table.size()) + " (group 0's), actual " +
                           str(seq.group(g).block_table.size()));
    }
  }
  if (live_count != sequence_count_)
    problems.push_back("sequence count expected " + str(live_count) + " (live slots), actual " +
                       str(sequence_count_));
  if (index_.size() != live_count)
    problems.push_back("index size expected " + str(live_count) + ", actual " + str(index_.size()));
  if (token_sum != token_count_)
    problems.push_back("token count expected " + str(token_sum) + " (sum of n), actual " +
                       str(token_count_));
  std::vector<uint8_t> listed(slots_.size(), 0);
  for (const uint32_t slot : free_slots_) {
    if (slot >= slots_.size() || slots_[slot].live || listed[slot]++ != 0)
      problems.push_back("slot free list: slot " + str(slot) +
                         " expected dead, in range and listed once");
  }
  if (free_slots_.size() + live_count != slots_.size())
    problems.push_back("slots expected " + str(slots_.size()) + " = live + free, actual " +
                       str(live_count) + " + " + str(free_slots_.size()));
}

// Sliding window (V-W2), per group: each table's null entries, recounted, are a prefix of it, at
// most skip_g(n) long, as many as the table records; their tokens' words and ids are kept.
void Cache::audit_window(std::vector<std::string>& problems) const {
  for (const Sequence& seq : slots_) {
    if (!seq.live || seq.other_groups.size() != groups_ - 1) continue;  // audit_sequences says so
    uint64_t most_nulls = 0;
    for (uint32_t g = 0; g < groups_; ++g) {
      const Table& table = seq.group(g);
      const auto name = [&] {
        return "sequence " + str(seq.id) + (groups_ > 1 ? " group " + str(g) : "");
      };  // built only for a problem
      uint64_t nulls = 0;
      while (nulls < table.block_table.size() && table.block_table[nulls] == kNullPage) ++nulls;
      for (uint64_t entry = nulls; entry < table.block_table.size(); ++entry) {
        if (table.block_table[entry] == kNullPage)
          problems.push_back(name() + " entry " + str(entry) +
                             ": null entry expected only before the first page, actual after one");
      }
      if (nulls != table.null_entries)
        problems.push_back(name() + ": null entries expected " + str(nulls) +
                           " (leading null entries of its table), actual recorded " +
                           str(table.null_entries));
      if (nulls > out_of_window(seq.token_count, g))
        problems.push_back(name() + ": null entries expected at most skip(n) = " +
                           str(out_of_window(seq.token_count, g)) + ", actual " + str(nulls));
      const uint64_t null_tokens = nulls * config_.page_size;
      if (table.windowed_words.size() != null_tokens * words_per_token_)
        problems.push_back(name() + ": words kept for its null entries expected " +
                           str(null_tokens * words_per_token_) + " (" + str(null_tokens) +
                           " tokens), actual " + str(table.windowed_words.size()));
      most_nulls = std::max(most_nulls, null_tokens);
    }
    if (seq.windowed_ids.size() != most_nulls)
      problems.push_back(
          "sequence " + str(seq.id) + ": ids kept for null entries expected " + str(most_nulls) +
          " (the most null entries' tokens of any group), actual " + str(seq.windowed_ids.size()));
  }
}

// The LRU list: exactly the live unpinned sequences, strictly ascending by (last_use, id).
void Cache::audit_lru(std::vector<std::string>& problems) const {
  uint64_t unpinned = 0;
  for (const Sequence& seq : slots_) unpinned += seq.live && !seq.pinned ? 1 : 0;
  uint64_t listed = 0;
  uint32_t prev = kNone;
  for (uint32_t slot = lru_head_; slot != kNone; slot = slots_[slot].lru_next) {
    if (slot >= slots_.size() || listed > slots_.size()) {
      problems.push_back("LRU list: expected a terminated chain of valid slots, actual runs off");
      return;
    }
    const Sequence& seq = slots_[slot];
    const auto name = [&] {
      return "LRU list: sequence " + str(seq.id);
    };  // built only for a problem
    if (!seq.live) problems.push_back(name() + ": expected live, actual dead slot " + str(slot));
    if (seq.pinned) problems.push_back(name() + ": expected unpinned, actual pinned");
    if (seq.lru_prev != prev)
      problems.push_back(name() + ": prev link expected " + str(prev) + ", actual " +
                         str(seq.lru_prev));
    if (prev != kNone && !lru_less(prev, slot))
      problems.push_back(name() + ": expected after sequence " + str(slots_[prev].id) +
                         " in (last_use, id) order, actual before or equal");
    prev = slot;
    ++listed;
  }
  if (lru_tail_ != prev)
    problems.push_back("LRU list: tail expected slot " + str(prev) + ", actual " + str(lru_tail_));
  if (listed != unpinned)
    problems.push_back("LRU list: length expected " + str(unpinned) +
                       " (live unpinned sequences), actual " + str(listed));
}

}  // namespace kvcache
