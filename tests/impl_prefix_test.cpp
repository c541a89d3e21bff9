// GoogleTest tests of impl/'s prefix caching on its own: the key index (growth, hash collisions),
// prefill's argument checks, and every audit() message about keys and the cached-free queue.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <numeric>

#include "impl/kvcache.hpp"
#include "tests/audit_expect.hpp"
#include "tests/cache_test_access.hpp"
#include "tests/impl_fixture.hpp"

namespace kvcache {
namespace {

using Ids = std::vector<uint32_t>;
using Words = std::vector<uint32_t>;
using detail::NodeId;
using detail::PrefixIndex;

// Keys of one block (page_size 2) whose chained hashes (chain_hash in impl/prefix_index.hpp) are
// equal, found offline. Across parents, by a distinguished-point (Pollard rho) search: {1, 2}
// under the root, then kUnderOneTwo under it, hashes like kUnderRoot under the root. Under one
// parent (the root), from the hash's structure: the first id's multiply leaves the top 32 bits of
// the state nearly linear in it, so two first ids give equal top halves, and the second ids
// cancel the bottom halves.
const Ids kUnderRoot = {405124551, 1621286711};
const Ids kUnderOneTwo = {757004204, 68758829};
const Ids kSameParentA = {1948393716, 7};
const Ids kSameParentB = {3710001399, 3942646261};

// A prefix-caching cache over a host store; the words of each token are its token id repeated.
class PrefixTest : public CacheFixture {
 protected:
  void make(uint32_t page_size, uint32_t max_pages, bool prefix_caching = true) {
    build(Config{page_size, max_pages, Eviction::lru, Shape{}, prefix_caching});
  }
  Words words_of(const Ids& ids) const {
    Words words;
    for (const uint32_t id : ids) words.insert(words.end(), config_.shape.words_per_token(), id);
    return words;
  }
  Outcome prefill(SeqId seq, const Ids& ids) {
    return cache_->prefill(seq, ids, words_of(ids), tick_++);
  }
};

TEST_F(PrefixTest, PrefillRejectsAnEmptyPromptAndMismatchedWords) {
  make(2, 8);
  EXPECT_EQ(cache_->prefill(1, Ids{}, Words{}, 0).error, Error::invalid_argument);
  const Ids ids = {1, 2, 3};
  EXPECT_EQ(cache_->prefill(1, ids, Words(5), 0).error, Error::invalid_argument);
  const Ids too_long(kMaxAppendTokens + 1, 7);
  EXPECT_EQ(cache_->prefill(1, too_long, words_of(too_long), 0).error, Error::invalid_argument);
  EXPECT_EQ(cache_->stats().sequence_count, 0u);
  expect_healthy();
}

// More keys than the index's initial 64 buckets: it rehashes, and every key is still found.
TEST_F(PrefixTest, KeyIndexGrowsPastItsFirstBuckets) {
  make(1, 300);
  Ids prompt(200);
  std::iota(prompt.begin(), prompt.end(), 1000);
  ASSERT_TRUE(prefill(1, prompt).ok());
  EXPECT_EQ(cache_->stats().cached_keys, 200u);
  expect_healthy();
  const Outcome again = prefill(2, prompt);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.hit_tokens, 199u);  // the last token is always computed
  EXPECT_EQ(read(2), words_of(prompt));
  expect_healthy();
}

// Equal hashes, different parents: the lookup compares the parent, so the key is a miss.
TEST_F(PrefixTest, HashCollisionAcrossParentsIsAMiss) {
  make(2, 16);
  const Ids long_prompt = {1, 2, kUnderOneTwo[0], kUnderOneTwo[1], 9};
  ASSERT_TRUE(prefill(1, long_prompt).ok());
  const Ids colliding = {kUnderRoot[0], kUnderRoot[1], 9};
  const Outcome outcome = prefill(2, colliding);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome.hit_tokens, 0u);
  EXPECT_EQ(read(2), words_of(colliding));
  EXPECT_EQ(cache_->stats().cached_keys, 3u);
  expect_healthy();
}

TEST(PrefixIndexTest, CollidingKeysAreDistinctNodes) {
  PrefixIndex index(2, 4);
  const NodeId one_two = index.find_or_add(PrefixIndex::kRoot, Ids{1, 2});
  const NodeId under = index.find_or_add(one_two, kUnderOneTwo);
  EXPECT_EQ(index.hash(under), index.expected_hash(under));
  EXPECT_EQ(index.find(PrefixIndex::kRoot, kUnderRoot), PrefixIndex::kNoNode);
  const NodeId root_key = index.find_or_add(PrefixIndex::kRoot, kUnderRoot);
  EXPECT_NE(root_key, under);
  EXPECT_EQ(index.hash(root_key), index.hash(under));  // the collision itself
  EXPECT_EQ(index.times_in_bucket(root_key), 1u);
  EXPECT_EQ(index.find(one_two, kUnderOneTwo), under);
  EXPECT_EQ(index.find(PrefixIndex::kRoot, kUnderRoot), root_key);
}

// Equal hashes, one parent: the lookup compares every id, so each key finds its own node.
TEST(PrefixIndexTest, CollidingKeysUnderOneParentAreDistinctNodes) {
  PrefixIndex index(2, 4);
  const NodeId a = index.find_or_add(PrefixIndex::kRoot, kSameParentA);
  EXPECT_EQ(index.find(PrefixIndex::kRoot, kSameParentB), PrefixIndex::kNoNode);
  const NodeId b = index.find_or_add(PrefixIndex::kRoot, kSameParentB);
  EXPECT_NE(a, b);
  EXPECT_EQ(index.hash(a), index.hash(b));  // the collision itself
  EXPECT_EQ(index.find(PrefixIndex::kRoot, kSameParentA), a);
  EXPECT_EQ(index.find(PrefixIndex::kRoot, kSameParentB), b);
}

TEST(PrefixIndexTest, SmallQueries) {
  PrefixIndex index(3, 2);
  EXPECT_EQ(index.page_size(), 3u);
  EXPECT_EQ(index.expected_hash(PrefixIndex::kRoot), index.hash(PrefixIndex::kRoot));
  index.unregister(1);  // a page without a key: nothing to drop
  EXPECT_EQ(index.key_count(), 0u);
  const NodeId node = index.find_or_add(PrefixIndex::kRoot, Ids{4, 5, 6});
  index.assign(node, 1);
  EXPECT_EQ(index.key_count(), 1u);
  EXPECT_DEATH(index.assign(node, 0), "key or page already registered");
  const NodeId other = index.find_or_add(PrefixIndex::kRoot, Ids{7, 8, 9});
  EXPECT_DEATH(index.assign(other, 1), "key or page already registered");
  index.unregister(1);
  EXPECT_EQ(index.key_count(), 0u);
  EXPECT_FALSE(index.live(node));  // unregistered and childless: removed
}

TEST(PagePoolDeathTest, CachedQueueMisuse) {
  PagePool pool(2, true);
  EXPECT_DEATH(pool.take_cached(0), "page is not in the queue");
  EXPECT_DEATH(pool.set_registered(0, true), "page is free");
  const PageId page = pool.take();
  EXPECT_DEATH(pool.take_cached(page), "page is not in the queue");
}

// A key whose parent lost its page (the queue's head was taken) stays as an unregistered node
// while its child key is registered; the child is still an audit-clean key.
TEST_F(PrefixTest, ParentKeyWithoutPageKeepsItsChild) {
  make(2, 2);
  ASSERT_TRUE(prefill(1, Ids{1, 2, 3, 4}).ok());  // pages 0, 1; keys {1,2} and {1,2,3,4}
  ASSERT_TRUE(cache_->free(1).ok());              // queue: 0, 1
  ASSERT_TRUE(cache_->alloc(2, tick_++).ok());    // takes page 0 and drops its key
  EXPECT_EQ(cache_->stats().cached_keys, 1u);
  expect_healthy();
}

// Every audit() message about prefix caching, each from its own corruption of a healthy state:
// page_size 2; sequence 1 = prompt 10..14 (pages 0-2, keys on pages 0, 1 = nodes 1, 2); sequence
// 2 = prompt 20..24, freed (pages 3, 4 under nodes 3, 4, queued 4 first: free releases the last
// block first; page 5 on the free list); pages 6, 7 free.
TEST_F(PrefixTest, AuditReportsEveryPrefixCorruption) {
  using A = CacheTestAccess;
  using P = PagePoolTestAccess;
  using I = PrefixIndexTestAccess;
  const std::vector<std::pair<std::function<void(Cache&)>, std::string>> cases = {
      {[](Cache& c) { A::push_free(c, 3); }, "page 3: registered, expected in the cached queue"},
      {[](Cache& c) { P::set_queue_next(A::pool(c), 3, 100); }, "chain of page ids, actual runs"},
      {[](Cache& c) { P::set_queue_next(A::pool(c), 3, 4); }, "page 4: expected once, found again"},
      {[](Cache& c) { P::set_queue_prev(A::pool(c), 3, 7); }, "prev link expected 4, actual 7"},
      {[](Cache& c) { P::set_queue_tail(A::pool(c), 4); }, "queue: tail expected 3, actual 4"},
      {[](Cache& c) { P::set_queue_size(A::pool(c), 5); }, "size expected 2 (walked), actual 5"},
      {[](Cache& c) { P::set_registered_flag(A::pool(c), 2); }, "page 2: registered flag 1"},
      {[](Cache& c) { A::set_refcount(c, 3, 1); }, "page 3: in the cached queue expected 0"},
      {[](Cache& c) { I::set_node_of(A::prefix(c), 0, 3); }, "key node 3 expected live and naming"},
      {[](Cache& c) { A::set_slot_token_id(c, 1, 99); }, "slot 1: token id expected 11"},
      {[](Cache& c) { I::set_parent(A::prefix(c), 2, 50); }, "key node 2: parent 50 expected live"},
      {[](Cache& c) { I::set_page(A::prefix(c), 2, 6); }, "page 6 expected to name it back"},
      {[](Cache& c) { I::set_hash(A::prefix(c), 1, 12345); }, "key node 1: hash expected"},
      {[](Cache& c) { I::set_next(A::prefix(c), 1, 1); }, "expected once in its hash bucket"},
      {[](Cache& c) {
         I::set_id(A::prefix(c), 3, 0, 10);
         I::set_id(A::prefix(c), 3, 1, 11);
       },
       "key node 3: lookup by (parent, ids) expected it, actual node 1 (a duplicate key)"},
      {[](Cache& c) { I::set_child_count(A::prefix(c), 1, 5); },
       "child count expected 1, actual 5"},
      {[](Cache& c) { I::set_page(A::prefix(c), 2, PrefixIndex::kNoPage); },
       "key node 2: unregistered and childless, expected removed"},
      {[](Cache& c) { I::set_key_count(A::prefix(c), 9); }, "key count expected 4"},
      {[](Cache& c) { I::set_node_of(A::prefix(c), 0, 1000); }, "key node 1000 expected live"},
      {[](Cache& c) { I::set_dead(A::prefix(c), 1); }, "page 0: its key node 1 expected live"},
      {[](Cache& c) { I::set_dead(A::prefix(c), 1); }, "key node 2: parent 1 expected live"},
      {[](Cache& c) { I::set_page(A::prefix(c), 2, 100); }, "page 100 expected to name it back"},
  };
  for (const auto& each : cases) {
    const std::string& expected = each.second;  // not a structured binding: clang-14 lambdas
    make(2, 8);
    ASSERT_TRUE(prefill(1, Ids{10, 11, 12, 13, 14}).ok());
    ASSERT_TRUE(prefill(2, Ids{20, 21, 22, 23, 24}).ok());
    ASSERT_TRUE(cache_->free(2).ok());
    ASSERT_EQ(cache_->cached_queue(), (std::vector<PageId>{4, 3}));
    expect_healthy();
    each.first(*cache_);
    const std::vector<std::string> problems = cache_->audit();
    EXPECT_TRUE(has_problem(problems, expected));
  }
}

// A cycle in the queue: cached_queue() stops after max_pages + 1 entries instead of looping.
TEST_F(PrefixTest, CachedQueueStopsOnACycle) {
  make(2, 8);
  ASSERT_TRUE(prefill(1, Ids{20, 21, 22, 23, 24}).ok());
  ASSERT_TRUE(cache_->free(1).ok());
  PagePoolTestAccess::set_queue_next(CacheTestAccess::pool(*cache_), 0, 1);  // queue 1, 0, 1, ...
  EXPECT_EQ(cache_->cached_queue().size(), 9u);
}

TEST_F(PrefixTest, AuditWithoutPrefixCachingWantsNoKeys) {
  make(2, 8, false);
  ASSERT_TRUE(prefill(1, Ids{1, 2, 3}).ok());
  expect_healthy();
  PrefixIndexTestAccess::set_key_count(CacheTestAccess::prefix(*cache_), 1);
  std::vector<std::string> problems = cache_->audit();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0],
            "prefix caching off: expected no keys and an empty queue, actual 1 keys, 0 queued");
  PrefixIndexTestAccess::set_key_count(CacheTestAccess::prefix(*cache_), 0);
  PagePoolTestAccess::set_queue_size(CacheTestAccess::pool(*cache_), 2);
  problems = cache_->audit();
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.back().find("0 keys, 2 queued"), std::string::npos) << problems.back();
}

}  // namespace
}  // namespace kvcache
