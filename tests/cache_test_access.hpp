// Test-only access to the internals of PagePool, PrefixIndex and Cache, so tests can show audit()
// and the KV_CHECKs states the code itself never makes (corruptions).
#pragma once

#include <cstdint>

#include "impl/kvcache.hpp"

namespace kvcache {

// Test-only access to PagePool internals: a refcount or free list the pool itself never makes.
struct PagePoolTestAccess {
  static void set_refcount(PagePool& pool, PageId page, uint32_t refcount) {
    pool.refs_[page] = refcount;
  }
  // The free list with `page` at its head, taken next (the ring grows if it must: the pool never
  // could).
  static void push_free(PagePool& pool, PageId page) {
    std::vector<PageId> list = pool.free_list();
    list.insert(list.begin(), page);
    pool.free_count_ = static_cast<uint32_t>(list.size());
    pool.free_head_ = 0;
    list.resize(std::max(list.size(), pool.ring_.size()));
    pool.ring_ = list;
  }
  // The free list without its head.
  static void pop_free(PagePool& pool) {
    pool.free_head_ = pool.next(pool.free_head_);
    pool.free_count_--;
  }
  // The cached-free queue (prefix caching).
  static void set_queue_next(PagePool& pool, PageId page, PageId next) {
    pool.queue_next_[page] = next;
  }
  static void set_queue_prev(PagePool& pool, PageId page, PageId prev) {
    pool.queue_prev_[page] = prev;
  }
  static void set_queue_tail(PagePool& pool, PageId page) { pool.queue_tail_ = page; }
  static void set_queue_size(PagePool& pool, uint32_t size) { pool.queue_size_ = size; }
  static void set_registered_flag(PagePool& pool, PageId page) { pool.registered_[page] = 1; }
};

// Test-only access to PrefixIndex internals: key nodes the index itself never makes.
struct PrefixIndexTestAccess {
  using Index = detail::PrefixIndex;
  static void set_parent(Index& index, detail::NodeId node, detail::NodeId parent) {
    index.nodes_[node].parent = parent;
  }
  static void set_hash(Index& index, detail::NodeId node, uint64_t hash) {
    index.nodes_[node].hash = hash;
  }
  static void set_child_count(Index& index, detail::NodeId node, uint32_t count) {
    index.nodes_[node].child_count = count;
  }
  static void set_page(Index& index, detail::NodeId node, PageId page) {
    index.nodes_[node].page = page;
  }
  static void set_next(Index& index, detail::NodeId node, detail::NodeId next) {
    index.nodes_[node].next = next;
  }
  static void set_id(Index& index, detail::NodeId node, uint32_t i, uint32_t id) {
    index.ids_[uint64_t{node} * index.page_size_ + i] = id;
  }
  static void set_node_of(Index& index, PageId page, detail::NodeId node) {
    index.node_of_page_[page] = node;
  }
  static void set_key_count(Index& index, uint32_t count) { index.key_count_ = count; }
  static void set_dead(Index& index, detail::NodeId node) { index.nodes_[node].live = false; }
  static void set_ring_next(Index& index, PageId page, PageId next) {
    index.ring_next_[page] = next;
  }
};

// Test-only access to Cache internals, so audit() can be shown a corrupted state.
struct CacheTestAccess {
  // reserved_slots=skipped: entry `entry`'s fill of sequence `id`.
  static void set_fill(Cache& cache, SeqId id, uint32_t entry, uint32_t fill) {
    cache.slots_[cache.index_.find(id)].fills[entry] = fill;
  }
  static void clear_fills(Cache& cache, SeqId id) {
    cache.slots_[cache.index_.find(id)].fills.clear();
  }
  static void set_refcount(Cache& cache, PageId page, uint32_t refcount) {
    PagePoolTestAccess::set_refcount(cache.pages_, page, refcount);
  }
  static void push_free(Cache& cache, PageId page) {
    PagePoolTestAccess::push_free(cache.pages_, page);
  }
  static void set_last_use(Cache& cache, SeqId id, Tick tick) {
    cache.slots_[cache.index_.find(id)].last_use = tick;
  }
  static void add_tokens(Cache& cache, SeqId id, uint64_t token_count) {
    cache.slots_[cache.index_.find(id)].token_count += token_count;
  }
  // One corruption per audit() message (AuditReportsEveryCorruption) and per failed KV_CHECK.
  static uint32_t slot_of(const Cache& cache, SeqId id) { return cache.index_.find(id); }
  static void set_entry(Cache& cache, SeqId id, size_t entry, PageId page) {
    cache.slots_[slot_of(cache, id)].block_table[entry] = page;
  }
  static void pop_free(Cache& cache) { PagePoolTestAccess::pop_free(cache.pages_); }
  // The pool's unregistered free pages, the next take()'s first (empty under free_queue=single).
  static std::vector<PageId> free_list(const Cache& cache) { return cache.pages_.free_list(); }
  static void set_pending_drop(Cache& cache, PageId page) { cache.pending_drop_[page] = 1; }
  static void rename(Cache& cache, SeqId id, SeqId new_id) {
    cache.slots_[slot_of(cache, id)].id = new_id;
  }
  static void add_sequence_count(Cache& cache) { ++cache.sequence_count_; }
  static void index_extra(Cache& cache, SeqId id) { cache.index_.insert(id, 0); }
  static void push_free_slot(Cache& cache, uint32_t slot) { cache.free_slots_.push_back(slot); }
  static void set_lru_next(Cache& cache, SeqId id, uint32_t next) {
    cache.slots_[slot_of(cache, id)].lru_next = next;
  }
  static void set_lru_prev(Cache& cache, SeqId id, uint32_t prev) {
    cache.slots_[slot_of(cache, id)].lru_prev = prev;
  }
  static void set_pinned_flag(Cache& cache, SeqId id) {
    cache.slots_[slot_of(cache, id)].pinned = true;
  }
  static void set_dead(Cache& cache, SeqId id) { cache.slots_[slot_of(cache, id)].live = false; }
  static void set_lru_tail(Cache& cache, SeqId id) { cache.lru_tail_ = slot_of(cache, id); }
  // Prefix caching: the page pool, the key index and the token id stored per slot.
  static PagePool& pool(Cache& cache) { return cache.pages_; }
  static detail::PrefixIndex& prefix(Cache& cache) { return cache.prefix_; }
  static void set_slot_token_id(Cache& cache, uint64_t slot, uint32_t id) {
    cache.slot_token_ids_[slot] = id;
  }
  // Sliding window: the recorded null entries and the words kept for them.
  static void set_null_entries(Cache& cache, SeqId id, uint32_t count) {
    cache.slots_[slot_of(cache, id)].null_entries = count;
  }
  static void clear_windowed_words(Cache& cache, SeqId id) {
    cache.slots_[slot_of(cache, id)].windowed_words.clear();
  }
  // KV groups: one group's table and what it keeps.
  static void pop_group_entry(Cache& cache, SeqId id, uint32_t group) {
    cache.slots_[slot_of(cache, id)].group(group).block_table.pop_back();
  }
  static void set_group_entry(Cache& cache, SeqId id, uint32_t group, size_t entry, PageId page) {
    cache.slots_[slot_of(cache, id)].group(group).block_table[entry] = page;
  }
  static void set_group_null_entries(Cache& cache, SeqId id, uint32_t group, uint32_t count) {
    cache.slots_[slot_of(cache, id)].group(group).null_entries = count;
  }
  static void clear_group_windowed_words(Cache& cache, SeqId id, uint32_t group) {
    cache.slots_[slot_of(cache, id)].group(group).windowed_words.clear();
  }
  static void clear_windowed_ids(Cache& cache, SeqId id) {
    cache.slots_[slot_of(cache, id)].windowed_ids.clear();
  }
  // Re-parents a registered page's key node under another group's root.
  static void move_key_to_root(Cache& cache, PageId page, detail::NodeId root) {
    PrefixIndexTestAccess::set_parent(cache.prefix_, cache.prefix_.node_of(page), root);
  }
};

}  // namespace kvcache
