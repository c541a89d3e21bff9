// Public API of the optimized paged KV cache: config, results, the PageStore data plane, and Cache.
#pragma once

#include <array>
#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "impl/layout.hpp"
#include "impl/page_pool.hpp"
#include "impl/prefix_index.hpp"
#include "impl/seq_index.hpp"

namespace kvcache {

using SeqId = uint32_t;  // PageId comes from impl/page_pool.hpp
using Tick = uint64_t;

// The contract's closed error set (kvtrace v1); `none` means success.
enum class Error : uint8_t {
  none,
  capacity_exceeded,
  unknown_sequence,
  sequence_exists,
  invalid_argument,
  nothing_to_evict
};
enum class Eviction : uint8_t { none, lru };

// The contract's result word for an error ("ok" for none).
std::string_view error_name(Error error);

// Limits from the contract; an append carries at most kMaxAppendTokens tokens.
inline constexpr uint32_t kMaxPageSize = 65536;
inline constexpr uint32_t kMaxPages = 16777216;
inline constexpr uint32_t kMaxKvHeads = 256;
inline constexpr uint32_t kMaxHeadDim = 1024;
inline constexpr uint32_t kMaxLayers = 256;
inline constexpr uint32_t kMaxAppendTokens = 1048576;
inline constexpr uint32_t kMaxGroups = 8;  // KV groups (docs/semantics.md V-G0)

// Data-plane shape: each token stores K and V vectors of kv_heads*head_dim 32-bit words per layer.
struct Shape {
  uint32_t kv_heads = 1, head_dim = 2, layers = 1;
  uint32_t words_per_token() const { return kv_heads * head_dim * layers * 2; }
};

struct Config {
  uint32_t page_size;
  uint32_t max_pages;
  Eviction eviction = Eviction::none;
  Shape shape;
  bool prefix_caching = false;  // register full prompt blocks by key and reuse them (prefill)
  // kvtrace 3's rejected_slots=released: a commit releases the pages beyond its computed tokens.
  bool release_rejected_slots = false;
  uint32_t cpu_pages = 0;  // kvtrace 3's CPU pool for swap_out (0: none)
  // Section 14's variants: boundary_block=extra (a prompt ending on a block boundary takes an
  // empty page too) and register_at=release (full prompt blocks registered when their sequence is
  // freed, evicted or preempted, not when they fill).
  bool boundary_block_extra = false;
  bool register_at_release = false;
  // Section 16's sliding window W (0: full attention, else 2..kMaxAppendTokens): a growing
  // sequence's blocks that every later token has slid past give their pages back (null entries).
  uint32_t sliding_window = 0;
  // Section 17's KV groups: 0 (one group, windowed by sliding_window) or 2..kMaxGroups block tables
  // per sequence over the one pool, group g with window group_windows[g] (0: full attention).
  // With groups every token's words come once per group, group-major: all of group 0's tokens,
  // then group 1's, ..., each group's words made from its own token values (V-G2).
  uint32_t group_count = 0;
  std::array<uint32_t, kMaxGroups> group_windows{};
  // More of section 14's variants, both about prefix caching. decode_caching=on (V-D1, V-D2): the
  // blocks append and commit fill are registered too, keyed by the token ids their caller passes
  // (a block holding a token without an id is never registered). duplicate_keys=kept (V-K1..V-K4):
  // a block whose key is registered already is registered again; a hit takes the key's oldest page,
  // and reusing or writing one page drops the key from it alone; cached_keys counts pages.
  bool decode_caching = false;
  bool keep_duplicate_keys = false;
  // duplicate_hit=any (V-K7), with keep_duplicate_keys: a hit takes the key's most recently
  // registered page instead of its oldest (any of them is right; the harness follows the choice).
  bool hit_latest_duplicate = false;
  // duplicate_keys=remapped (V-K5, V-K6; vLLM V0's promote_to_immutable_block): a block that
  // becomes full while its key is registered to page Q moves onto Q (Q gains a reference, leaving
  // the cached-free queue if it waited there) and its own page is released; blocks in block order,
  // each block's groups in group order. Not with keep_duplicate_keys (config_problem); under
  // register_at_release it does nothing (nothing is registered while a sequence lives).
  bool remap_duplicate_keys = false;
  // free_queue=single (V-F1..V-F3; vLLM V1's FreeKVCacheBlockQueue; prefix caching only): one
  // queue of every free page, registered or not, in release order; a new page is its head (a
  // registered head loses its key). First in, first out whatever reuse_fifo says.
  bool single_free_queue = false;
  // reserved_slots=skipped (V-R1..V-R5): each entry holds `fill` tokens packed from slot 0, and an
  // append writes only into the last entry and new ones after it, so a free slot of an earlier
  // entry stays empty. Not with prefix caching, a window or KV groups (config_problem); the
  // lifecycle ops are invalid_argument under it (V-L9).
  bool skip_reserved_slots = false;
  // reuse_order=fifo (section 14.8): a released page queues behind the free ones; else lifo.
  bool reuse_fifo = false;
  uint32_t groups() const { return group_count == 0 ? 1 : group_count; }
};

// A block-table entry out of the sliding window: no page (docs/semantics.md V-W2). Null entries
// are a prefix of a sequence's table.
inline constexpr PageId kNullPage = UINT32_MAX;

// Empty when `config` is inside the contract's ranges, else a message naming the bad field.
// The memory budget is the caller's policy and is not checked here.
std::string config_problem(const Config& config);

struct Outcome {
  Error error = Error::none;
  std::span<const SeqId> evicted;  // victims in eviction order; valid until the next mutating call
  uint64_t hit_tokens = 0;         // prefill: tokens served from registered blocks
  bool looked_up = false;          // prefill, or reserve of a waiting sequence: hit_tokens holds
  bool ok() const { return error == Error::none; }
};

struct SeqInfo {
  uint64_t token_count;
  uint32_t page_count;  // non-null block-table entries, reserved pages included
  bool pinned;
  Tick last_use;
};

struct Stats {
  uint32_t used_pages, free_pages;
  uint32_t sequence_count;
  uint64_t token_count;         // sum of n over sequences; shared tokens count once per sequence
  uint32_t cached_keys = 0;     // registered keys (prefix caching)
  uint64_t cpu_pages_used = 0;  // CPU pages holding swapped-out sequences
};

// The data plane. The cache calls it once per op with everything that op moves, so a device
// store can batch each call into one kernel launch.
class PageStore {
 public:
  virtual ~PageStore() = default;
  // token_words holds slots.size() tokens, each words_per_token words laid out
  // [layer][K=0,V=1][head][dim]. slot = page * page_size + offset (vLLM's slot mapping).
  virtual void write_tokens(std::span<const uint64_t> slots,
                            std::span<const uint32_t> token_words) = 0;
  // Copy-on-write: copies slots [0, slot_count) of `src` into `dst`.
  virtual void copy_page(PageId src, PageId dst, uint32_t slot_count) = 0;
  // Writes token_count tokens, in the same per-token layout, read through `block_table`.
  virtual void gather(std::span<const PageId> block_table, uint64_t token_count,
                      std::span<uint32_t> out_words) = 0;
};

// Host memory store: one contiguous pool of up to max_pages * page_size * words_per_token words,
// grown (zeroed) to the highest page touched so far, since pages are handed out lowest first and a
// short run (a fuzz input) touches a few of them. Layout (impl/layout.hpp's PoolLayout, shared with
// gpu/), outermost first: page, layer, K/V, slot, head, dim. So one (page, layer, K|V) block is
// page_size * kv_heads * head_dim contiguous words, and a token's K (or V) vector for one layer is
// kv_heads * head_dim contiguous words. Invariant: pool_.size() is a whole number of pages, at most
// max_pages; a page beyond it has never been written and reads as zeros.
class HostPageStore final : public PageStore {
 public:
  explicit HostPageStore(const Config& config);
  void write_tokens(std::span<const uint64_t> slots,
                    std::span<const uint32_t> token_words) override;
  void copy_page(PageId src, PageId dst, uint32_t slot_count) override;
  void gather(std::span<const PageId> block_table, uint64_t token_count,
              std::span<uint32_t> out_words) override;

 private:
  // Word offset of (page, layer, K|V, slot 0, head 0, dim 0).
  uint64_t block_offset(uint64_t page, uint32_t layer, uint32_t kv) const {
    return PoolLayout{page_size_, layers_, vector_words_}.block_offset(page, layer, kv);
  }
  void cover(uint64_t page);  // grows pool_ to hold `page`

  uint32_t page_size_;
  PageDivider divider_;
  uint32_t max_pages_;
  uint32_t layers_;
  uint32_t vector_words_;  // kv_heads * head_dim: one K or V vector of one layer
  std::vector<uint32_t> pool_;
};

struct CacheTestAccess;  // test-only hook (tests/cache_test_access.hpp): corrupts internals

// The paged KV cache: page allocation, copy-on-write and LRU eviction per the kvtrace v1 contract.
// Not thread-safe: guard each Cache (and its PageStore) with one external lock.
//
// Invariants (audit() checks every one):
//  - pages_.refcount(p) == number of block-table entries referencing p; pages_ keeps its own
//    invariants (p is on its free list iff its refcount is 0, exactly once; used + free ==
//    max_pages).
//  - no block table holds a page twice; pages(S) >= ceil(n(S) / page_size).
//  - the LRU list holds exactly the live unpinned sequences, strictly ascending by (last_use, id),
//    with consistent prev/next links; pinned sequences are not in it.
//  - index_ maps each live sequence's id to its slot and nothing else; token_count_ == sum of n.
//  - pending_drop_ is all zero between calls (eviction planning undoes its marks).
//  - lifecycle: pages(S) >= ceil((n + reserved) / page_size); a waiting sequence has no pages, no
//    tokens and no reservation; pending_words holds words_per_token words per pending id.
//  - sliding window: a table's kNullPage entries are its first null_entries entries, at most
//    skip(n) of them; windowed_words/ids hold their tokens. A swapped-out table holds only them.
//  - KV groups: every sequence has G tables of one length (swapped out: each holds its nulls);
//    a page is in one group's tables only, and its key (if any) is that group's.
class Cache {
 public:
  Cache(const Config& config, PageStore& store);

  Outcome alloc(SeqId id, Tick now);
  // token_words: token_count * words_per_token words. protected_ids: extra sequences eviction
  // must not touch (a decode step's members); the requester is always protected.
  // token_ids (Config::decode_caching only, else ignored): the tokens' ids, token_count of them, or
  // empty for tokens without ids (never keyed).
  Outcome append(SeqId id, uint32_t token_count, std::span<const uint32_t> token_words, Tick now,
                 std::span<const SeqId> protected_ids = {},
                 std::span<const uint32_t> token_ids = {});
  Outcome fork(SeqId src, SeqId dst, Tick now);
  Outcome free(SeqId id);
  Outcome truncate(SeqId id, uint64_t token_count, Tick now);
  Outcome pin(SeqId id);
  Outcome unpin(SeqId id);
  Outcome touch(SeqId id, Tick now);
  // The words of the tokens S's pages hold (z * page_size .. n-1, z its null entries); uses S.
  // With groups: group 0's such tokens, then group 1's from its own z, ...
  Outcome read(SeqId id, std::vector<uint32_t>& out_words, Tick now);
  Outcome evict();  // first in eviction order, nobody protected
  // Creates `id` from a prompt (prefix caching, kvtrace 2): token_ids are the n prompt ids
  // (n in 1..kMaxAppendTokens), token_words their n * words_per_token words. Leading full blocks
  // whose keys are registered are reused (at most (n-1)/page_size of them) and not written;
  // Outcome::hit_tokens says how many tokens that covered. Errors: invalid_argument,
  // sequence_exists, capacity_exceeded. Without prefix caching nothing is reused or registered.
  Outcome prefill(SeqId id, std::span<const uint32_t> token_ids,
                  std::span<const uint32_t> token_words, Tick now,
                  std::span<const SeqId> protected_ids = {});

  // The request lifecycle (kvtrace 3, docs/semantics.md section 15; impl/lifecycle.cpp).
  // admit: `id` waits with a prompt (ids and words as for prefill), no pages.
  Outcome admit(SeqId id, std::span<const uint32_t> token_ids,
                std::span<const uint32_t> token_words, Tick now);
  // reserve: pages for the next token_count tokens; a waiting sequence looks its prompt up first
  // (Outcome::hit_tokens, with looked_up set).
  Outcome reserve(SeqId id, uint32_t token_count, Tick now);
  // commit: the first token_count reserved tokens are written. The sequence's pending tokens (a
  // prompt's rest, or tokens a preempt took back) come first with their own words; the others
  // take theirs from generated_words, which holds token_count tokens' words (offset i at i), and
  // (Config::decode_caching only) their ids from generated_ids (empty, or token_count ids).
  Outcome commit(SeqId id, uint32_t token_count, std::span<const uint32_t> generated_words,
                 Tick now, std::span<const uint32_t> generated_ids = {});
  // preempt: pages released, the computed tokens kept (ids and words) to be recomputed.
  Outcome preempt(SeqId id);
  // swap_out: the tokens copied to host memory (one gather) in ceil(n / page_size) pages of the
  // CPU pool, the device pages released. swap_in: device pages again, the tokens written back.
  Outcome swap_out(SeqId id);
  Outcome swap_in(SeqId id, Tick now);

  std::optional<SeqInfo> info(SeqId id) const;
  Stats stats() const;
  // Group `group`'s table; empty if absent; kNullPage: null entry.
  std::span<const PageId> block_table(SeqId id, uint32_t group = 0) const;
  // Config::skip_reserved_slots: each entry's token count, in block-table order (empty otherwise).
  std::span<const uint32_t> entry_fills(SeqId id) const;
  uint32_t group_count() const { return groups_; }  // block tables per sequence (1 without groups)
  std::vector<SeqId> sequence_ids() const;          // any order
  // Every broken invariant as a message with expected vs actual; empty when healthy.
  std::vector<std::string> audit() const;
  // Prefix caching: each registered page with its key (every token id from position 0 through
  // the end of its block), and the cached-free queue, oldest first. O(keys x key length).
  std::vector<std::pair<PageId, std::vector<uint32_t>>> registered_keys() const;
  std::vector<PageId> cached_queue() const;
  uint32_t key_group(PageId page) const;  // the group of a registered page's key (V-G5)

 private:
  friend struct CacheTestAccess;
  static constexpr uint32_t kNone = detail::SeqIndex::kEmptySlot;  // "no slot" in links, lookups

  // One KV group's block table of a sequence. Sliding window: the leading null entries (z), and
  // the words of their tokens 0 .. z*page_size-1, which a recompute after preempt still needs (an
  // engine keeps the token ids and reruns the model).
  struct Table {
    boost::container::small_vector<PageId, 8> block_table;
    uint32_t null_entries = 0;
    std::vector<uint32_t> windowed_words;
  };
  // One sequence, stored in slots_ and reused after free. block_table keeps its heap capacity
  // across reuse, so steady-state churn does not allocate. Its own Table is group 0's; groups 1 ..
  // G-1 (kv_groups) live in other_groups, so the one-group path keeps its layout (Head first: the
  // fields every op and LRU walk reads share the first cache line, as before groups).
  struct SequenceHead {
    SeqId id = 0;
    bool live = false;
    bool pinned = false;
    uint64_t token_count = 0;
    Tick last_use = 0;
    uint64_t protect_epoch = 0;  // == protect_epoch_ while protected in the current eviction plan
    uint32_t lru_prev = kNone, lru_next = kNone;
  };
  struct Sequence : SequenceHead, Table {
    // The lifecycle (impl/lifecycle.cpp): tokens known but not computed (ids, words_per_token_
    // words each), slots reserved after the computed ones, and whether the next reserve looks up.
    std::vector<uint32_t> pending_ids;
    std::vector<uint32_t> pending_words;
    uint64_t reserved = 0;
    bool waiting = false;
    bool in_flight() const { return waiting || reserved > 0 || !pending_ids.empty(); }
    // Swapped out: no pages; its tokens' words (and ids, with prefix caching) in host memory. It
    // stays in the LRU list, but eviction passes it by.
    bool swapped = false;
    std::vector<uint32_t> swapped_words;
    std::vector<uint32_t> swapped_ids;
    // Sliding window: the ids (kGeneratedToken without prefix caching) of tokens 0 ..
    // Z*page_size-1, Z the most null entries of any group: a recompute and later keys need them.
    std::vector<uint32_t> windowed_ids;
    std::vector<Table> other_groups;  // groups 1 .. G-1
    // reserved_slots=skipped only: each entry's tokens, packed from slot 0 (V-R1).
    std::vector<uint32_t> fills;
    Table& group(uint32_t g) { return g == 0 ? *this : other_groups[g - 1]; }
    const Table& group(uint32_t g) const { return g == 0 ? *this : other_groups[g - 1]; }
  };
  // Calls f on each table of `seq`, group 0 first: with one group, one plain call (the hot path).
  template <class S, class F>
  static void for_each_table(S& seq, F&& f) {
    f(seq.group(0));
    for (auto& table : seq.other_groups) f(table);
  }
  // The pages a sequence's tokens hold: ceil(n / page_size) less its null entries, every group
  // (swap, V-W6, V-G4).
  uint32_t held_pages(const Sequence& seq) const {
    uint32_t pages = 0;
    for (uint32_t g = 0; g < groups_; ++g)
      pages += page_count_for(seq.token_count) - seq.group(g).null_entries;
    return pages;
  }
  // The tokens of a table's null entries (0 .. z*page_size-1): gone from its pages (V-W3).
  uint64_t null_tokens(const Table& table) const {
    return uint64_t{table.null_entries} * config_.page_size;
  }

  Outcome fail(Error error) const { return Outcome{error, {}}; }
  Outcome success() const { return Outcome{Error::none, evicted_}; }
  uint32_t page_count_for(uint64_t token_count) const { return divider_.pages_for(token_count); }
  // skip(n) (V-W1): the leading entries of a sequence of n tokens that no later token attends to.
  uint32_t out_of_window(uint64_t token_count, uint32_t group = 0) const {
    const uint64_t window = windows_[group];
    return window == 0 || token_count < window
               ? 0
               : static_cast<uint32_t>(divider_.page(token_count - window + 1));
  }
  bool lru_less(uint32_t a, uint32_t b) const;

  uint32_t create_sequence(SeqId id, Tick now);
  void destroy_sequence(uint32_t slot);
  void use(uint32_t slot, Tick now);
  void release_tail(Sequence& seq, uint32_t keep_page_count);
  // V-W4 before growth; a call only when some group has a window, so full attention pays nothing.
  void release_out_of_window(Sequence& seq) {
    if (any_window_) release_windows(seq);
  }
  void release_windows(Sequence& seq);
  void release_group_out_of_window(Sequence& seq, uint32_t group);
  void keep_windowed(Sequence& seq, std::span<const uint32_t> ids, std::span<const uint32_t> words);
  void write_tokens(Sequence& seq, uint32_t token_count, std::span<const uint32_t> token_words);
  void map_slots(const Table& table, uint64_t first_token, uint64_t token_count, uint64_t at);
  std::span<const uint32_t> group_words(std::span<const uint32_t> words, uint64_t token_count,
                                        uint64_t first, uint64_t count);
  uint64_t copy_on_write_need(const Sequence& seq) const;
  void copy_shared_pages(Sequence& seq);
  void copy_page_of(Table& table, uint64_t token_count, uint64_t entry);
  Outcome reserve_waiting(uint32_t slot, uint32_t token_count, Tick now);
  // reserved_slots=skipped (impl/packed.cpp).
  Outcome append_packed(uint32_t slot, SeqId id, uint32_t token_count,
                        std::span<const uint32_t> token_words, Tick now,
                        std::span<const SeqId> protected_ids);
  void fork_packed(const Sequence& from, Sequence& to);
  uint32_t packed_entries_kept(Sequence& seq, uint64_t token_count);
  void gather_packed(const Sequence& seq, std::span<uint32_t> out_words);
  void audit_packed(std::vector<std::string>& problems) const;
  void record_generated_ids(Sequence& seq, uint32_t token_count,
                            std::span<const uint32_t> token_ids);
  void register_committed(Sequence& seq, uint64_t first_block, uint64_t end_block);
  void register_group_committed(const Sequence& seq, uint32_t group, uint64_t first_block,
                                uint64_t end_block);
  Error prompt_error(SeqId id, std::span<const uint32_t> token_ids,
                     std::span<const uint32_t> token_words) const;
  Error make_room_with_hits(uint64_t new_pages, uint32_t requester,
                            std::span<const SeqId> protected_ids);
  void take_hits_and_pages(Sequence& seq, uint64_t new_pages);
  void copy_out(const Sequence& seq, uint32_t group, std::vector<uint32_t>& words,
                std::vector<uint32_t>& ids);
  void erase_pending(Sequence& seq, uint64_t token_count);
  void audit_lifecycle(std::vector<std::string>& problems) const;
  void audit_group_lifecycle(const Sequence& seq, uint32_t group,
                             std::vector<std::string>& problems) const;
  void audit_window(std::vector<std::string>& problems) const;

  void lru_unlink(uint32_t slot);
  void lru_insert(uint32_t slot);
  void lru_link_after(uint32_t prev, uint32_t slot);

  Error make_room(uint64_t need, uint32_t requester, std::span<const SeqId> protected_ids);
  bool plan_victims(uint64_t need, uint32_t requester, std::span<const SeqId> protected_ids);
  uint32_t mark_victim(const Sequence& victim);
  void unmark_victims();

  void audit_pages(std::vector<std::string>& problems) const;
  std::vector<uint32_t> table_references(std::vector<std::string>& problems) const;
  void audit_sequences(std::vector<std::string>& problems) const;
  void audit_lru(std::vector<std::string>& problems) const;
  void audit_prefix(std::vector<std::string>& problems) const;
  void audit_prefix_nodes(std::vector<std::string>& problems) const;
  std::vector<uint32_t> page_groups() const;
  detail::NodeId key_root(detail::NodeId node) const;
  bool key_names(detail::NodeId node, PageId page) const;

  // Prefix caching (impl/prefill.cpp).
  PageId take_page();                 // pages_.take(), unregistering a page taken from the queue
  void unregister_page(PageId page);  // drops the page's key, if any
  uint32_t find_hits(std::span<const uint32_t> token_ids);  // fills hit_pages_; returns the node
  // The page a hit on `node`'s key takes: its oldest (the ring's head), or under
  // hit_latest_duplicate its newest (the ring's tail). kNoPage when the key has none.
  PageId hit_page(detail::NodeId node) const {
    const PageId head = prefix_.page_of(node);
    if (!config_.hit_latest_duplicate || !prefix_.duplicate_keys() ||
        head == detail::PrefixIndex::kNoPage)
      return head;
    return prefix_.ring_prev(head);
  }
  uint32_t find_group_hits(std::span<const uint32_t> token_ids);
  uint64_t window_blocks(uint32_t group) const;
  uint64_t leading_run(uint32_t group) const;
  bool every_group_accepts(uint64_t hit) const;
  void walk_group_keys(std::span<const uint32_t> token_ids, uint32_t group, uint64_t limit);
  void register_blocks(Sequence& seq, std::span<const uint32_t> token_ids);
  void register_group_blocks(const Sequence& seq, uint32_t group,
                             std::span<const uint32_t> token_ids, uint32_t node);
  // duplicate_keys=remapped: notes group g's block `block` for a remap onto `cached`; apply_remaps
  // then moves every noted entry, blocks in block order, each block's groups in group order.
  bool remaps_duplicates() const {
    return config_.remap_duplicate_keys && !config_.register_at_release;
  }
  void note_remap(uint32_t group, uint64_t block, PageId cached) {
    remaps_.push_back(Remap{block, group, cached});
  }
  void apply_remaps(Sequence& seq);
  uint64_t hit_blocks() const { return hit_pages_.size() / groups_; }
  bool is_hit(PageId page) const { return !hit_mark_.empty() && hit_mark_[page] != 0; }

  Config config_;
  PageDivider divider_;
  PageStore& store_;
  uint32_t words_per_token_;  // one group's words per token (the PageStore's unit)
  uint32_t groups_;           // block tables per sequence (V-G1)
  std::array<uint32_t, kMaxGroups> windows_{};  // each group's window (0: full attention)
  bool any_window_ = false;

  PagePool pages_;                      // refcounts, the free list and the cached-free queue
  std::vector<uint32_t> pending_drop_;  // eviction planning scratch: simulated ref drops per page

  std::vector<Sequence> slots_;
  std::vector<uint32_t> free_slots_;  // dead slots to reuse
  detail::SeqIndex index_;
  uint32_t lru_head_ = kNone, lru_tail_ = kNone;  // oldest (next victim) .. newest
  uint32_t sequence_count_ = 0;
  uint64_t token_count_ = 0;
  uint64_t protect_epoch_ = 0;
  uint64_t cpu_pages_used_ = 0;  // sum of ceil(n / page_size) over swapped-out sequences

  // Prefix caching (empty when off): the key index, each slot's token id (kGeneratedToken for
  // generated tokens), and the hit marks eviction planning reads (hit pages are not "freed").
  static constexpr uint32_t kGeneratedToken = UINT32_MAX;
  detail::PrefixIndex prefix_;
  std::vector<uint32_t> slot_token_ids_;
  std::vector<uint8_t> hit_mark_;
  // The hit: G * H pages, group-major, each group's in block order; a window group's first blocks
  // are kNullPage. hit_nodes_: each group's node of block H-1 (its root when H = 0).
  std::vector<PageId> hit_pages_;
  std::array<uint32_t, kMaxGroups> hit_nodes_{};
  // find_group_hits: per group, each block's registered page or kNoPage, and its node.
  std::array<std::vector<PageId>, kMaxGroups> walk_pages_;
  std::array<std::vector<uint32_t>, kMaxGroups> walk_nodes_;
  // walk_runs_[g][b]: how many registered blocks end at block b in group g's walk.
  std::array<std::vector<uint64_t>, kMaxGroups> walk_runs_;

  // Per-call scratch, reused so the hot path does not allocate once warmed up.
  std::vector<SeqId> evicted_;
  std::vector<uint32_t> victim_slots_;
  std::vector<uint64_t> slot_mapping_;
  std::vector<uint32_t> commit_words_;
  std::vector<uint32_t> group_words_;  // group_words: each group's slice of a G-group buffer
  // duplicate_keys=remapped: the entries a registration pass moves onto cached pages.
  struct Remap {
    uint64_t block;
    uint32_t group;
    PageId cached;
  };
  std::vector<Remap> remaps_;
};

}  // namespace kvcache
