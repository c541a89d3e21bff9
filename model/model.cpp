// The reference model: each function follows one paragraph of docs/semantics.md, in its words.
#include "model/model.hpp"

#include <algorithm>

#include "trace/token.hpp"

namespace kv {

Model::Model(const Config& config) : config_(config) {
  if (config_.free_queue) free_queue_.push_back({std::nullopt, config_.max_pages});
}

uint64_t Model::pages_for_tokens(uint64_t token_count) const {
  return (token_count + config_.page_size - 1) / config_.page_size;
}

// "Unpinned sequences sorted by (last_use, id) ascending."
std::vector<SeqId> Model::eviction_order() const {
  std::vector<std::pair<Tick, SeqId>> keyed;
  for (const auto& [id, sequence] : sequences_) {
    if (!sequence.pinned && !sequence.swapped) keyed.emplace_back(sequence.last_use, id);  // V-S4
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<SeqId> order;
  for (const auto& [last_use, id] : keyed) order.push_back(id);
  return order;
}

// "Making room": nothing if need <= free; else the shortest prefix of the eviction order, skipping
// protected sequences, whose eviction brings free to at least need. nullopt: capacity_exceeded.
std::optional<std::vector<SeqId>> Model::choose_victims(
    uint64_t need, const std::vector<SeqId>& protected_ids) const {
  std::vector<SeqId> victims;
  if (need <= free_pages()) return victims;
  if (config_.eviction == Eviction::none) return std::nullopt;
  // Each victim's pages' refcounts as the victims so far leave them, read from pages_ when first
  // dropped (copying every page's count made each call O(pool)).
  std::map<ModelPageId, uint32_t> refcounts;
  const auto count_of = [&](ModelPageId page) -> uint32_t& {
    const auto found = pages_.find(page);
    return refcounts.try_emplace(page, found == pages_.end() ? 0 : found->second.refcount)
        .first->second;
  };
  uint64_t freed = 0;
  for (SeqId candidate : eviction_order()) {
    if (std::find(protected_ids.begin(), protected_ids.end(), candidate) != protected_ids.end()) {
      continue;
    }
    victims.push_back(candidate);
    // A victim's page is freed only when no remaining sequence references it.
    for (uint32_t g = 0; g < groups(); g++) {
      for (ModelPageId page : sequences_.at(candidate).tables[g]) {
        if (page == null_page) continue;  // V-W2
        if (--count_of(page) == 0) freed++;
      }
    }
    if (free_pages() + freed >= need) return victims;
  }
  return std::nullopt;
}

// "used": the pages with refcount above 0 (queued pages are free). pages_ holds exactly those plus
// the queued ones (the class invariant, which audit() recounts), so this is O(1): the runner reads
// stats after every op, and a walk over every page made each op cost O(pool).
uint64_t Model::used_pages() const {
  return pages_.size() - cached_queue_.size();
}

// "An op that needs a new page takes an unregistered free page if there is one, otherwise the
// head of the queue, which unregisters that page's key." The new page gets a fresh id either way,
// on the physical page section 14.8 picks (the reused cached page's own, or the free list's head).
ModelPageId Model::new_page() {
  const uint64_t unregistered_free = free_pages() - cached_queue_.size();
  std::optional<ModelPageId> reused;  // a cached page whose key and physical page go (P13)
  if (config_.free_queue) {
    // "A new page is the head of the queue, registered or not" (V-F2).
    QueueItem& head = free_queue_.front();
    if (head.page) {
      reused = *head.page;
    } else if (--head.unregistered_count == 0) {
      free_queue_.pop_front();
    }
  } else if (unregistered_free == 0 && !cached_queue_.empty()) {
    reused = cached_queue_.front();
  }
  uint64_t slot = 0;
  if (reused) {
    slot = pages_.at(*reused).slot;
    unregister(*reused);  // also drops it from the queues
    pages_.erase(*reused);
  } else {
    slot = take_slot();
  }
  const ModelPageId id = next_page_id_++;
  pages_[id] = Page{1, std::vector<uint64_t>(config_.page_size, 0), std::nullopt, slot};
  return id;
}

// A page reaching refcount 0 goes to the queue's tail if registered; otherwise it is gone.
void Model::release(ModelPageId page) {
  pages_.at(page).refcount--;
  if (pages_.at(page).refcount > 0) return;
  if (pages_.at(page).key) {
    cached_queue_.push_back(page);
    if (config_.free_queue) free_queue_.push_back({page, 0});
  } else {
    release_slot(pages_.at(page).slot);
    pages_.erase(page);
    if (!config_.free_queue) return;
    if (free_queue_.empty() || free_queue_.back().page) free_queue_.push_back({std::nullopt, 0});
    free_queue_.back().unregistered_count++;
  }
}

void Model::dequeue(ModelPageId page) {
  cached_queue_.erase(std::remove(cached_queue_.begin(), cached_queue_.end(), page),
                      cached_queue_.end());
  std::erase_if(free_queue_, [page](const QueueItem& item) { return item.page == page; });
}

// Drops the page's key (and its place in the queue, if it has one).
void Model::unregister(ModelPageId page) {
  Page& entry = pages_.at(page);
  if (!entry.key) return;
  std::vector<ModelPageId>& pages = registered_.at(*entry.key);  // "it alone loses the key"
  pages.erase(std::find(pages.begin(), pages.end(), page));
  if (pages.empty()) registered_.erase(*entry.key);
  registered_page_count_--;
  entry.key.reset();
  dequeue(page);
}

// "A block is registered when it becomes full during an op, if prefix_caching=on, every token of
// its prefix is a prompt token and the key is not registered already (the page then stays
// unregistered)." Blocks [first_block, end_block) of `sequence` just became full.
// register_at=release (V-E1): not now, but when the sequence is freed or evicted.
void Model::register_full_blocks(Sequence& sequence, uint64_t first_block, uint64_t end_block) {
  if (config_.register_at) return;
  register_blocks(sequence, first_block, end_block);
}

// P9's conditions for blocks [first_block, end_block) of `sequence`, all full. decode_caching=on
// drops the prompt-token condition (V-D1); duplicate_keys=kept the not-yet-registered one (V-K1).
// A page that holds a key already (a hit, under register_at=release) keeps it. Each group
// registers under its own keys, group 0 first (V-G5).
void Model::register_blocks(Sequence& sequence, uint64_t first_block, uint64_t end_block) {
  if (!config_.prefix_caching) return;
  // Block by block, each group under its own key: keys of two groups never meet, so this is the
  // same as group 0's blocks first.
  for (uint64_t block = first_block; block < end_block; block++) {
    const uint64_t end = (block + 1) * config_.page_size;
    bool all_prompt = true;
    for (uint64_t k = end; k > 0 && all_prompt; k--) {
      all_prompt = is_prompt_token(sequence.token_ids[k - 1]);
    }
    if (!all_prompt && !config_.decode_caching) continue;
    for (uint32_t g = 0; g < groups(); g++) {
      Key key{g,
              {sequence.token_ids.begin(), sequence.token_ids.begin() + static_cast<int64_t>(end)}};
      const ModelPageId page = sequence.tables[g][block];
      if (page == null_page || pages_.at(page).key) continue;  // a null entry has no page (V-W2)
      if (registered_.count(key) && config_.duplicate_keys != duplicate_kept) {
        if (config_.duplicate_keys == duplicate_remapped && !config_.register_at) {
          remap(sequence.tables[g][block], registered_.at(key).front());
        }
        continue;
      }
      registered_[key].push_back(page);
      registered_page_count_++;
      pages_.at(page).key = std::move(key);
    }
  }
}

// duplicate_keys=remapped (V-K5): the entry moves onto the key's cached page (out of the queue if
// it waits there) and its own page is released.
void Model::remap(ModelPageId& entry, ModelPageId cached) {
  const ModelPageId own = entry;
  if (pages_.at(cached).refcount++ == 0) dequeue(cached);
  entry = cached;
  release(own);
}

// Eviction victims leave in order; recorded for last_victims().
void Model::remove_victims(const std::vector<SeqId>& victims) {
  for (SeqId victim : victims) {
    remove_sequence(victim);
    last_victims_.push_back(victim);
  }
}

// "Release in reverse block order: a sequence's last block is reused first" (P14), group 0's
// table first (V-G3); the tables are left empty (free, eviction, preempt, swap_out).
void Model::release_all(Sequence& sequence) {
  release_entries_beyond(sequence, 0);
}

// Releases every table's entries from `kept_entries` on, last first, group 0 first (V-G3).
void Model::release_entries_beyond(Sequence& sequence, uint64_t kept_entries) {
  for (uint32_t g = 0; g < groups(); g++) {
    Table& table = sequence.tables[g];
    while (table.size() > kept_entries) {
      if (table.back() != null_page) release(table.back());
      table.pop_back();
    }
  }
}

void Model::remove_sequence(SeqId seq) {
  // register_at=release (V-E1): its full blocks are registered first, in block order.
  Sequence& sequence = sequences_.at(seq);
  if (config_.register_at && !sequence.swapped)
    register_blocks(sequence, 0, sequence.token_count / config_.page_size);
  if (sequence.swapped) cpu_pages_used_ -= cpu_pages_of(sequence);  // while its nulls are there
  release_all(sequence);
  token_count_ -= sequences_.at(seq).token_count;
  sequences_.erase(seq);
}

Result Model::alloc(SeqId seq, Tick tick) {
  // "A waiting S gets no page before its lookup" (V-L8); a swapped-out S none at all (V-S4).
  if (const auto found = sequences_.find(seq);
      found != sequences_.end() && (found->second.waiting || found->second.swapped)) {
    return result_of(Status::invalid_argument);
  }
  if (const auto found = sequences_.find(seq); found != sequences_.end()) {
    release_out_of_window(found->second);  // V-W4
  }
  const auto victims = choose_victims(groups(), {seq});  // a page per group (V-G1)
  if (!victims) return result_of(Status::capacity_exceeded);
  remove_victims(*victims);
  Sequence& sequence = sequences_[seq];  // creates S if absent
  take_new_pages(sequence, 1);
  sequence.last_use = tick;
  return result_of(Status::ok, *victims);
}

// "append S N": need = max(0, ceil((n+N)/page_size) - pages(S)) + cow, then copy-on-write of
// entry n/page_size if it is still shared, then the tokens fill slots in order.
Result Model::append(SeqId seq, uint32_t token_count, Tick tick, uint32_t entry,
                     const std::vector<SeqId>& protected_ids) {
  if (token_count == 0 || token_count > append_token_count_max) {
    return result_of(Status::invalid_argument);
  }
  // "append, a step entry or truncate on a sequence in flight (V-L8) or swapped out (V-S4) is
  // invalid_argument".
  if (const auto found = sequences_.find(seq);
      found != sequences_.end() && (found->second.in_flight() || found->second.swapped)) {
    return result_of(Status::invalid_argument);
  }
  if (!config_.append_atomicity)
    return append_tokens(seq, token_count, tick, entry, protected_ids, 0);
  // append_atomicity=token (section 14.1): N one-token appends, stopping at the first failure;
  // what the earlier ones did stays done.
  Result result = result_of(Status::ok);
  for (uint32_t offset = 0; offset < token_count; offset++) {
    const Result one = append_tokens(seq, 1, tick, entry, protected_ids, offset);
    if (one.status != Status::ok) return one;
    result.evicted.insert(result.evicted.end(), one.evicted.begin(), one.evicted.end());
  }
  return result;
}

// The whole append of `token_count` tokens, whose first has offset `first_offset` in its op.
Result Model::append_tokens(SeqId seq, uint32_t token_count, Tick tick, uint32_t entry,
                            const std::vector<SeqId>& protected_ids, uint32_t first_offset) {
  if (config_.reserved_slots) {
    return append_to_last_page(seq, token_count, tick, entry, protected_ids, first_offset);
  }
  const auto found = sequences_.find(seq);
  if (found != sequences_.end()) release_out_of_window(found->second);  // V-W4
  const uint64_t n = found == sequences_.end() ? 0 : found->second.token_count;
  const uint64_t entries = found == sequences_.end() ? 0 : entry_count(found->second);
  const uint64_t pages_wanted = pages_for_tokens(n + token_count);
  // The same new entries in every group, and a copy in each group whose entry is shared (V-G1).
  uint64_t need = pages_wanted > entries ? (pages_wanted - entries) * groups() : 0;
  const uint64_t write_entry = n / config_.page_size;
  for (uint32_t g = 0; g < groups() && found != sequences_.end(); g++) {
    need += shared_entry(found->second, g, write_entry) ? 1 : 0;
  }
  const auto victims = choose_victims(need, protected_ids);
  if (!victims) return result_of(Status::capacity_exceeded);
  remove_victims(*victims);

  Sequence& sequence = sequences_[seq];  // creates S if absent
  for (uint32_t g = 0; g < groups(); g++) copy_on_write(sequence, g, write_entry);
  if (pages_wanted > entry_count(sequence)) {
    take_new_pages(sequence, pages_wanted - entry_count(sequence));
  }
  for (uint32_t offset = 0; offset < token_count; offset++) {
    const uint64_t value = token_value(tick, entry, first_offset + offset);
    write_token(sequence, n + offset, value);
    sequence.token_ids.push_back(generated_token_id(value));
  }
  register_full_blocks(sequence, n / config_.page_size, (n + token_count) / config_.page_size);
  sequence.token_count = n + token_count;
  token_count_ += token_count;
  sequence.last_use = tick;
  return result_of(Status::ok, *victims);
}

bool Model::shared_entry(const Sequence& sequence, uint32_t group, uint64_t entry) const {
  const Table& table = sequence.tables[group];
  return entry < table.size() && table[entry] != null_page && pages_.at(table[entry]).refcount > 1;
}

// "If entry `entry` exists and its page is still shared, it gets a new private page with the old
// page's tokens; the old page's refcount drops by 1" (per group, V-G1).
void Model::copy_on_write(Sequence& sequence, uint32_t group, uint64_t entry) {
  if (!shared_entry(sequence, group, entry)) return;
  const ModelPageId shared = sequence.tables[group][entry];
  const ModelPageId copy = new_page();
  pages_.at(copy).slots = pages_.at(shared).slots;
  release(shared);
  sequence.tables[group][entry] = copy;
}

// New entries at the end of every table, group 0's first (V-G1; P13 picks the pages).
void Model::take_new_pages(Sequence& sequence, uint64_t count_per_group) {
  for (uint32_t g = 0; g < groups(); g++) {
    for (uint64_t i = 0; i < count_per_group; i++) sequence.tables[g].push_back(new_page());
  }
}

// Token `token`'s value into its slot in every group, each group's own value (V-G2); a write into
// a registered page unregisters it first (P16).
void Model::write_token(Sequence& sequence, uint64_t token, uint64_t value) {
  for (uint32_t g = 0; g < groups(); g++) {
    const ModelPageId page = sequence.tables[g][token / config_.page_size];
    unregister(page);
    pages_.at(page).slots[token % config_.page_size] = group_token_value(value, g);
  }
}

std::pair<uint64_t, uint64_t> Model::place(const Sequence& sequence, uint64_t token) const {
  if (config_.reserved_slots) return sequence.places[token];
  return {token / config_.page_size, token % config_.page_size};
}

// reserved_slots=skipped (section 14.2): an append writes only into S's last entry, from its fill
// on, and into new pages after it. need = ceil(max(0, N - room) / page_size) + cow, where room
// is the last entry's free slots and cow = 1 when it has tokens, room, and is shared.
// Prefix caching is off under this variant (V-R5): nothing is registered.
Result Model::append_to_last_page(SeqId seq, uint32_t token_count, Tick tick, uint32_t entry,
                                  const std::vector<SeqId>& protected_ids, uint32_t first_offset) {
  const auto found = sequences_.find(seq);
  uint64_t fill = 0;  // tokens in the last entry
  bool shared = false;
  if (found != sequences_.end() && !found->second.tables[0].empty()) {
    const Sequence& sequence = found->second;
    const uint64_t last = sequence.tables[0].size() - 1;
    for (auto p = sequence.places.rbegin(); p != sequence.places.rend() && p->first == last; ++p) {
      fill++;
    }
    shared = pages_.at(sequence.tables[0][last]).refcount > 1;
  } else {
    fill = config_.page_size;  // no last entry: no room
  }
  const uint64_t room = config_.page_size - fill;
  const bool cow = fill > 0 && room > 0 && shared;
  const uint64_t beyond = token_count > room ? token_count - room : 0;
  const auto victims = choose_victims(pages_for_tokens(beyond) + (cow ? 1 : 0), protected_ids);
  if (!victims) return result_of(Status::capacity_exceeded);
  remove_victims(*victims);

  Sequence& sequence = sequences_[seq];  // creates S if absent
  if (room > 0 && fill > 0 && pages_.at(sequence.tables[0].back()).refcount > 1) {
    const ModelPageId copy = new_page();
    pages_.at(copy).slots = pages_.at(sequence.tables[0].back()).slots;
    release(sequence.tables[0].back());
    sequence.tables[0].back() = copy;
  }
  for (uint32_t offset = 0; offset < token_count; offset++) {
    if (fill == config_.page_size) {
      sequence.tables[0].push_back(new_page());
      fill = 0;
    }
    const uint64_t value = token_value(tick, entry, first_offset + offset);
    pages_.at(sequence.tables[0].back()).slots[fill] = value;
    sequence.places.emplace_back(sequence.tables[0].size() - 1, fill++);
    sequence.token_ids.push_back(generated_token_id(value));
  }
  sequence.token_count += token_count;
  token_count_ += token_count;
  sequence.last_use = tick;
  return result_of(Status::ok, *victims);
}

// "fork SRC DST": DST shares SRC's first ceil(n/page_size) entries; never allocates.
// Under reserved_slots=skipped: the entries that hold a token, in order (V-R4).
Result Model::fork(SeqId src, SeqId dst, Tick tick) {
  if (!sequences_.count(src)) return result_of(Status::unknown_sequence);
  if (sequences_.count(dst) || dst == src) return result_of(Status::sequence_exists);
  Sequence& source = sequences_.at(src);
  if (source.swapped) return result_of(Status::invalid_argument);  // V-S4
  Sequence copy;
  copy.token_count = source.token_count;
  copy.token_ids = source.token_ids;
  for (uint32_t g = 0; g < groups() && !config_.reserved_slots; g++) {  // every table (V-G1)
    for (uint64_t i = 0; i < pages_for_tokens(source.token_count); i++) {
      const ModelPageId page = source.tables[g][i];
      copy.tables[g].push_back(page);
      if (page != null_page) pages_.at(page).refcount++;  // V-W2
    }
  }
  for (const auto& [entry, slot] : source.places) {  // skipped only: renumber the entries
    if (slot == 0) {
      copy.tables[0].push_back(source.tables[0][entry]);
      pages_.at(source.tables[0][entry]).refcount++;
    }
    copy.places.emplace_back(copy.tables[0].size() - 1, slot);
  }
  copy.last_use = tick;
  source.last_use = tick;
  sequences_[dst] = copy;
  token_count_ += copy.token_count;
  return result_of(Status::ok);
}

// "truncate S N": sets n = N and releases every entry beyond ceil(N/page_size), reserved too.
Result Model::truncate(SeqId seq, uint32_t token_count, Tick tick) {
  if (!sequences_.count(seq)) return result_of(Status::unknown_sequence);
  Sequence& sequence = sequences_.at(seq);
  if (token_count > sequence.token_count || sequence.in_flight() || sequence.swapped) {
    return result_of(Status::invalid_argument);  // in flight: V-L8; swapped out: V-S4
  }
  if (window_truncate_invalid(sequence, token_count)) return result_of(Status::invalid_argument);
  token_count_ -= sequence.token_count - token_count;
  sequence.token_count = token_count;
  sequence.token_ids.resize(token_count);
  // Under reserved_slots=skipped: keep the entries through the one holding token N-1 (V-R4).
  uint64_t kept = pages_for_tokens(token_count);
  if (config_.reserved_slots) {
    kept = token_count == 0 ? 0 : sequence.places[token_count - 1].first + 1;
    sequence.places.resize(token_count);
  }
  release_entries_beyond(sequence, kept);
  sequence.last_use = tick;
  return result_of(Status::ok);
}

// "The hit is the number of leading blocks whose keys are registered, stopping at the first miss,
// and at most floor((n-1)/page_size)" (P10); a window group needs only the blocks of its window
// before the hit's end (V-W7), and a hybrid hit is the largest H every group accepts (V-G6). Each
// group's pages of blocks 0 .. H-1 (hit_page: "the one registered first", V-K2, or the runner's
// choice under duplicate_hit=any, V-K7), null where not needed.
Model::Tables Model::prefix_hits(const std::vector<TokenId>& ids) const {
  Tables hits;
  if (!config_.prefix_caching || ids.empty()) return hits;
  uint64_t limit = (ids.size() - 1) / config_.page_size;
  // Each group's page per block below the limit; a full-attention group's first miss lowers the
  // limit, since no hit can reach past it.
  std::array<std::vector<std::optional<ModelPageId>>, kv_groups_max> registered;
  for (uint32_t g = 0; g < groups(); g++) {
    for (uint64_t block = 0; block < limit; block++) {
      const auto end = ids.begin() + static_cast<int64_t>((block + 1) * config_.page_size);
      const auto found = registered_.find(Key{g, {ids.begin(), end}});
      if (found == registered_.end() && config_.window(g) == 0) limit = block;
      registered[g].push_back(found == registered_.end()
                                  ? std::nullopt
                                  : std::optional<ModelPageId>(hit_page(g, block, found->second)));
    }
  }
  const auto every_group_accepts = [&](uint64_t hit_blocks) {
    for (uint32_t g = 0; g < groups(); g++) {
      if (!group_accepts(registered[g], g, hit_blocks)) return false;
    }
    return true;
  };
  uint64_t h = limit;
  while (h > 0 && !every_group_accepts(h)) h--;
  for (uint32_t g = 0; g < groups(); g++) {
    const uint64_t first = first_hit_block(g, h);
    hits[g].assign(first, null_page);
    for (uint64_t block = first; block < h; block++) hits[g].push_back(*registered[g][block]);
  }
  return hits;
}

// "The op fits if, after it, the pages with refcount above 0 (the remaining sequences' pages, the
// hit pages and the new pages) number at most max_pages"; with lru, the shortest prefix of the
// eviction order that makes it fit, skipping the requester (a waiting sequence's reserve, V-L3).
// nullopt: capacity_exceeded.
std::optional<std::vector<SeqId>> Model::choose_prefill_victims(
    const Tables& hits, uint64_t new_count, std::optional<SeqId> requester) const {
  const auto fits = [&](const std::vector<SeqId>& victims) {
    std::vector<ModelPageId> live;
    for (uint32_t g = 0; g < groups(); g++) live.insert(live.end(), hits[g].begin(), hits[g].end());
    for (const auto& [id, sequence] : sequences_) {
      if (std::find(victims.begin(), victims.end(), id) != victims.end()) continue;
      for (uint32_t g = 0; g < groups(); g++) {
        live.insert(live.end(), sequence.tables[g].begin(), sequence.tables[g].end());
      }
    }
    std::erase(live, null_page);  // V-W2
    std::sort(live.begin(), live.end());
    live.erase(std::unique(live.begin(), live.end()), live.end());
    return live.size() + new_count <= config_.max_pages;
  };
  std::vector<SeqId> victims;
  if (fits(victims)) return victims;
  if (config_.eviction == Eviction::none) return std::nullopt;
  for (SeqId candidate : eviction_order()) {  // a prefill's S does not exist yet
    if (candidate == requester) continue;
    victims.push_back(candidate);
    if (fits(victims)) return victims;
  }
  return std::nullopt;
}

// "Take the K hit pages (refcount + 1; a hit with refcount 0 leaves the queue)", every group's,
// group 0 first, before any new page (V-G6).
void Model::take_hits(Sequence& sequence, const Tables& hits) {
  for (uint32_t g = 0; g < groups(); g++) {
    for (ModelPageId hit : hits[g]) {
      sequence.tables[g].push_back(hit);
      if (hit == null_page) continue;  // out of the window's hit (V-W7)
      if (pages_.at(hit).refcount == 0) dequeue(hit);
      pages_.at(hit).refcount++;
    }
  }
}

// "prefill S P1:N1 ...": argument checks, then existence; hits, fit, then in order: evict, take
// the hits, take the new pages, write the non-hit tokens, register the blocks that became full.
Result Model::prefill(SeqId seq, const std::vector<StepEntry>& segments, Tick tick) {
  const std::optional<std::vector<TokenId>> ids = prompt_token_ids(segments);
  if (!ids) return result_of(Status::invalid_argument);
  if (sequences_.count(seq)) return result_of(Status::sequence_exists);
  const uint64_t n = ids->size();
  const Tables hits = prefix_hits(*ids);
  const uint64_t hit_blocks = hits[0].size();  // H, the same in every group (V-G6)
  // boundary_block=extra (V-B1): a prompt that ends on a block boundary takes an empty page too.
  const uint64_t extra = config_.boundary_block && n % config_.page_size == 0 ? 1 : 0;
  const uint64_t new_count = pages_for_tokens(n) - hit_blocks + extra;  // per group
  const auto victims = choose_prefill_victims(hits, new_count * groups());
  if (!victims) return result_of(Status::capacity_exceeded);
  remove_victims(*victims);  // their registered pages stay hittable

  Sequence& sequence = sequences_[seq];
  take_hits(sequence, hits);
  take_new_pages(sequence, new_count);
  const std::vector<uint64_t> values = prompt_token_values(*ids);
  for (uint64_t token = hit_blocks * config_.page_size; token < n; token++) {
    write_token(sequence, token, values[token]);  // new pages: nothing to unregister
  }
  sequence.token_ids = *ids;
  for (uint64_t token = 0; token < n && config_.reserved_slots; token++) {
    sequence.places.emplace_back(token / config_.page_size, token % config_.page_size);
  }
  sequence.token_count = n;
  token_count_ += n;
  register_full_blocks(sequence, hit_blocks, n / config_.page_size);
  sequence.last_use = tick;
  Result result = result_of(Status::ok, *victims);
  result.hit_tokens = hit_blocks * config_.page_size;
  return result;
}

// "evict": the first sequence in eviction order, nobody protected.
Result Model::evict() {
  const std::vector<SeqId> order = eviction_order();
  if (order.empty()) return result_of(Status::nothing_to_evict);
  remove_sequence(order.front());
  return result_of(Status::ok, {order.front()});
}

// The ops that only look up S: free, pin, unpin, touch, read, info.
Result Model::simple(const Op& op, Tick tick) {
  const auto found = sequences_.find(op.seq);
  if (found == sequences_.end()) return result_of(Status::unknown_sequence);
  Sequence& sequence = found->second;
  Result result = result_of(Status::ok);
  switch (op.kind) {
    case OpKind::free:
      remove_sequence(op.seq);
      break;
    case OpKind::pin:
      sequence.pinned = true;
      break;
    case OpKind::unpin:
      sequence.pinned = false;
      break;
    case OpKind::read:
      if (sequence.swapped) return result_of(Status::invalid_argument);  // V-S4
      sequence.last_use = tick;
      break;
    case OpKind::touch:
      sequence.last_use = tick;
      break;
    case OpKind::info:
      result.info = InfoView{sequence.token_count, page_count(sequence), sequence.pinned};
      break;
    default:
      break;
  }
  return result;
}

OpResult Model::apply(const Op& op, Tick tick, std::span<const HitChoice> hit_choices) {
  hit_choices_ = hit_choices;
  OpResult result = apply(op, tick);
  hit_choices_ = {};
  return result;
}

OpResult Model::apply(const Op& op, Tick tick) {
  last_victims_.clear();
  switch (op.kind) {
    case OpKind::alloc:
      return single(alloc(op.seq, tick));
    case OpKind::append:
      return single(append(op.seq, op.count, tick, 0, {op.seq}));
    case OpKind::fork:
      return single(fork(op.seq, op.count, tick));
    case OpKind::truncate:
      return single(truncate(op.seq, op.count, tick));
    case OpKind::evict:
      return single(evict());
    case OpKind::prefill:
      return single(prefill(op.seq, op.entries, tick));
    case OpKind::admit:
      return single(admit(op.seq, op.entries, tick));
    case OpKind::reserve:
      return single(reserve(op.seq, op.count, tick));
    case OpKind::commit:
      return single(commit(op.seq, op.count, tick));
    case OpKind::preempt:
      return single(preempt(op.seq));
    case OpKind::swap_out:
      return single(swap_out(op.seq));
    case OpKind::swap_in:
      return single(swap_in(op.seq, tick));
    case OpKind::stats:
      return single(Result{Status::ok, {}, std::nullopt, stats()});
    case OpKind::check:
      return single(result_of(Status::ok));
    case OpKind::step: {
      // Each entry is an append on its own, with every member of the step protected.
      const std::vector<SeqId> members = op_sequences(op);
      OpResult result;
      for (uint32_t i = 0; i < op.entries.size(); i++) {
        const StepEntry& entry = op.entries[i];
        result.entries.push_back(append(entry.seq, entry.token_count, tick, i, members));
      }
      return result;
    }
    default:
      return single(simple(op, tick));
  }
}

StatsView Model::stats() const {
  StatsView stats{used_pages(), free_pages(), sequences_.size(), token_count_};
  if (config_.prefix_caching) stats.cached_keys = registered_page_count_;  // V-K4
  if (config_.cpu_pages > 0) stats.cpu_pages_used = cpu_pages_used_;       // V-S1
  return stats;
}

std::optional<InfoView> Model::info(SeqId seq) const {
  const auto found = sequences_.find(seq);
  if (found == sequences_.end()) return std::nullopt;
  return InfoView{found->second.token_count, page_count(found->second), found->second.pinned};
}

std::vector<SeqId> Model::sequence_ids() const {
  std::vector<SeqId> ids;
  for (const auto& [id, sequence] : sequences_) ids.push_back(id);
  return ids;
}

uint64_t Model::page_index(ModelPageId page) const {
  if (page == null_page) return null_page;
  return pages_.at(page).slot;
}

std::vector<uint64_t> Model::page_indices(const std::vector<ModelPageId>& pages) const {
  std::vector<uint64_t> out;
  for (ModelPageId page : pages) out.push_back(page_index(page));
  return out;
}

std::vector<ModelPageId> Model::block_table(SeqId seq) const {
  std::vector<ModelPageId> out;
  const auto found = sequences_.find(seq);
  if (found == sequences_.end()) return out;
  for (uint32_t g = 0; g < groups(); g++) {
    out.insert(out.end(), found->second.tables[g].begin(), found->second.tables[g].end());
  }
  return out;
}

std::optional<Tick> Model::last_use(SeqId seq) const {
  const auto found = sequences_.find(seq);
  if (found == sequences_.end()) return std::nullopt;
  return found->second.last_use;
}

PrefixCacheView Model::prefix_cache() const {
  PrefixCacheView view;
  for (const auto& [key, pages] : registered_) {
    for (ModelPageId page : pages) view.registered.push_back({key.ids, page, key.group});
  }
  view.queue = cached_queue_;
  return view;
}

std::vector<Model::GroupValues> Model::read_groups(SeqId seq, uint64_t first_token,
                                                   uint64_t token_count) const {
  std::vector<GroupValues> out;
  const auto found = sequences_.find(seq);
  if (found == sequences_.end()) return out;
  const Sequence& sequence = found->second;
  if (sequence.swapped) return out;  // no device pages to read through (V-S4)
  const uint64_t n = sequence.token_count;
  const uint64_t end = first_token + std::min(token_count, n - std::min(first_token, n));
  for (uint32_t g = 0; g < groups(); g++) {
    // "The tokens of null entries are gone" (V-W3): each group from its first non-null entry.
    GroupValues group{g, std::max(first_token, null_entries(sequence, g) * config_.page_size), {}};
    for (uint64_t token = group.first_token; token < end; token++) {
      const auto [entry, slot] = place(sequence, token);
      group.values.push_back(pages_.at(sequence.tables[g][entry]).slots[slot]);
    }
    out.push_back(std::move(group));
  }
  return out;
}

std::vector<uint64_t> Model::read_values(SeqId seq, uint64_t first_token,
                                         uint64_t token_count) const {
  std::vector<uint64_t> values;
  for (const GroupValues& group : read_groups(seq, first_token, token_count)) {
    values.insert(values.end(), group.values.begin(), group.values.end());
  }
  return values;
}

std::vector<std::string> Model::audit() const {
  std::vector<std::string> problems;
  std::map<ModelPageId, uint32_t> references;
  uint64_t token_count = 0;
  for (const auto& [id, sequence] : sequences_) {
    token_count += sequence.token_count;
    const std::vector<ModelPageId> table = block_table(id);
    std::vector<ModelPageId> sorted = table;  // no page twice, over every group
    std::erase(sorted, null_page);
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      problems.push_back("model: sequence " + std::to_string(id) + " holds a page twice");
    }
    if (!sequence.swapped &&
        entry_count(sequence) < pages_for_tokens(sequence.token_count + sequence.reserved)) {
      problems.push_back("model: sequence " + std::to_string(id) +
                         " has fewer pages than its tokens and reserved slots need");
    }
    for (uint32_t g = 1; g < kv_groups_max; g++) {
      // A swapped-out sequence keeps each group's null entries only (V-G4).
      if (sequence.swapped && g < groups()) continue;
      const uint64_t expected = g < groups() ? entry_count(sequence) : 0;
      if (sequence.tables[g].size() != expected) {
        problems.push_back("model: sequence " + std::to_string(id) + " group " + std::to_string(g) +
                           " table has " + std::to_string(sequence.tables[g].size()) +
                           " entries, expected " + std::to_string(expected) + " (V-G1)");
      }
    }
    const bool placed =
        sequence.places.size() == (config_.reserved_slots ? sequence.token_count : 0) &&
        std::all_of(sequence.places.begin(), sequence.places.end(),
                    [&, entries = entry_count(sequence)](const auto& place) {
                      return place.first < entries && place.second < config_.page_size;
                    });
    if (!placed) {
      problems.push_back("model: sequence " + std::to_string(id) + " has " +
                         std::to_string(sequence.places.size()) + " token places for " +
                         std::to_string(sequence.token_count) + " tokens, or one off its pages");
    }
    for (ModelPageId page : table) {
      if (page != null_page) references[page]++;
    }
  }
  for (const auto& [page, count] : references) {
    const auto found = pages_.find(page);
    const uint32_t stored = found == pages_.end() ? 0 : found->second.refcount;
    if (stored != count) {
      problems.push_back("model: page " + std::to_string(page) + " refcount expected " +
                         std::to_string(count) + " actual " + std::to_string(stored));
    }
  }
  if (token_count != token_count_) {
    problems.push_back("model: token count expected " + std::to_string(token_count) + " actual " +
                       std::to_string(token_count_));
  }
  uint64_t referenced_in_pages = 0;  // recounted from pages_, not from the cached queue
  for (const auto& [id, page] : pages_) referenced_in_pages += page.refcount > 0 ? 1 : 0;
  if (referenced_in_pages != used_pages()) {
    problems.push_back("model: pages with refcount above 0 expected " +
                       std::to_string(referenced_in_pages) + " actual " +
                       std::to_string(used_pages()) + " (pages minus cached queue)");
  }
  if (references.size() != used_pages() || used_pages() > config_.max_pages) {
    problems.push_back("model: used pages expected " + std::to_string(references.size()) +
                       " actual " + std::to_string(used_pages()) + " (max_pages " +
                       std::to_string(config_.max_pages) + ")");
  }
  audit_prefix_cache(problems);
  audit_free_queue(problems);
  audit_lifecycle(problems);
  audit_window(problems);
  audit_slots(problems);
  return problems;
}

// Keys <-> pages one to one, the queue = the registered pages with refcount 0 (once each), every
// registered page holding its key's prompt values, nothing registered without prefix caching.
void Model::audit_prefix_cache(std::vector<std::string>& problems) const {
  std::vector<ModelPageId> idle;  // registered pages with refcount 0, in page order
  for (const auto& [id, page] : pages_) {
    const auto name = [id = id] { return "model: page " + std::to_string(id); };  // for a problem
    if (page.refcount == 0 && !page.key)
      problems.push_back(name() + ": free but kept unregistered");
    if (!page.key) continue;
    if (page.refcount == 0) idle.push_back(id);
    const auto found = registered_.find(*page.key);
    if (found == registered_.end() ||
        std::count(found->second.begin(), found->second.end(), id) != 1) {
      problems.push_back(name() + ": its key is not registered to it once");
    }
    const std::vector<TokenId>& key = page.key->ids;
    if (!config_.prefix_caching || key.empty() || key.size() % config_.page_size != 0 ||
        page.key->group >= groups()) {
      const std::string group =
          groups() > 1 || page.key->group > 0 ? " in group " + std::to_string(page.key->group) : "";
      problems.push_back(name() + ": key of " + std::to_string(key.size()) + " ids" + group +
                         " is not a block");
      continue;
    }
    const std::vector<uint64_t> values = token_values_of_ids(key);
    for (uint64_t slot = 0; slot < config_.page_size; slot++) {
      const uint64_t value = values[key.size() - config_.page_size + slot];
      if (page.slots[slot] != group_token_value(value, page.key->group)) {
        problems.push_back(name() + " slot " + std::to_string(slot) + ": not its key's value");
        break;
      }
    }
  }
  uint64_t page_count = 0;
  for (const auto& [key, ids] : registered_) {
    if (ids.size() > 1 && config_.duplicate_keys != duplicate_kept) {
      problems.push_back("model: a key is registered to " + std::to_string(ids.size()) +
                         " pages under duplicate_keys=refused");
    }
    for (ModelPageId id : ids) {
      page_count++;
      const auto found = pages_.find(id);
      if (found == pages_.end() || found->second.key != key) {
        problems.push_back("model: a registered key maps to page " + std::to_string(id) +
                           ", which does not hold it");
      }
    }
  }
  if (page_count != registered_page_count_) {
    problems.push_back("model: registered_page_count_ is " +
                       std::to_string(registered_page_count_) + ", recounted " +
                       std::to_string(page_count));
  }
  std::vector<ModelPageId> queued = cached_queue_;
  std::sort(queued.begin(), queued.end());
  if (queued != idle) {
    problems.push_back("model: queue holds " + std::to_string(cached_queue_.size()) +
                       " pages, expected the " + std::to_string(idle.size()) +
                       " registered pages with refcount 0, once each");
  }
}

// free_queue=single: the queue holds every free page once, its registered ones in the order of
// cached_queue_.
void Model::audit_free_queue(std::vector<std::string>& problems) const {
  if (!config_.free_queue) {
    if (!free_queue_.empty()) problems.push_back("model: free_queue_ used under free_queue=split");
    return;
  }
  uint64_t page_count = 0;
  std::vector<ModelPageId> registered;
  for (const QueueItem& item : free_queue_) {
    if (item.page) registered.push_back(*item.page);
    page_count += item.page ? 1 : item.unregistered_count;
  }
  if (page_count != free_pages()) {
    problems.push_back("model: free queue holds " + std::to_string(page_count) +
                       " pages, expected the " + std::to_string(free_pages()) + " free pages");
  }
  if (registered != cached_queue_) {
    problems.push_back("model: the free queue's registered pages are not the cached queue");
  }
}

void set_model_expectations(Trace& trace, uint32_t keep_line) {
  Model model(trace.config);
  for (size_t tick = 0; tick < trace.lines.size(); tick++) {
    TraceLine& line = trace.lines[tick];
    const OpResult result = model.apply(line.op, tick);
    if (keep_line == 0 || line.line_number != keep_line) line.expected = result;
  }
}

}  // namespace kv
