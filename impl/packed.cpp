// reserved_slots=skipped (docs/semantics.md 14.2): each block-table entry holds `fill` tokens
// packed from slot 0 (Sequence::fills), and an append writes only into the last entry and new pages
// after it. Prefix caching, windows and KV groups are off under it (config_problem), so one table.
#include <string>

#include "impl/check.hpp"
#include "impl/kvcache.hpp"

namespace kvcache {

namespace {
constexpr uint32_t kAbsent = detail::SeqIndex::kEmptySlot;
}

// V-R2, V-R3: need = ceil(max(0, N - room) / page_size) + cow, room = the last entry's free slots
// (none without an entry), cow when the last entry has tokens, room, and a shared page.
Outcome Cache::append_packed(uint32_t slot, SeqId id, uint32_t token_count,
                             std::span<const uint32_t> token_words, Tick now,
                             std::span<const SeqId> protected_ids) {
  const uint64_t page_size = config_.page_size;
  uint64_t fill = page_size;  // no last entry: no room
  bool shared = false;
  if (slot != kAbsent && !slots_[slot].block_table.empty()) {
    fill = slots_[slot].fills.back();
    shared = pages_.refcount(slots_[slot].block_table.back()) > 1;
  }
  const uint64_t room = page_size - fill;
  const bool cow = fill > 0 && room > 0 && shared;
  const uint64_t beyond = token_count > room ? token_count - room : 0;
  if (const Error error = make_room(page_count_for(beyond) + (cow ? 1 : 0), slot, protected_ids);
      error != Error::none) {
    return fail(error);
  }
  if (slot == kAbsent) slot = create_sequence(id, now);
  Sequence& seq = slots_[slot];
  // Copy-on-write of the last entry, if its page is still shared (eviction may have ended that).
  if (cow && pages_.refcount(seq.block_table.back()) > 1) {
    const PageId old_page = seq.block_table.back();
    const PageId new_page = take_page();
    store_.copy_page(old_page, new_page, static_cast<uint32_t>(fill));
    seq.block_table.back() = new_page;
    pages_.release(old_page);
  }
  slot_mapping_.resize(token_count);
  for (uint32_t i = 0; i < token_count; ++i) {
    if (seq.block_table.empty() || seq.fills.back() == page_size) {
      seq.block_table.push_back(take_page());
      seq.fills.push_back(0);
    }
    slot_mapping_[i] = uint64_t{seq.block_table.back()} * page_size + seq.fills.back()++;
  }
  store_.write_tokens(slot_mapping_, token_words);
  seq.token_count += token_count;
  token_count_ += token_count;
  use(slot, now);
  return success();
}

// V-R4: DST shares SRC's entries that hold at least one token, in order, with their fills.
void Cache::fork_packed(const Sequence& from, Sequence& to) {
  for (uint64_t entry = 0; entry < from.block_table.size(); ++entry) {
    if (from.fills[entry] == 0) continue;
    to.block_table.push_back(from.block_table[entry]);
    to.fills.push_back(from.fills[entry]);
    pages_.share(from.block_table[entry]);
  }
}

// V-R4: truncate to token_count keeps the entries through the one holding token N-1 (none for 0),
// that one's fill cut to the tokens it keeps. Returns how many; the caller releases the rest.
uint32_t Cache::packed_entries_kept(Sequence& seq, uint64_t token_count) {
  uint32_t kept = 0;
  uint64_t before = 0;  // tokens in the entries before `kept`
  while (before < token_count) {
    const uint64_t fill = seq.fills[kept++];
    if (before + fill >= token_count)
      seq.fills[kept - 1] = static_cast<uint32_t>(token_count - before);
    before += fill;
  }
  seq.fills.resize(kept);
  return kept;
}

// The sequence's n tokens in order: one gather per run of entries whose every entry but the last
// is full (the whole table in one call when no slot was skipped).
void Cache::gather_packed(const Sequence& seq, std::span<uint32_t> out_words) {
  const uint64_t entries = seq.block_table.size();
  uint64_t at = 0;
  for (uint64_t entry = 0; entry < entries;) {
    if (seq.fills[entry] == 0) {
      ++entry;
      continue;
    }
    const uint64_t first = entry;
    uint64_t tokens = 0;
    bool full = true;
    while (full && entry < entries && seq.fills[entry] > 0) {
      tokens += seq.fills[entry];
      full = seq.fills[entry++] == config_.page_size;
    }
    store_.gather(std::span<const PageId>(seq.block_table.data() + first, entry - first), tokens,
                  out_words.subspan(at * words_per_token_, tokens * words_per_token_));
    at += tokens;
  }
}

// V-R1: one fill per entry, each at most page_size, summing to n; none without the variant.
void Cache::audit_packed(std::vector<std::string>& problems) const {
  for (const Sequence& seq : slots_) {
    if (!seq.live) continue;
    const std::string name = "sequence " + std::to_string(seq.id);
    const uint64_t expected = config_.skip_reserved_slots ? seq.block_table.size() : 0;
    if (seq.fills.size() != expected) {
      problems.push_back(name + ": entry fills expected " + std::to_string(expected) + ", actual " +
                         std::to_string(seq.fills.size()));
      continue;
    }
    uint64_t tokens = 0;
    for (const uint32_t fill : seq.fills) {
      tokens += fill;
      if (fill > config_.page_size)
        problems.push_back(name + ": an entry's fill expected <= page_size, actual " +
                           std::to_string(fill));
    }
    if (config_.skip_reserved_slots && tokens != seq.token_count)
      problems.push_back(name + ": entry fills sum expected " + std::to_string(seq.token_count) +
                         " (n), actual " + std::to_string(tokens));
  }
}

}  // namespace kvcache
