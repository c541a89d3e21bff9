// PagePool: the optimized cache's physical page allocator (dense refcounts, an O(1) free list of
// unregistered pages and an intrusive queue of registered free pages for prefix caching; or, under
// free_queue=single, that one queue holding every free page).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "impl/check.hpp"

namespace kvcache {

using PageId = uint32_t;

struct PagePoolTestAccess;  // test-only hook (tests/cache_test_access.hpp): corrupts internals

// Owns the refcount of every physical page and the free ones: a free list of unregistered pages
// and, with prefix caching, the cached-free queue (registered pages with refcount 0, oldest first,
// doubly linked through per-page arrays so a hit removes one from the middle in O(1)). All methods
// are O(1); the free list is a ring of page_count entries allocated up front, so nothing allocates
// after construction. A fresh pool hands out pages 0, 1, 2, ...; a released page goes to the free
// list's head (lifo, the default) or its tail (`fifo`), docs/semantics.md section 14.8; when the
// list is empty, the queue's head.
//
// free_queue=single (section 14.4, vLLM V1's FreeKVCacheBlockQueue; prefix caching only): the free
// list stays empty and the queue holds every free page, registered or not, in release order (at
// construction pages 0, 1, 2, ...). take() takes its head (a registered head keeps its flag: the
// caller unregisters it); a hit takes a page from wherever it is. First in, first out.
//
// Invariants (Cache::audit() checks them through refcount(), free_list() and cached_queue()):
//  - page p is on the free list iff refcount(p) == 0 and p is unregistered, and then once
//    (single: the free list is empty);
//  - p is in the queue iff refcount(p) == 0 and p is registered (single: whatever its flag), and
//    then once;
//  - so used_count() + free_count() == page_count(), and the list never outgrows its ring.
// A refcount counts the block-table entries that reference the page; the pool itself cannot see
// the block tables, so matching them is the caller's part (and audit()'s to verify).
class PagePool {
 public:
  static constexpr PageId kNoPage = UINT32_MAX;

  // `cached_queue`: keep registered pages in the cached-free queue (prefix caching); without it the
  // queue arrays are not allocated and no page is ever registered.
  // `fifo`: released pages queue behind the free ones (section 14.8's reuse_order=fifo).
  // `single`: with `cached_queue`, one queue of every free page (free_queue=single); `fifo` is then
  // moot (the queue is first in, first out).
  explicit PagePool(uint32_t page_count, bool cached_queue = false, bool fifo = false,
                    bool single = false)
      : refs_(page_count, 0),
        ring_(page_count),
        free_count_(page_count),
        order_(cached_queue && single ? kSingle
               : fifo                 ? kFifo
                                      : kLifo) {
    for (PageId page = 0; page < page_count; ++page) ring_[page] = page;
    if (cached_queue) {
      registered_.assign(page_count, 0);
      queue_prev_.assign(page_count, kNoPage);
      queue_next_.assign(page_count, kNoPage);
    }
    if (order_ == kSingle) {  // every page in the queue, in page order; the free list empty
      free_count_ = 0;
      for (PageId page = 0; page < page_count; ++page) append_to_queue(page);
    }
  }

  // A free page with refcount 1: an unregistered one if any, else the queue's head, which stays
  // marked registered (the caller unregisters its key). The caller must have made room. Under
  // free_queue=single the free list is always empty: the queue's head, registered or not.
  PageId take() {
    if (free_count_ == 0) {
      KV_CHECK(queue_head_ != kNoPage, "PagePool::take: no free page (caller did not make room)");
      const PageId head = queue_head_;
      KV_CHECK(refs_[head] == 0, "PagePool::take: queue held a referenced page (release bug)");
      unlink(head);
      refs_[head] = 1;
      return head;
    }
    const PageId page = ring_[free_head_];
    free_head_ = next(free_head_);
    --free_count_;
    KV_CHECK(refs_[page] == 0, "PagePool::take: free list held a referenced page (release bug)");
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

  // Drops one reference; the page goes back on the free list when the last one is gone (single:
  // the queue's tail, registered or not).
  void release(PageId page) {
    KV_CHECK(refs_[page] > 0, "PagePool::release: refcount already 0 (double release)");
    if (--refs_[page] == 0) {
      if (registered(page)) {
        append_to_queue(page);
      } else {
        push_free(page);
      }
    }
  }

  uint32_t refcount(PageId page) const { return refs_[page]; }
  uint32_t free_count() const { return free_count_ + queue_size_; }
  uint32_t queue_size() const { return queue_size_; }
  uint32_t used_count() const { return page_count() - free_count(); }
  uint32_t page_count() const { return static_cast<uint32_t>(refs_.size()); }
  // free_queue=single: the queue holds every free page (the free list none).
  bool single_queue() const { return order_ == kSingle; }
  // The unregistered free pages, the next take()'s first (allocates: for audits and tests).
  std::vector<PageId> free_list() const {
    std::vector<PageId> out;
    out.reserve(free_count_);  // one allocation: audit() asks for it at every whole-state check
    for (uint32_t i = 0, at = free_head_; i < free_count_; ++i, at = next(at))
      out.push_back(ring_[at]);
    return out;
  }
  // The cached-free queue: head (next reused) and the links, for walking and auditing.
  PageId queue_head() const { return queue_head_; }
  PageId queue_tail() const { return queue_tail_; }
  PageId queue_next(PageId page) const { return queue_next_[page]; }
  PageId queue_prev(PageId page) const { return queue_prev_[page]; }

 private:
  friend struct PagePoolTestAccess;

  uint32_t next(uint32_t at) const { return at + 1 == ring_.size() ? 0 : at + 1; }

  // The ring holds page_count entries and the page is not on the list (release() checked its
  // refcount), so there is room. Under free_queue=single it joins the queue's tail instead.
  void push_free(PageId page) {
    if (order_ != kLifo) {  // one test on the default (lifo) path, as with a plain fifo flag
      if (order_ == kSingle) {
        append_to_queue(page);
        return;
      }
      const uint64_t tail = uint64_t{free_head_} + free_count_;
      ring_[tail >= ring_.size() ? tail - ring_.size() : tail] = page;
    } else {
      free_head_ = free_head_ == 0 ? static_cast<uint32_t>(ring_.size() - 1) : free_head_ - 1;
      ring_[free_head_] = page;
    }
    ++free_count_;
  }

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
  // The free list: unregistered pages with refcount 0, each once, free_count_ of them in a ring
  // from free_head_ (the next one taken).
  std::vector<PageId> ring_;
  uint32_t free_head_ = 0;
  uint32_t free_count_ = 0;
  // Where a released unregistered page goes: the list's head, its tail, or the one queue's tail.
  enum Order : uint8_t { kLifo, kFifo, kSingle };
  Order order_ = kLifo;
  // Prefix caching only (empty otherwise): registered flag and queue links per page.
  std::vector<uint8_t> registered_;
  std::vector<PageId> queue_prev_, queue_next_;
  PageId queue_head_ = kNoPage, queue_tail_ = kNoPage;
  uint32_t queue_size_ = 0;
};

}  // namespace kvcache
