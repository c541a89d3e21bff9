// The reference model's request lifecycle (docs/semantics.md section 15, kvtrace 3): admit,
// reserve, commit, preempt, swap_out and swap_in, each following its rule in the rule's words.
#include <algorithm>

#include "model/model.hpp"
#include "trace/token.hpp"

namespace kv {

// "admit S P1:N1 ...": S waits with its prompt; no pages, nothing computed, never evicts (V-L1).
Result Model::admit(SeqId seq, const std::vector<StepEntry>& segments, Tick tick) {
  const std::optional<std::vector<TokenId>> ids = prompt_token_ids(segments);
  if (!ids || config_.reserved_slots) return result_of(Status::invalid_argument);
  if (sequences_.count(seq)) return result_of(Status::sequence_exists);
  Sequence& sequence = sequences_[seq];
  sequence.pending_ids = *ids;
  sequence.waiting = true;
  sequence.last_use = tick;
  return result_of(Status::ok);
}

// "reserve S N": slots for S's next N tokens. need = max(0, ceil((n + reserved + N) / page_size) -
// pages(S)), made room for as in section 6 with S protected; an absent S is created (V-L2).
Result Model::reserve(SeqId seq, uint32_t token_count, Tick tick) {
  if (token_count == 0 || token_count > append_token_count_max || config_.reserved_slots) {
    return result_of(Status::invalid_argument);
  }
  const auto found = sequences_.find(seq);
  if (found != sequences_.end() && found->second.swapped)
    return result_of(Status::invalid_argument);
  if (found != sequences_.end() && found->second.waiting) {
    return reserve_waiting(seq, token_count, tick);
  }
  if (found != sequences_.end()) release_out_of_window(found->second);  // V-W4
  const uint64_t n = found == sequences_.end() ? 0 : found->second.token_count;
  const uint64_t reserved = found == sequences_.end() ? 0 : found->second.reserved;
  const uint64_t entries = found == sequences_.end() ? 0 : entry_count(found->second);
  const uint64_t wanted = pages_for_tokens(n + reserved + token_count);
  const uint64_t new_entries = wanted > entries ? wanted - entries : 0;
  const auto victims = choose_victims(new_entries * groups(), {seq});  // every group (V-G1)
  if (!victims) return result_of(Status::capacity_exceeded);
  remove_victims(*victims);
  Sequence& sequence = sequences_[seq];  // creates S if absent
  take_new_pages(sequence, new_entries);
  sequence.reserved += token_count;
  sequence.last_use = tick;
  return result_of(Status::ok, *victims);
}

// A waiting S's reserve (V-L3): the lookup of its known ids as prefill's hit (at most
// floor((len-1)/page_size) blocks), the hits computed, then pages for N slots after them; it fits
// as a prefill does, S protected. Result `ok hit=T`.
Result Model::reserve_waiting(SeqId seq, uint32_t token_count, Tick tick) {
  Sequence& waiting = sequences_.at(seq);
  const Tables hits = prefix_hits(waiting.pending_ids);
  const uint64_t hit_tokens = hits[0].size() * config_.page_size;
  const uint64_t new_count = pages_for_tokens(hit_tokens + token_count) - hits[0].size();
  const auto victims = choose_prefill_victims(hits, new_count * groups(), seq);
  if (!victims) return result_of(Status::capacity_exceeded);
  remove_victims(*victims);
  Sequence& sequence = sequences_.at(seq);
  take_hits(sequence, hits);
  take_new_pages(sequence, new_count);
  const auto computed = sequence.pending_ids.begin() + static_cast<int64_t>(hit_tokens);
  sequence.token_ids.assign(sequence.pending_ids.begin(), computed);
  sequence.pending_ids.erase(sequence.pending_ids.begin(), computed);
  sequence.token_count = hit_tokens;
  token_count_ += hit_tokens;
  sequence.reserved = token_count;
  sequence.waiting = false;
  sequence.last_use = tick;
  Result result = result_of(Status::ok, *victims);
  result.hit_tokens = hit_tokens;
  return result;
}

// "commit S N": the first N reserved slots are computed (V-L4): copy-on-write of entry
// n/page_size if shared (need = that page), each token written with its known id's value or a new
// generated one, the blocks that became full registered (P9), n += N; then the reservation ends
// and under rejected_slots=released the entries beyond ceil(n/page_size) are released (V-L5).
Result Model::commit(SeqId seq, uint32_t token_count, Tick tick) {
  if (token_count > append_token_count_max || config_.reserved_slots) {
    return result_of(Status::invalid_argument);
  }
  const auto found = sequences_.find(seq);
  if (found == sequences_.end()) return result_of(Status::unknown_sequence);
  if (token_count > found->second.reserved || found->second.swapped) {
    return result_of(Status::invalid_argument);
  }
  const uint64_t n = found->second.token_count;
  const uint64_t write_entry = n / config_.page_size;
  uint64_t copies = 0;  // one per group whose write entry is shared (V-G1)
  for (uint32_t g = 0; g < groups() && token_count > 0; g++) {
    copies += shared_entry(found->second, g, write_entry) ? 1 : 0;
  }
  const auto victims = choose_victims(copies, {seq});
  if (!victims) return result_of(Status::capacity_exceeded);
  remove_victims(*victims);

  Sequence& sequence = sequences_.at(seq);
  for (uint32_t g = 0; g < groups() && token_count > 0; g++)
    copy_on_write(sequence, g, write_entry);
  for (uint32_t offset = 0; offset < token_count; offset++) {
    if (sequence.pending_ids.empty()) {
      sequence.token_ids.push_back(generated_token_id(token_value(tick, 0, offset)));
    } else {
      sequence.token_ids.push_back(sequence.pending_ids.front());
      sequence.pending_ids.erase(sequence.pending_ids.begin());
    }
  }
  // A generated id carries its value; a prompt id's is the chain over the ids up to it, computed
  // only when the commit writes one (a decode step's commit then costs O(N), not O(n)).
  const auto& ids = sequence.token_ids;
  const bool writes_prompt = std::any_of(ids.begin() + static_cast<int64_t>(n), ids.end(),
                                         [](TokenId id) { return is_prompt_token(id); });
  const std::vector<uint64_t> values =
      writes_prompt ? token_values_of_ids(ids) : std::vector<uint64_t>{};
  for (uint64_t token = n; token < n + token_count; token++) {
    write_token(sequence, token,
                writes_prompt ? values[token] : ids[token] & ~generated_token_flag);
  }
  register_full_blocks(sequence, n / config_.page_size, (n + token_count) / config_.page_size);
  sequence.token_count = n + token_count;
  token_count_ += token_count;
  sequence.reserved = 0;
  if (config_.rejected_slots)
    release_entries_beyond(sequence, pages_for_tokens(sequence.token_count));
  sequence.last_use = tick;
  return result_of(Status::ok, *victims);
}

// "preempt S": S's pages are released as by `free` (registered ones keep their keys and join the
// queue, last block first; register_at=release registers first), its computed and pending ids
// become its pending ids, n and the reservation drop to 0, and S waits (V-L6). Does not use S.
Result Model::preempt(SeqId seq) {
  if (config_.reserved_slots) return result_of(Status::invalid_argument);
  const auto found = sequences_.find(seq);
  if (found == sequences_.end()) return result_of(Status::unknown_sequence);
  Sequence& sequence = found->second;
  if (sequence.swapped) return result_of(Status::invalid_argument);  // V-S4
  if (config_.register_at) register_blocks(sequence, 0, sequence.token_count / config_.page_size);
  release_all(sequence);
  sequence.pending_ids.insert(sequence.pending_ids.begin(), sequence.token_ids.begin(),
                              sequence.token_ids.end());
  sequence.token_ids.clear();
  token_count_ -= sequence.token_count;
  sequence.token_count = 0;
  sequence.reserved = 0;
  sequence.waiting = true;
  return result_of(Status::ok);
}

// "swap_out S" (V-S2): S's n values copied to ceil(n/page_size) CPU pages, then every entry
// released as by `free`; S keeps n and its ids. Does not use S. With a sliding window only the
// non-null entries are copied, and the null ones stay (V-W6).
Result Model::swap_out(SeqId seq) {
  if (config_.reserved_slots) return result_of(Status::invalid_argument);
  const auto found = sequences_.find(seq);
  if (found == sequences_.end()) return result_of(Status::unknown_sequence);
  Sequence& sequence = found->second;
  if (sequence.swapped || sequence.in_flight()) return result_of(Status::invalid_argument);
  const uint64_t cpu_pages = cpu_pages_of(sequence);
  if (cpu_pages > config_.cpu_pages - cpu_pages_used_) return result_of(Status::capacity_exceeded);
  sequence.swapped_values = read_values(seq);  // every group's, in group order (V-G4)
  std::array<uint64_t, kv_groups_max> nulls{};
  for (uint32_t g = 0; g < groups(); g++) nulls[g] = null_entries(sequence, g);
  release_all(sequence);
  for (uint32_t g = 0; g < groups(); g++) sequence.tables[g].assign(nulls[g], null_page);
  sequence.swapped = true;
  cpu_pages_used_ += cpu_pages;
  return result_of(Status::ok);
}

// "swap_in S" (V-S3): need = ceil(n/page_size), made room for with S protected; new pages with
// S's values as they were (unregistered), its CPU pages freed. Uses S. Null entries stay (V-W6).
Result Model::swap_in(SeqId seq, Tick tick) {
  if (config_.reserved_slots) return result_of(Status::invalid_argument);
  const auto found = sequences_.find(seq);
  if (found == sequences_.end()) return result_of(Status::unknown_sequence);
  if (!found->second.swapped) return result_of(Status::invalid_argument);
  const uint64_t need = cpu_pages_of(found->second);
  const auto victims = choose_victims(need, {seq});
  if (!victims) return result_of(Status::capacity_exceeded);
  remove_victims(*victims);
  Sequence& sequence = sequences_.at(seq);
  uint64_t next_value = 0;  // swapped_values holds every group's in group order (V-G4)
  for (uint32_t g = 0; g < groups(); g++) {
    Table& table = sequence.tables[g];
    while (table.size() < pages_for_tokens(sequence.token_count)) table.push_back(new_page());
    for (uint64_t token = null_entries(sequence, g) * config_.page_size;
         token < sequence.token_count; token++) {
      pages_.at(table[token / config_.page_size]).slots[token % config_.page_size] =
          sequence.swapped_values[next_value++];
    }
  }
  sequence.swapped_values.clear();
  sequence.swapped = false;
  cpu_pages_used_ -= need;
  sequence.last_use = tick;
  return result_of(Status::ok, *victims);
}

// A waiting sequence has no pages, no computed token and no reservation; every sequence has one id
// per computed token; a swapped-out one no pages and its n values, the CPU pages counted.
void Model::audit_lifecycle(std::vector<std::string>& problems) const {
  uint64_t cpu_pages = 0;
  for (const auto& [id, sequence] : sequences_) {
    const std::string name = "model: sequence " + std::to_string(id);
    if (sequence.waiting &&
        (entry_count(sequence) > 0 || sequence.token_count > 0 || sequence.reserved > 0)) {
      problems.push_back(name + " waits but holds " + std::to_string(entry_count(sequence)) +
                         " pages, " + std::to_string(sequence.token_count) + " tokens and " +
                         std::to_string(sequence.reserved) + " reserved slots (expected none)");
    }
    if (sequence.token_ids.size() != sequence.token_count) {
      problems.push_back(name + " has " + std::to_string(sequence.token_ids.size()) +
                         " token ids for " + std::to_string(sequence.token_count) + " tokens");
    }
    uint64_t kept = 0;  // the values of every group's non-null entries
    for (uint32_t g = 0; g < groups(); g++) {
      kept += sequence.token_count -
              std::min(sequence.token_count, null_entries(sequence, g) * config_.page_size);
    }
    if (sequence.swapped && (page_count(sequence) != 0 || sequence.swapped_values.size() != kept)) {
      problems.push_back(name + " is swapped out but holds " +
                         std::to_string(page_count(sequence)) + " pages and " +
                         std::to_string(sequence.swapped_values.size()) +
                         " values (expected 0 and " + std::to_string(kept) + ")");
    }
    cpu_pages += sequence.swapped ? cpu_pages_of(sequence) : 0;
  }
  if (cpu_pages != cpu_pages_used_ || cpu_pages > config_.cpu_pages) {
    problems.push_back("model: CPU pages in use expected " + std::to_string(cpu_pages) +
                       " actual " + std::to_string(cpu_pages_used_) + " (cpu_pages " +
                       std::to_string(config_.cpu_pages) + ")");
  }
}

}  // namespace kv
