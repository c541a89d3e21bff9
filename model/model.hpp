// The reference model of the kvtrace cache contract, v1 to v3 (docs/semantics.md): boring on
// purpose. The request lifecycle of version 3 (section 15) lives in model/lifecycle.cpp, the
// sliding windows of one group or several (sections 16 and 17) in model/window.cpp; every table
// walk in between loops over the KV groups (one without kv_groups).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "trace/config.hpp"
#include "trace/op.hpp"
#include "trace/prefix_view.hpp"
#include "trace/token.hpp"
#include "trace/trace.hpp"

namespace kv {

using ModelPageId = uint64_t;

struct ModelTestAccess;  // test-only hook (tests/model_audit_test.cpp): corrupts internals

// Invariants (checked by audit(), which recomputes them from the block tables; with kv_groups,
// section 17, a sequence has one table per group, all of one length, and "block table" below
// means each of them):
//  - a page is in pages_ iff at least one block-table entry references it (its refcount is the
//    number of such entries) or it is registered with refcount 0 (then it is in cached_queue_);
//  - used = the pages with refcount > 0, <= max_pages; free = max_pages - used;
//  - registered_ and the pages' keys match (one to one unless duplicate_keys=kept); cached_queue_
//  holds exactly the registered
//    pages with refcount 0, once each; a registered page holds its key's prompt values;
//  - no block table holds the same page twice; pages(S) >= ceil((n + reserved) / page_size);
//  - a waiting sequence (section 15) has no pages, n = 0 and reserved = 0;
//  - a swapped-out sequence has no pages and n values; cpu_pages_used_ = the sum of their
//    ceil(n / page_size), <= cpu_pages;
//  - free_queue=single: free_queue_ holds every free page once, its registered pages being
//    cached_queue_ in the same order; otherwise it is empty;
//  - token_count_ is the sum of n over all sequences (kept so stats() is O(1));
//  - sliding_window (section 16): a table's null entries (null_page) are a prefix of at most
//    skip(n) entries, and none exist without a window; a swapped-out sequence keeps only them;
//  - a registered key belongs to one group (V-G5), and its page holds that group's values;
//  - physical pages (14.8): the slots of pages_ and released_slots_ are the distinct slots below
//    next_fresh_slot_ <= max_pages.
// Page ids are never reused, so a stale reference can never alias a new page.
class Model {
 public:
  explicit Model(const Config& config);

  // Applies one op at `tick` (its 0-based index in the trace) and returns its result.
  OpResult apply(const Op& op, Tick tick);

  // duplicate_hit=any (docs/semantics.md V-K7): a hit block whose key names several pages. Each
  // page is told by where it is before the op, so the runner can find a backend's page for it: a
  // page in use by the first block-table entry holding it (entry `entry` of block_table(*holder)),
  // a page with refcount 0 by its place in prefix_cache().queue.
  struct DuplicateHit {
    struct Page {
      ModelPageId page = 0;
      std::optional<SeqId> holder;
      uint64_t entry = 0;
      uint64_t queue_position = 0;  // without a holder
    };
    uint32_t group = 0;
    uint64_t block = 0;
    std::vector<Page> pages;  // the key's pages, first registered first
  };
  // The hits `op` would take (a prefill, or a waiting sequence's reserve: V-D2) on keys registered
  // to several pages; empty unless duplicate_hit=any and duplicate_keys=kept.
  std::vector<DuplicateHit> duplicate_hits(const Op& op) const;
  // Which of a key's pages the op's hit takes for group `group`'s block `block` (V-K7).
  struct HitChoice {
    uint32_t group = 0;
    uint64_t block = 0;
    ModelPageId page = 0;
  };
  // apply() whose hits take the chosen pages under duplicate_hit=any (a choice naming a page the
  // key does not have is ignored, as are all of them under duplicate_hit=first: V-K2 decides).
  OpResult apply(const Op& op, Tick tick, std::span<const HitChoice> hit_choices);

  // The sequences the last apply() evicted to make room, in order, whatever its result: under
  // append_atomicity=token a failed append keeps the evictions of its earlier tokens (14.1).
  const std::vector<SeqId>& last_victims() const { return last_victims_; }
  StatsView stats() const;
  std::optional<InfoView> info(SeqId seq) const;
  std::vector<SeqId> sequence_ids() const;
  // Where reports print a model page: the physical page it occupies (section 14.8), below
  // max_pages, unlike its id, which is never reused.
  uint64_t page_index(ModelPageId page) const;  // null_page stays null_page
  std::vector<uint64_t> page_indices(const std::vector<ModelPageId>& pages) const;
  // S's block tables, concatenated in group order (V-G7).
  std::vector<ModelPageId> block_table(SeqId seq) const;
  // One group's stored values of S's tokens [first_token, ...), as a backend gathers them.
  struct GroupValues {
    uint32_t group = 0;
    uint64_t first_token = 0;
    std::vector<uint64_t> values;  // group_token_value(v, group) of each token
  };
  // Tokens [first_token, first_token + token_count) of S, clipped to its n and, per group, to
  // its non-null entries (V-W3), in group order (V-G2); none for an absent or swapped-out S.
  std::vector<GroupValues> read_groups(SeqId seq, uint64_t first_token = 0,
                                       uint64_t token_count = UINT64_MAX) const;
  // read_groups's values concatenated.
  std::vector<uint64_t> read_values(SeqId seq, uint64_t first_token = 0,
                                    uint64_t token_count = UINT64_MAX) const;
  std::optional<Tick> last_use(SeqId seq) const;
  // The registered keys and the cached-free queue (kvtrace 2); empty without prefix caching.
  PrefixCacheView prefix_cache() const;
  // Every broken invariant, with expected and actual values; empty when healthy.
  std::vector<std::string> audit() const;
  const Config& config() const { return config_; }

 private:
  friend struct ModelTestAccess;
  // A block's key: its group (V-G5) and the whole id prefix through the end of the block (P8).
  struct Key {
    uint32_t group = 0;
    std::vector<TokenId> ids;
    auto operator<=>(const Key&) const = default;
  };
  using Table = std::vector<ModelPageId>;
  using Tables = std::array<Table, kv_groups_max>;  // one per group; groups() of them used
  struct Page {
    uint32_t refcount = 0;
    std::vector<uint64_t> slots;  // token value per slot (page_size of them)
    std::optional<Key> key;       // set while the page is registered
    uint64_t slot = 0;            // the physical page it occupies, below max_pages (14.8)
  };
  struct Sequence {
    Tables tables;                   // every used group's table has the same length (V-G1)
    std::vector<TokenId> token_ids;  // n of them: prompt ids, or generated ids
    uint64_t token_count = 0;        // n
    bool pinned = false;
    Tick last_use = 0;
    // reserved_slots=skipped only (section 14.2): token k's (entry, slot); n of them.
    std::vector<std::pair<uint64_t, uint64_t>> places;
    // Section 15: the known ids of tokens not computed yet (a prompt's rest), the slots reserved
    // for the next tokens, and whether the next reserve looks the prompt up first.
    std::vector<TokenId> pending_ids;
    uint64_t reserved = 0;
    bool waiting = false;
    bool in_flight() const { return waiting || reserved > 0 || !pending_ids.empty(); }
    // swap_out (15.4): no device pages; its n token values wait in ceil(n/page_size) CPU pages.
    bool swapped = false;
    std::vector<uint64_t> swapped_values;
  };
  // Token k's (entry, slot): (k / page_size, k % page_size), or its place under skipped slots.
  std::pair<uint64_t, uint64_t> place(const Sequence& sequence, uint64_t token) const;
  uint32_t groups() const { return config_.groups(); }
  uint64_t entry_count(const Sequence& sequence) const { return sequence.tables[0].size(); }
  Result append_to_last_page(SeqId seq, uint32_t token_count, Tick tick, uint32_t entry,
                             const std::vector<SeqId>& protected_ids, uint32_t first_offset);

  uint64_t used_pages() const;
  uint64_t free_pages() const { return config_.max_pages - used_pages(); }
  uint64_t pages_for_tokens(uint64_t token_count) const;
  // A swapped-out sequence's CPU pages: its non-null entries among ceil(n/page_size), over every
  // group (V-W6, V-G4).
  uint64_t cpu_pages_of(const Sequence& sequence) const;
  std::vector<SeqId> eviction_order() const;
  std::optional<std::vector<SeqId>> choose_victims(uint64_t need,
                                                   const std::vector<SeqId>& protected_ids) const;
  std::optional<std::vector<SeqId>> choose_prefill_victims(
      const Tables& hits, uint64_t new_count, std::optional<SeqId> requester = std::nullopt) const;
  void take_hits(Sequence& sequence, const Tables& hits);
  void take_new_pages(Sequence& sequence, uint64_t count_per_group);
  // Whether entry `entry` of S's group g table exists and is shared (copy-on-write needs a page).
  bool shared_entry(const Sequence& sequence, uint32_t group, uint64_t entry) const;
  void copy_on_write(Sequence& sequence, uint32_t group, uint64_t entry);
  void write_token(Sequence& sequence, uint64_t token, uint64_t value);
  ModelPageId new_page();
  void release(ModelPageId page);
  void unregister(ModelPageId page);
  void register_full_blocks(Sequence& sequence, uint64_t first_block, uint64_t end_block);
  void register_blocks(Sequence& sequence, uint64_t first_block, uint64_t end_block);
  void remap(ModelPageId& entry, ModelPageId cached);
  // Every group's hit pages for a prompt (P10, V-W7, V-G6): H entries each, null where a window
  // group needs no page; H is hits[0].size().
  Tables prefix_hits(const std::vector<TokenId>& ids) const;
  // The page a hit takes among its key's pages: the first registered (V-K2), or the page
  // hit_choices_ names for the block under duplicate_hit=any (V-K7).
  ModelPageId hit_page(uint32_t group, uint64_t block, const std::vector<ModelPageId>& pages) const;
  // Where page `page` (in use) is first held: (sequence, entry of its block_table()).
  std::pair<SeqId, uint64_t> first_holder(ModelPageId page) const;
  void audit_prefix_cache(std::vector<std::string>& problems) const;
  void release_all(Sequence& sequence);
  void release_entries_beyond(Sequence& sequence, uint64_t kept_entries);
  void remove_sequence(SeqId seq);
  void remove_victims(const std::vector<SeqId>& victims);

  Result append(SeqId seq, uint32_t token_count, Tick tick, uint32_t entry,
                const std::vector<SeqId>& protected_ids);
  Result append_tokens(SeqId seq, uint32_t token_count, Tick tick, uint32_t entry,
                       const std::vector<SeqId>& protected_ids, uint32_t first_offset);
  Result alloc(SeqId seq, Tick tick);
  Result fork(SeqId src, SeqId dst, Tick tick);
  Result truncate(SeqId seq, uint32_t token_count, Tick tick);
  Result prefill(SeqId seq, const std::vector<StepEntry>& segments, Tick tick);
  Result evict();
  Result simple(const Op& op, Tick tick);
  // Section 15 (model/lifecycle.cpp).
  Result admit(SeqId seq, const std::vector<StepEntry>& segments, Tick tick);
  Result reserve(SeqId seq, uint32_t token_count, Tick tick);
  Result reserve_waiting(SeqId seq, uint32_t token_count, Tick tick);
  Result commit(SeqId seq, uint32_t token_count, Tick tick);
  Result preempt(SeqId seq);
  Result swap_out(SeqId seq);
  Result swap_in(SeqId seq, Tick tick);
  void audit_lifecycle(std::vector<std::string>& problems) const;
  // Section 16 (model/window.cpp).
  uint64_t null_entries(const Sequence& sequence, uint32_t group) const;
  uint64_t page_count(const Sequence& sequence) const;  // its non-null entries, every group
  void release_out_of_window(Sequence& sequence);
  bool window_truncate_invalid(const Sequence& sequence, uint64_t token_count) const;
  uint64_t first_hit_block(uint32_t group, uint64_t hit_blocks) const;
  bool group_accepts(const std::vector<std::optional<ModelPageId>>& registered, uint32_t group,
                     uint64_t hit_blocks) const;
  void audit_window(std::vector<std::string>& problems) const;
  // Section 14.8 (model/slots.cpp).
  uint64_t take_slot();
  void release_slot(uint64_t slot);
  void audit_slots(std::vector<std::string>& problems) const;

  Config config_;
  std::map<SeqId, Sequence> sequences_;
  std::map<ModelPageId, Page> pages_;
  ModelPageId next_page_id_ = 0;
  // Every registered key and its pages, first registered first: one page unless
  // duplicate_keys=kept (section 14.5).
  std::map<Key, std::vector<ModelPageId>> registered_;
  uint64_t registered_page_count_ = 0;     // pages over all keys of registered_: the cached= field
  std::vector<ModelPageId> cached_queue_;  // registered pages with refcount 0, oldest first
  // free_queue=single (section 14.4): every free page in release order. An unregistered free
  // page has no id (they are interchangeable), so a run of them is one item with a count.
  struct QueueItem {
    std::optional<ModelPageId> page;  // a registered page, or a run of unregistered ones
    uint64_t unregistered_count = 0;
  };
  std::deque<QueueItem> free_queue_;
  void dequeue(ModelPageId page);  // a queued registered page leaves both queues
  void audit_free_queue(std::vector<std::string>& problems) const;
  // Physical pages (14.8): those below next_fresh_slot_ have been used; the free ones among them
  // are released_slots_, the next one to reuse first.
  uint64_t next_fresh_slot_ = 0;
  std::deque<uint64_t> released_slots_;
  std::vector<SeqId> last_victims_;         // of the last apply()
  std::span<const HitChoice> hit_choices_;  // during apply(): the runner's choices (V-K7)
  uint64_t token_count_ = 0;     // sum of n over sequences_: the runner reads stats after every op
  uint64_t cpu_pages_used_ = 0;  // CPU pages of the swapped-out sequences (15.4)
};

// The K/V words of `groups`' values, token after token, as a backend gathers them (V2, P6).
inline std::vector<uint32_t> gathered_words(const Config& config,
                                            const std::vector<Model::GroupValues>& groups) {
  const uint64_t words_per_token = config.words_per_token();
  std::vector<uint32_t> words;
  for (const Model::GroupValues& group : groups) {
    for (const uint64_t value : group.values) {
      words.resize(words.size() + words_per_token);
      fill_token_words(value, config, std::span(words).last(words_per_token));
    }
  }
  return words;
}

// Replays `trace` through a fresh model and writes its results as the expectations, so the file
// is a regression test on its own. The line numbered `keep_line` (0: none) keeps its own.
void set_model_expectations(Trace& trace, uint32_t keep_line = 0);

}  // namespace kv
