// PagePool: the optimized cache's physical page allocator (dense refcounts, an O(1) free stack of
// unregistered pages and an intrusive queue of registered free pages for prefix caching).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "impl/check.hpp"

namespace kvcache {

using PageId = uint32_t;

struct PagePoolTestAccess;  // test-only hook (tests/cache_test_access.hpp): corrupts internals

// Owns the refcount of every physical page and the free ones: a stack of unregistered free pages
// and, with prefix caching, the cached-free queue (registered pages with refcount 0, oldest first,
// doubly linked through per-page arrays so a hit removes one from the middle in O(1)). All methods
// are O(1); the stack's capacity is page_count, reserved up front, so nothing allocates after
// construction. Pages are handed out 0, 1, 2, ... from a fresh pool, then LIFO, then the queue.
//
// Invariants (Cache::audit() checks them through refcount(), free_stack() and cached_queue()):
//  - page p is on the free stack iff refcount(p) == 0 and p is unregistered, and then once;
//  - p is in the queue iff refcount(p) == 0 and p is registered, and then once;
//  - so used_count() + free_count() == page_count(), and the stack never outgrows its capacity.
// A refcount counts the block-table entries that reference the page; the pool itself cannot see
// the block tables, so matching them is the caller's part (and audit()'s to verify).
class PagePool {
 public:
  static constexpr PageId kNoPage = UINT32_MAX;

  // `cached_queue`: keep registered pages in the cached-free queue (prefix caching); without it the
  // queue arrays are not allocated and no page is ever registered.
  explicit PagePool(uint32_t page_count, bool cached_queue = false) : refs_(page_count, 0) {
    free_.reserve(page_count);
    for (PageId page = page_count; page > 0; --page) free_.push_back(page - 1);
    if (cached_queue) {
      registered_.assign(page_count, 0);
      queue_prev_.assign(page_count, kNoPage);
      queue_next_.assign(page_count, kNoPage);
    }
  }

  // A free page with refcount 1: an unregistered one if any, else the queue's head, which stays
  // marked registered (the caller unregisters its key). The caller must have made room.
  PageId take() {
    if (free_.empty()) {
      KV_CHECK(queue_head_ != kNoPage, "PagePool::take: no free page (caller did not make room)");
      const PageId head = queue_head_;
      take_cached(head);
      return head;
    }
    const PageId page = free_.back();
    free_.pop_back();
    KV_CHECK(refs_[page] == 0, "PagePool::take: free stack held a referenced page (release bug)");
    refs_[page] = 1;
    return page;
  }

  // A prefix hit on a registered page with refcount 0: it leaves the queue with refcount 1.
  void take_cached(PageId page) {
    KV_CHECK(refs_[page] == 0 && registered(page),
             "PagePool::take_cached: page is not in the queue (caller's hit is stale)");
    unlink(page);
    refs_[page] = 1;
  }

  // Marks a page registered or not. Only pages in use change (a queued page keeps its key until
  // it is taken), so the free structures stay as they are.
  void set_registered(PageId page, bool registered) {
    KV_CHECK(refs_[page] > 0,
             "PagePool::set_registered: page is free (caller registers a lost page)");
    registered_[page] = registered ? 1 : 0;
  }
  bool registered(PageId page) const { return !registered_.empty() && registered_[page] != 0; }

  // One more reference to a page already in use (fork sharing it).
  void share(PageId page) {
    KV_CHECK(refs_[page] > 0, "PagePool::share: page is free (caller shares a page it lost)");
    ++refs_[page];
  }

  // Drops one reference; the page goes back on the free stack when the last one is gone.
  void release(PageId page) {
    KV_CHECK(refs_[page] > 0, "PagePool::release: refcount already 0 (double release)");
    // Capacity is page_count and the page is not on the stack, so this push never allocates.
    if (--refs_[page] == 0) {
      if (registered(page)) {
        append_to_queue(page);
      } else {
        free_.push_back(page);
      }
    }
  }

  uint32_t refcount(PageId page) const { return refs_[page]; }
  uint32_t free_count() const { return static_cast<uint32_t>(free_.size()) + queue_size_; }
  uint32_t queue_size() const { return queue_size_; }
  uint32_t used_count() const { return page_count() - free_count(); }
  uint32_t page_count() const { return static_cast<uint32_t>(refs_.size()); }
  // The free pages, bottom of the stack first (the next take() returns the last one).
  std::span<const PageId> free_stack() const { return free_; }
  // The cached-free queue: head (next reused) and the links, for walking and auditing.
  PageId queue_head() const { return queue_head_; }
  PageId queue_tail() const { return queue_tail_; }
  PageId queue_next(PageId page) const { return queue_next_[page]; }
  PageId queue_prev(PageId page) const { return queue_prev_[page]; }

 private:
  friend struct PagePoolTestAccess;

  void append_to_queue(PageId page) {
    queue_prev_[page] = queue_tail_;
    queue_next_[page] = kNoPage;
    (queue_tail_ == kNoPage ? queue_head_ : queue_next_[queue_tail_]) = page;
    queue_tail_ = page;
    ++queue_size_;
  }

  void unlink(PageId page) {
    const PageId prev = queue_prev_[page];
    const PageId next = queue_next_[page];
    (prev == kNoPage ? queue_head_ : queue_next_[prev]) = next;
    (next == kNoPage ? queue_tail_ : queue_prev_[next]) = prev;
    queue_prev_[page] = queue_next_[page] = kNoPage;
    --queue_size_;
  }

  std::vector<uint32_t> refs_;  // refcount per page
  std::vector<PageId> free_;  // unregistered pages with refcount 0, each once; capacity page_count
  // Prefix caching only (empty otherwise): registered flag and queue links per page.
  std::vector<uint8_t> registered_;
  std::vector<PageId> queue_prev_, queue_next_;
  PageId queue_head_ = kNoPage, queue_tail_ = kNoPage;
  uint32_t queue_size_ = 0;
};

}  // namespace kvcache
