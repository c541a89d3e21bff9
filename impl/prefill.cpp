// Cache::prefill and the prefix-caching helpers: hits (the sliding window's and the hybrid one of
// KV groups too), registration, taking pages from the queue.
#include <algorithm>

#include "impl/check.hpp"
#include "impl/kvcache.hpp"

namespace kvcache {

namespace {
constexpr uint32_t kAbsent = detail::SeqIndex::kEmptySlot;
}

PageId Cache::take_page() {
  const PageId page = pages_.take();
  unregister_page(page);  // the queue's head keeps its key until it is taken: drop it now
  return page;
}

void Cache::unregister_page(PageId page) {
  if (!pages_.registered(page)) return;
  prefix_.unregister(page);
  pages_.set_registered(page, false);
}

// The hit: leading blocks whose keys are registered, stopping at the first miss, at most
// (n-1)/page_size of them (the last token is always computed). Fills hit_pages_ in block order and
// returns the node of the last hit block (the root when there is none), kept in hit_nodes_[0].
// This is the one full-attention group's path; windows and groups take find_group_hits.
uint32_t Cache::find_hits(std::span<const uint32_t> token_ids) {
  if (groups_ > 1 || windows_[0] > 0) return find_group_hits(token_ids);
  hit_pages_.clear();
  detail::NodeId node = detail::PrefixIndex::kRoot;
  hit_nodes_[0] = node;
  if (slot_token_ids_.empty()) return node;
  const uint64_t page_size = config_.page_size;
  const uint64_t limit = (token_ids.size() - 1) / page_size;
  for (uint64_t block = 0; block < limit; ++block) {
    const detail::NodeId next = prefix_.find(node, token_ids.subspan(block * page_size, page_size));
    if (next == detail::PrefixIndex::kNoNode) break;
    const PageId page = hit_page(next);
    if (page == detail::PrefixIndex::kNoPage) break;  // the key's node lives on for its children
    hit_pages_.push_back(page);
    node = next;
  }
  hit_nodes_[0] = node;
  return node;
}

// Walks group g's keys of the prompt's first `limit` blocks (from its root), up to the first block
// without a node (no later key either): walk_pages_[g] holds each block's page or kNoPage.
void Cache::walk_group_keys(std::span<const uint32_t> token_ids, uint32_t group, uint64_t limit) {
  walk_pages_[group].clear();
  walk_nodes_[group].clear();
  const uint64_t page_size = config_.page_size;
  detail::NodeId node = group;  // the group's root
  for (uint64_t block = 0; block < limit; ++block) {
    node = prefix_.find(node, token_ids.subspan(block * page_size, page_size));
    if (node == detail::PrefixIndex::kNoNode) break;
    walk_pages_[group].push_back(hit_page(node));
    walk_nodes_[group].push_back(node);
  }
}

// V-W7 and V-G6: a block's key stands for every token before it, so each walk goes on past
// unregistered blocks. Group g accepts h when its blocks max(0, h-c_g) .. h-1 are registered
// (c_g = ceil((W_g-1)/page_size), every block for full attention); the hit H is the largest h
// every group accepts. A window group's accepted hits are not every h below its largest, so H is
// found by trying h from the limit down (not as the least of each group's largest: lowering it
// for one group can make another refuse it). hit_pages_ holds each group's H entries (kNullPage
// for a window group's blocks 0 .. H-c_g-1), group-major; hit_nodes_ each group's node of block
// H-1.
uint32_t Cache::find_group_hits(std::span<const uint32_t> token_ids) {
  hit_pages_.clear();
  for (uint32_t g = 0; g < groups_; ++g) hit_nodes_[g] = g;  // the roots
  if (slot_token_ids_.empty()) return hit_nodes_[0];
  uint64_t hit = (token_ids.size() - 1) / config_.page_size;  // the limit
  for (uint32_t g = 0; g < groups_ && hit > 0; ++g) {
    walk_group_keys(token_ids, g, hit);
    walk_runs_[g].clear();
    uint64_t run = 0;  // registered blocks ending at this one
    for (const PageId page : walk_pages_[g]) {
      run = page == detail::PrefixIndex::kNoPage ? 0 : run + 1;
      walk_runs_[g].push_back(run);
    }
    // A full-attention group accepts exactly the h up to its leading run: no hit goes past it.
    if (windows_[g] == 0) hit = std::min(hit, leading_run(g));
  }
  while (hit > 0 && !every_group_accepts(hit)) --hit;  // bounded by the limit
  for (uint32_t g = 0; g < groups_ && hit > 0; ++g) {
    const uint64_t nulls = hit > window_blocks(g) ? hit - window_blocks(g) : 0;
    hit_pages_.insert(hit_pages_.end(), nulls, kNullPage);
    hit_pages_.insert(hit_pages_.end(), walk_pages_[g].begin() + static_cast<std::ptrdiff_t>(nulls),
                      walk_pages_[g].begin() + static_cast<std::ptrdiff_t>(hit));
    hit_nodes_[g] = walk_nodes_[g][hit - 1];
  }
  return hit_nodes_[0];
}

// c_g: the blocks before a hit's end group g needs (every one for full attention).
uint64_t Cache::window_blocks(uint32_t group) const {
  return windows_[group] == 0 ? UINT64_MAX : page_count_for(windows_[group] - 1);
}

// The registered blocks from block 0 on in group g's walk, before the first unregistered one.
uint64_t Cache::leading_run(uint32_t group) const {
  uint64_t run = 0;
  while (run < walk_runs_[group].size() && walk_runs_[group][run] == run + 1) ++run;
  return run;
}

// Whether every group's blocks max(0, h-c_g) .. h-1 are registered (V-G6), in O(groups).
bool Cache::every_group_accepts(uint64_t hit) const {
  for (uint32_t g = 0; g < groups_; ++g) {
    if (hit > walk_runs_[g].size() || walk_runs_[g][hit - 1] < std::min(hit, window_blocks(g))) {
      return false;
    }
  }
  return true;
}

// Registers every group's full blocks after the hit, group 0 first (V-G5); then, under
// duplicate_keys=remapped, moves the blocks whose keys were registered already (V-K5).
void Cache::register_blocks(Sequence& seq, std::span<const uint32_t> token_ids) {
  for (uint32_t g = 0; g < groups_; ++g) register_group_blocks(seq, g, token_ids, hit_nodes_[g]);
  if (!remaps_.empty()) apply_remaps(seq);
}

// duplicate_keys=remapped (V-K5): each noted entry moves onto its key's cached page (taken from
// the queue if it waits there, else shared) and its own page is released, blocks in block order
// and each block's groups in group order, so that is the order the own pages go back in.
void Cache::apply_remaps(Sequence& seq) {
  if (groups_ > 1) {  // noted group by group: block-major order
    std::sort(remaps_.begin(), remaps_.end(), [](const Remap& a, const Remap& b) {
      return a.block != b.block ? a.block < b.block : a.group < b.group;
    });
  }
  for (const Remap& remap : remaps_) {
    PageId& entry = seq.group(remap.group).block_table[remap.block];
    const PageId own = entry;
    if (pages_.refcount(remap.cached) == 0) {
      pages_.take_cached(remap.cached);
    } else {
      pages_.share(remap.cached);
    }
    entry = remap.cached;
    pages_.release(own);
  }
  remaps_.clear();
}

// Registers group g's blocks of `seq` after the hits that are full, under their keys, unless a key
// is registered already (the page then stays unregistered; duplicate_keys=kept registers it too,
// duplicate_keys=remapped notes the entry for apply_remaps). `node` is the group's last hit node.
void Cache::register_group_blocks(const Sequence& seq, uint32_t group,
                                  std::span<const uint32_t> token_ids, uint32_t node) {
  if (slot_token_ids_.empty()) return;
  const uint64_t page_size = config_.page_size;
  const uint64_t full_blocks = token_ids.size() / page_size;
  for (uint64_t block = hit_blocks(); block < full_blocks; ++block) {
    node = prefix_.find_or_add(node, token_ids.subspan(block * page_size, page_size));
    if (prefix_.page_of(node) != detail::PrefixIndex::kNoPage && !config_.keep_duplicate_keys) {
      if (remaps_duplicates()) note_remap(group, block, prefix_.page_of(node));
      continue;  // a duplicate key
    }
    const PageId page = seq.group(group).block_table[block];  // a new page: it has no key
    prefix_.assign(node, page);
    pages_.set_registered(page, true);
  }
}

// Making room for hit_pages_ and `new_pages` more: hits with refcount 0 sit in the queue and count
// as taken, like the new pages; a hit page is never counted as freed by a victim (hit_mark_).
Error Cache::make_room_with_hits(uint64_t new_pages, uint32_t requester,
                                 std::span<const SeqId> protected_ids) {
  uint64_t idle_hits = 0;
  for (const PageId page : hit_pages_) {
    if (page == kNullPage) continue;
    idle_hits += pages_.refcount(page) == 0 ? 1 : 0;
    hit_mark_[page] = 1;
  }
  const Error error = make_room(new_pages + idle_hits, requester, protected_ids);
  for (const PageId page : hit_pages_)
    if (page != kNullPage) hit_mark_[page] = 0;
  return error;
}

// Appends each group's hit_pages_ (taken from the queue, or shared; null ones as null entries),
// then `new_pages` new pages per group to `seq`: every hit is taken before any new page (V-G6),
// so a new page never consumes a hit.
void Cache::take_hits_and_pages(Sequence& seq, uint64_t new_pages) {
  const uint64_t hits = hit_blocks();
  for (uint64_t i = 0; i < hit_pages_.size(); ++i) {
    Table& table = seq.group(static_cast<uint32_t>(i / hits));
    const PageId page = hit_pages_[i];
    if (page == kNullPage) {
      ++table.null_entries;
    } else if (pages_.refcount(page) == 0) {
      pages_.take_cached(page);
    } else {
      pages_.share(page);
    }
    table.block_table.push_back(page);
  }
  for (uint32_t g = 0; g < groups_; ++g) {
    for (uint64_t i = 0; i < new_pages; ++i) seq.group(g).block_table.push_back(take_page());
  }
}

// The checks of a prompt that creates `id` (prefill, admit): its length, the caller's buffer, and
// `id` not existing yet.
Error Cache::prompt_error(SeqId id, std::span<const uint32_t> token_ids,
                          std::span<const uint32_t> token_words) const {
  const uint64_t n = token_ids.size();
  if (n == 0 || n > kMaxAppendTokens) return Error::invalid_argument;
  if (token_words.size() != n * groups_ * words_per_token_)
    return Error::invalid_argument;  // caller's buffer does not match the ids
  if (index_.find(id) != kAbsent) return Error::sequence_exists;
  return Error::none;
}

Outcome Cache::prefill(SeqId id, std::span<const uint32_t> token_ids,
                       std::span<const uint32_t> token_words, Tick now,
                       std::span<const SeqId> protected_ids) {
  evicted_.clear();
  if (const Error error = prompt_error(id, token_ids, token_words); error != Error::none) {
    return fail(error);
  }
  const uint64_t n = token_ids.size();

  find_hits(token_ids);
  const uint64_t hit_count = hit_blocks();
  // boundary_block=extra (V-B1): a prompt that ends on a block boundary takes an empty page too.
  const uint64_t extra = config_.boundary_block_extra && divider_.offset(n) == 0 ? 1 : 0;
  const uint64_t new_pages = page_count_for(n) - hit_count + extra;  // per group
  if (const Error error = make_room_with_hits(new_pages * groups_, kNone, protected_ids);
      error != Error::none) {
    return fail(error);
  }
  const uint32_t slot = create_sequence(id, now);
  Sequence& seq = slots_[slot];
  take_hits_and_pages(seq, new_pages);
  keep_windowed(seq, token_ids, token_words);

  const uint64_t hit_tokens = hit_count * config_.page_size;
  seq.token_count = hit_tokens;  // write_tokens continues from here
  token_count_ += hit_tokens;
  const uint64_t written = n - hit_tokens;
  write_tokens(seq, static_cast<uint32_t>(written),
               group_words(token_words, n, hit_tokens, written));
  if (!slot_token_ids_.empty()) {
    for (uint64_t i = 0; i < slot_mapping_.size(); ++i)  // each group's slots in turn
      slot_token_ids_[slot_mapping_[i]] = token_ids[hit_tokens + i % written];
  }
  if (!config_.register_at_release) register_blocks(seq, token_ids);
  if (config_.skip_reserved_slots) {  // packed as the default places them; an extra page is empty
    seq.fills.assign(seq.block_table.size(), config_.page_size);
    seq.fills[page_count_for(n) - 1] =
        static_cast<uint32_t>(n - uint64_t{page_count_for(n) - 1} * config_.page_size);
    if (extra != 0) seq.fills.back() = 0;
  }
  use(slot, now);
  return Outcome{Error::none, evicted_, hit_tokens, true};
}

std::vector<std::pair<PageId, std::vector<uint32_t>>> Cache::registered_keys() const {
  std::vector<std::pair<PageId, std::vector<uint32_t>>> keys;
  if (slot_token_ids_.empty()) return keys;
  for (PageId page = 0; page < config_.max_pages; ++page) {
    detail::NodeId node = prefix_.node_of(page);
    // Under duplicate_keys=kept a key's pages come together, oldest registration first: from the
    // ring's head (the key's page_of), the one a hit takes.
    if (node == detail::PrefixIndex::kNoNode || prefix_.page_of(node) != page) continue;
    std::vector<uint32_t> key;
    for (; node >= prefix_.root_count(); node = prefix_.parent(node)) {
      const auto ids = prefix_.ids(node);
      key.insert(key.begin(), ids.begin(), ids.end());
    }
    keys.emplace_back(page, key);
    for (PageId next = prefix_.duplicate_keys() ? prefix_.ring_next(page) : page;
         next != page && keys.size() <= config_.max_pages; next = prefix_.ring_next(next)) {
      keys.emplace_back(next, key);
    }
  }
  return keys;
}

std::vector<PageId> Cache::cached_queue() const {
  std::vector<PageId> queue;
  if (slot_token_ids_.empty()) return queue;
  for (PageId page = pages_.queue_head();
       page != PagePool::kNoPage && queue.size() <= config_.max_pages;
       page = pages_.queue_next(page)) {
    if (pages_.registered(page)) queue.push_back(page);  // free_queue=single: V-F3
  }
  return queue;
}

uint32_t Cache::key_group(PageId page) const {
  const detail::NodeId node =
      slot_token_ids_.empty() ? detail::PrefixIndex::kNoNode : prefix_.node_of(page);
  return node == detail::PrefixIndex::kNoNode ? 0 : prefix_.root_of(node);
}

}  // namespace kvcache
