// PagePool: the optimized cache's physical page allocator (dense refcounts + an O(1) free stack).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "impl/check.hpp"

namespace kvcache {

using PageId = uint32_t;

struct PagePoolTestAccess;  // test-only hook (tests/impl_test.cpp) to corrupt internals for audit()

// Owns the refcount of every physical page and a stack of the free ones. All methods are O(1);
// the stack's capacity is page_count, reserved up front, so nothing allocates after construction.
// Pages are handed out 0, 1, 2, ... from a fresh pool (easier to read in dumps), then LIFO.
//
// Invariants (Cache::audit() checks them through refcount() and free_stack()):
//  - page p is on the free stack iff refcount(p) == 0, and then exactly once (no duplicates);
//  - so used_count() + free_count() == page_count(), and the stack never outgrows its capacity.
// A refcount counts the block-table entries that reference the page; the pool itself cannot see
// the block tables, so matching them is the caller's part (and audit()'s to verify).
class PagePool {
 public:
  explicit PagePool(uint32_t page_count) : refs_(page_count, 0) {
    free_.reserve(page_count);
    for (PageId page = page_count; page > 0; --page) free_.push_back(page - 1);
  }

  // A free page with refcount 1. The caller must have checked free_count() > 0.
  PageId take() {
    KV_CHECK(!free_.empty(), "PagePool::take: no free page (caller did not make room)");
    const PageId page = free_.back();
    free_.pop_back();
    KV_CHECK(refs_[page] == 0, "PagePool::take: free stack held a referenced page (release bug)");
    refs_[page] = 1;
    return page;
  }

  // One more reference to a page already in use (fork sharing it).
  void share(PageId page) {
    KV_CHECK(refs_[page] > 0, "PagePool::share: page is free (caller shares a page it lost)");
    ++refs_[page];
  }

  // Drops one reference; the page goes back on the free stack when the last one is gone.
  void release(PageId page) {
    KV_CHECK(refs_[page] > 0, "PagePool::release: refcount already 0 (double release)");
    // Capacity is page_count and the page is not on the stack, so this push never allocates.
    if (--refs_[page] == 0) free_.push_back(page);
  }

  uint32_t refcount(PageId page) const { return refs_[page]; }
  uint32_t free_count() const { return static_cast<uint32_t>(free_.size()); }
  uint32_t used_count() const { return page_count() - free_count(); }
  uint32_t page_count() const { return static_cast<uint32_t>(refs_.size()); }
  // The free pages, bottom of the stack first (the next take() returns the last one).
  std::span<const PageId> free_stack() const { return free_; }

 private:
  friend struct PagePoolTestAccess;

  std::vector<uint32_t> refs_;  // refcount per page
  std::vector<PageId> free_;    // pages with refcount 0, each once; capacity page_count
};

}  // namespace kvcache
