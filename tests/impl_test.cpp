// GoogleTest tests of the optimized cache (impl/) on its own: each op's rules, COW, eviction,
// audit.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <unordered_map>

#include "impl/kvcache.hpp"
#include "tests/audit_expect.hpp"
#include "tests/cache_test_access.hpp"
#include "tests/impl_fixture.hpp"

namespace kvcache {

namespace {

using Words = std::vector<uint32_t>;

// Unique token values: derived from a tag and the offset, K and V differ in the top bit.
Words make_words(uint32_t tag, uint32_t token_count, const Shape& shape) {
  Words words;
  const uint32_t vector_words = shape.kv_heads * shape.head_dim;
  for (uint32_t t = 0; t < token_count; ++t)
    for (uint32_t layer = 0; layer < shape.layers; ++layer)
      for (uint32_t kv = 0; kv < 2; ++kv)
        for (uint32_t w = 0; w < vector_words; ++w)
          words.push_back((kv << 31) | (tag << 20) | (t << 10) | (layer << 5) | w);
  return words;
}

Words concat(Words a, const Words& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// One cache over a host store, with helpers that take the tick from an op counter.
class CacheTest : public CacheFixture {
 protected:
  void make(uint32_t page_size, uint32_t max_pages, Eviction eviction = Eviction::none,
            Shape shape = {}) {
    build(Config{page_size, max_pages, eviction, shape});
  }
  Outcome append(SeqId id, uint32_t token_count, std::span<const SeqId> protect = {}) {
    const Tick tick = next();
    last_words_ = make_words(static_cast<uint32_t>(tick), token_count, config_.shape);
    return cache_->append(id, token_count, last_words_, tick, protect);
  }
  std::vector<SeqId> evicted(const Outcome& outcome) {
    return {outcome.evicted.begin(), outcome.evicted.end()};
  }

  Words last_words_;
};

using V = std::vector<SeqId>;

// A deliberately naive second reading of the contract (sorts for every eviction, copies refcounts
// to simulate), used to cross-check results, victims and observable state of random op streams.
class NaiveCache {
 public:
  struct Seq {
    std::vector<uint32_t> pages;
    uint64_t n = 0;
    bool pinned = false;
    Tick last = 0;
  };
  NaiveCache(uint32_t page_size, uint32_t max_pages, Eviction eviction)
      : page_size_(page_size), eviction_(eviction), refs_(max_pages, 0) {}

  std::pair<Error, V> alloc(SeqId id, Tick now) {
    V victims;
    if (Error error = make_room(1, {id}, victims); error != Error::none) return {error, {}};
    Seq& seq = touch_or_create(id, now);
    seq.pages.push_back(take());
    return {Error::none, victims};
  }
  std::pair<Error, V> append(SeqId id, uint32_t count, Tick now, std::vector<SeqId> protect) {
    V victims;
    const auto it = seqs_.find(id);
    const uint64_t n = it == seqs_.end() ? 0 : it->second.n;
    const uint64_t pages = it == seqs_.end() ? 0 : it->second.pages.size();
    const uint64_t want = (n + count + page_size_ - 1) / page_size_;
    const uint64_t entry = n / page_size_;
    const bool shared = entry < pages && refs_[it->second.pages[entry]] > 1;
    protect.push_back(id);
    const uint64_t need = (want > pages ? want - pages : 0) + (shared ? 1 : 0);
    if (Error error = make_room(need, protect, victims); error != Error::none) return {error, {}};
    Seq& seq = touch_or_create(id, now);
    if (entry < seq.pages.size() && refs_[seq.pages[entry]] > 1) {
      --refs_[seq.pages[entry]];
      seq.pages[entry] = take();
    }
    while (seq.pages.size() < want) seq.pages.push_back(take());
    seq.n += count;
    return {Error::none, victims};
  }
  Error fork(SeqId src, SeqId dst, Tick now) {
    if (!seqs_.count(src)) return Error::unknown_sequence;
    if (src == dst || seqs_.count(dst)) return Error::sequence_exists;
    Seq copy = seqs_[src];
    copy.pages.resize((copy.n + page_size_ - 1) / page_size_);
    for (uint32_t page : copy.pages) ++refs_[page];
    copy.pinned = false;
    copy.last = now;
    seqs_[src].last = now;
    seqs_[dst] = copy;
    return Error::none;
  }
  Error free(SeqId id) {
    if (!seqs_.count(id)) return Error::unknown_sequence;
    erase(id);
    return Error::none;
  }
  Error truncate(SeqId id, uint64_t count, Tick now) {
    if (!seqs_.count(id)) return Error::unknown_sequence;
    Seq& seq = seqs_[id];
    if (count > seq.n) return Error::invalid_argument;
    while (seq.pages.size() > (count + page_size_ - 1) / page_size_) {
      --refs_[seq.pages.back()];
      seq.pages.pop_back();
    }
    seq.n = count;
    seq.last = now;
    return Error::none;
  }
  Error set_pin(SeqId id, bool pinned) {
    if (!seqs_.count(id)) return Error::unknown_sequence;
    seqs_[id].pinned = pinned;
    return Error::none;
  }
  Error use(SeqId id, Tick now) {
    if (!seqs_.count(id)) return Error::unknown_sequence;
    seqs_[id].last = now;
    return Error::none;
  }
  std::pair<Error, V> evict() {
    const V order = eviction_order();
    if (order.empty()) return {Error::nothing_to_evict, {}};
    erase(order[0]);
    return {Error::none, {order[0]}};
  }
  const std::map<SeqId, Seq>& seqs() const { return seqs_; }
  uint32_t used() const {
    return static_cast<uint32_t>(
        std::count_if(refs_.begin(), refs_.end(), [](uint32_t r) { return r > 0; }));
  }

 private:
  V eviction_order() const {
    std::vector<std::pair<Tick, SeqId>> keys;
    for (const auto& [id, seq] : seqs_)
      if (!seq.pinned) keys.push_back({seq.last, id});
    std::sort(keys.begin(), keys.end());
    V order;
    for (const auto& key : keys) order.push_back(key.second);
    return order;
  }
  Error make_room(uint64_t need, const std::vector<SeqId>& protect, V& victims) {
    const uint64_t free_count = refs_.size() - used();
    if (need <= free_count) return Error::none;
    if (eviction_ == Eviction::none) return Error::capacity_exceeded;
    std::vector<uint32_t> refs = refs_;
    uint64_t freed = 0;
    for (const SeqId id : eviction_order()) {
      if (std::find(protect.begin(), protect.end(), id) != protect.end()) continue;
      victims.push_back(id);
      for (uint32_t page : seqs_.at(id).pages) freed += --refs[page] == 0 ? 1 : 0;
      if (free_count + freed >= need) break;
    }
    if (free_count + freed < need) return Error::capacity_exceeded;
    for (const SeqId id : victims) erase(id);
    return Error::none;
  }
  Seq& touch_or_create(SeqId id, Tick now) {
    Seq& seq = seqs_[id];
    seq.last = now;
    return seq;
  }
  uint32_t take() {
    const auto it = std::find(refs_.begin(), refs_.end(), 0u);
    *it = 1;
    return static_cast<uint32_t>(it - refs_.begin());
  }
  void erase(SeqId id) {
    for (uint32_t page : seqs_[id].pages) --refs_[page];
    seqs_.erase(id);
  }

  uint64_t page_size_;
  Eviction eviction_;
  std::vector<uint32_t> refs_;
  std::map<SeqId, Seq> seqs_;
};

TEST_F(CacheTest, AllocCreatesSequenceWithOneReservedPage) {
  make(4, 3);
  EXPECT_TRUE(cache_->alloc(1, next()).ok());
  EXPECT_TRUE(cache_->alloc(1, next()).ok());
  const SeqInfo info = *cache_->info(1);
  EXPECT_EQ(info.token_count, 0u);
  EXPECT_EQ(info.page_count, 2u);
  EXPECT_EQ(info.last_use, 1u);
  EXPECT_EQ(cache_->stats().used_pages, 2u);
  expect_healthy();
}

TEST_F(CacheTest, CapacityAtMaxPagesWithoutEviction) {
  make(4, 3);
  for (SeqId id = 1; id <= 3; ++id) EXPECT_TRUE(cache_->alloc(id, next()).ok());
  const Stats stats = cache_->stats();
  EXPECT_EQ(stats.used_pages, 3u);
  EXPECT_EQ(stats.free_pages, 0u);
  EXPECT_EQ(stats.sequence_count, 3u);
  EXPECT_EQ(cache_->alloc(4, next()).error, Error::capacity_exceeded);
  EXPECT_FALSE(cache_->info(4).has_value());  // a failed op creates nothing
  expect_healthy();
}

TEST_F(CacheTest, AppendCountIsCheckedBeforeExistence) {
  make(4, 8);
  EXPECT_EQ(append(7, 0).error, Error::invalid_argument);
  const Tick tick = next();
  const Words words = make_words(1, 1, config_.shape);
  EXPECT_EQ(cache_->append(7, kMaxAppendTokens + 1, words, tick).error, Error::invalid_argument);
  EXPECT_EQ(cache_->append(7, 2, words, tick).error, Error::invalid_argument);  // short buffer
  EXPECT_FALSE(cache_->info(7).has_value());
}

TEST_F(CacheTest, AppendFillsReservedPagesThenGrows) {
  make(4, 8);
  ASSERT_TRUE(cache_->alloc(1, next()).ok());
  ASSERT_TRUE(append(1, 4).ok());
  const Words first = last_words_;
  EXPECT_EQ(cache_->info(1)->page_count, 1u);
  ASSERT_TRUE(append(1, 5).ok());
  EXPECT_EQ(cache_->info(1)->page_count, 3u);
  EXPECT_EQ(cache_->info(1)->token_count, 9u);
  EXPECT_EQ(read(1), concat(first, last_words_));
  EXPECT_EQ(cache_->stats().token_count, 9u);
  expect_healthy();
}

TEST_F(CacheTest, AppendNeedCountsOnlyMissingPages) {
  make(4, 2);
  ASSERT_TRUE(append(1, 3).ok());
  EXPECT_TRUE(append(1, 5).ok());  // 8 tokens in 2 pages: needs one more
  EXPECT_EQ(append(1, 1).error, Error::capacity_exceeded);
  EXPECT_EQ(cache_->info(1)->token_count, 8u);
  expect_healthy();
}

TEST_F(CacheTest, ForkChecksSourceThenDestination) {
  make(4, 8);
  ASSERT_TRUE(cache_->alloc(1, next()).ok());
  ASSERT_TRUE(cache_->alloc(2, next()).ok());
  EXPECT_EQ(cache_->fork(9, 1, next()).error, Error::unknown_sequence);
  EXPECT_EQ(cache_->fork(1, 2, next()).error, Error::sequence_exists);
  EXPECT_EQ(cache_->fork(1, 1, next()).error, Error::sequence_exists);
  EXPECT_EQ(cache_->fork(9, 9, next()).error, Error::unknown_sequence);
}

TEST_F(CacheTest, ForkSharesOnlyPagesHoldingTokens) {
  make(4, 8);
  ASSERT_TRUE(append(1, 5).ok());
  ASSERT_TRUE(cache_->alloc(1, next()).ok());  // reserved third page
  const Tick fork_tick = next();
  ASSERT_TRUE(cache_->fork(1, 2, fork_tick).ok());
  const auto src = cache_->block_table(1);
  const auto dst = cache_->block_table(2);
  ASSERT_EQ(dst.size(), 2u);
  EXPECT_TRUE(std::equal(dst.begin(), dst.end(), src.begin()));
  EXPECT_EQ(cache_->info(2)->token_count, 5u);
  EXPECT_EQ(cache_->info(1)->last_use, fork_tick);
  EXPECT_EQ(cache_->info(2)->last_use, fork_tick);
  EXPECT_EQ(cache_->stats().used_pages, 3u);    // fork never allocates
  EXPECT_EQ(cache_->stats().token_count, 10u);  // shared tokens count per sequence
  expect_healthy();
}

TEST_F(CacheTest, CopyOnWriteCarriesExistingTokens) {
  make(4, 8, Eviction::none, Shape{2, 3, 2});
  ASSERT_TRUE(append(1, 6).ok());
  const Words prefix = last_words_;
  ASSERT_TRUE(cache_->fork(1, 2, next()).ok());
  ASSERT_TRUE(append(2, 1).ok());  // entry 1 is shared: copied before the write
  const Words child_tail = last_words_;
  EXPECT_NE(cache_->block_table(1)[1], cache_->block_table(2)[1]);
  EXPECT_EQ(cache_->block_table(1)[0], cache_->block_table(2)[0]);
  EXPECT_EQ(cache_->stats().used_pages, 3u);
  ASSERT_TRUE(append(1, 2).ok());  // now private to 1: written in place
  const Words parent_tail = last_words_;
  EXPECT_EQ(cache_->stats().used_pages, 3u);
  EXPECT_EQ(read(1), concat(prefix, parent_tail));
  EXPECT_EQ(read(2), concat(prefix, child_tail));
  expect_healthy();
}

TEST_F(CacheTest, CopyOnWriteNeedsAPage) {
  make(4, 2);
  ASSERT_TRUE(append(1, 6).ok());
  ASSERT_TRUE(cache_->fork(1, 2, next()).ok());
  EXPECT_EQ(append(2, 1).error, Error::capacity_exceeded);
  ASSERT_TRUE(append(1, 6).ok() == false);                       // 12 tokens need 1 more page + COW
  EXPECT_EQ(cache_->truncate(1, 4, next()).error, Error::none);  // entry 1 dropped by 1
  EXPECT_TRUE(append(2, 1).ok());  // entry 1 now private to 2: no copy, no page
  expect_healthy();
}

TEST_F(CacheTest, FullPageBoundaryNeedsNoCopy) {
  make(4, 8);
  ASSERT_TRUE(append(1, 8).ok());
  ASSERT_TRUE(cache_->fork(1, 2, next()).ok());
  ASSERT_TRUE(append(2, 1).ok());
  EXPECT_EQ(cache_->stats().used_pages, 3u);  // one new page, no copy
  expect_healthy();
}

TEST_F(CacheTest, TruncateChecksExistenceThenCount) {
  make(4, 8);
  EXPECT_EQ(cache_->truncate(1, 99, next()).error, Error::unknown_sequence);
  ASSERT_TRUE(append(1, 3).ok());
  EXPECT_EQ(cache_->truncate(1, 4, next()).error, Error::invalid_argument);
  EXPECT_EQ(cache_->info(1)->token_count, 3u);
}

TEST_F(CacheTest, TruncateReleasesReservedPagesToo) {
  make(4, 8);
  ASSERT_TRUE(append(1, 6).ok());
  const Words words = last_words_;
  ASSERT_TRUE(cache_->alloc(1, next()).ok());
  ASSERT_TRUE(cache_->truncate(1, 3, next()).ok());
  EXPECT_EQ(cache_->info(1)->page_count, 1u);
  EXPECT_EQ(read(1), Words(words.begin(), words.begin() + 3 * 2 * 2));
  ASSERT_TRUE(cache_->truncate(1, 0, next()).ok());
  EXPECT_EQ(cache_->info(1)->page_count, 0u);
  EXPECT_TRUE(read(1).empty());
  EXPECT_EQ(cache_->stats().used_pages, 0u);
  expect_healthy();
}

TEST_F(CacheTest, FreeReleasesPinnedSequence) {
  make(4, 8);
  ASSERT_TRUE(append(1, 5).ok());
  ASSERT_TRUE(cache_->pin(1).ok());
  EXPECT_TRUE(cache_->free(1).ok());
  EXPECT_EQ(cache_->free(1).error, Error::unknown_sequence);
  EXPECT_EQ(cache_->stats().used_pages, 0u);
  EXPECT_EQ(cache_->stats().token_count, 0u);
  expect_healthy();
}

TEST_F(CacheTest, UnknownSequenceErrors) {
  make(4, 8);
  Words out;
  EXPECT_EQ(cache_->pin(1).error, Error::unknown_sequence);
  EXPECT_EQ(cache_->unpin(1).error, Error::unknown_sequence);
  EXPECT_EQ(cache_->touch(1, next()).error, Error::unknown_sequence);
  EXPECT_EQ(cache_->read(1, out, next()).error, Error::unknown_sequence);
  EXPECT_EQ(cache_->evict().error, Error::nothing_to_evict);
  EXPECT_TRUE(cache_->block_table(1).empty());
}

TEST_F(CacheTest, PinDoesNotUseButTouchDoes) {
  make(4, 8);
  ASSERT_TRUE(cache_->alloc(1, next()).ok());
  next();
  ASSERT_TRUE(cache_->pin(1).ok());
  EXPECT_EQ(cache_->info(1)->last_use, 0u);
  EXPECT_TRUE(cache_->info(1)->pinned);
  ASSERT_TRUE(cache_->touch(1, 5).ok());
  EXPECT_EQ(cache_->info(1)->last_use, 5u);
  expect_healthy();
}

TEST_F(CacheTest, EvictFollowsLastUseThenSmallerId) {
  make(4, 8);  // explicit evict works under eviction=none too
  ASSERT_TRUE(cache_->alloc(5, next()).ok());
  ASSERT_TRUE(cache_->fork(5, 3, next()).ok());  // 3 and 5 share a tick
  ASSERT_TRUE(cache_->alloc(4, next()).ok());
  ASSERT_TRUE(cache_->alloc(1, next()).ok());
  ASSERT_TRUE(cache_->touch(4, next()).ok());
  V order;
  for (Outcome outcome = cache_->evict(); outcome.ok(); outcome = cache_->evict()) {
    order.push_back(outcome.evicted[0]);
    expect_healthy();
  }
  EXPECT_EQ(order, (V{3, 5, 1, 4}));
}

TEST_F(CacheTest, SameTickUsesInDescendingIdOrderStayOrdered) {
  make(4, 16);
  for (SeqId id = 1; id <= 6; ++id) ASSERT_TRUE(cache_->alloc(id, next()).ok());
  const Tick step = next();
  for (SeqId id = 6; id >= 2; --id) ASSERT_TRUE(cache_->touch(id, step).ok());
  expect_healthy();
  V order;
  for (Outcome outcome = cache_->evict(); outcome.ok(); outcome = cache_->evict())
    order.push_back(outcome.evicted[0]);
  EXPECT_EQ(order, (V{1, 2, 3, 4, 5, 6}));
}

TEST_F(CacheTest, PinnedNeverEvictedAndUnpinRestoresOrder) {
  make(4, 3, Eviction::lru);
  for (SeqId id = 1; id <= 3; ++id) ASSERT_TRUE(cache_->alloc(id, next()).ok());
  ASSERT_TRUE(cache_->pin(1).ok());
  ASSERT_TRUE(cache_->pin(2).ok());
  ASSERT_TRUE(cache_->pin(3).ok());
  EXPECT_EQ(cache_->alloc(4, next()).error, Error::capacity_exceeded);
  EXPECT_EQ(cache_->evict().error, Error::nothing_to_evict);
  ASSERT_TRUE(cache_->unpin(3).ok());
  ASSERT_TRUE(cache_->unpin(1).ok());
  expect_healthy();
  const Outcome outcome = cache_->alloc(4, next());
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(evicted(outcome), (V{1}));  // 1 has the older last_use although unpinned later
  EXPECT_TRUE(cache_->info(2).has_value());
  expect_healthy();
}

TEST_F(CacheTest, EvictionTakesShortestPrefixSkippingProtected) {
  make(1, 6, Eviction::lru);
  for (SeqId id = 1; id <= 4; ++id) ASSERT_TRUE(append(id, id == 4 ? 3 : 1).ok());
  const SeqId protect[] = {2, 99};
  const Outcome outcome = append(5, 3, protect);  // need 3, free 0
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(evicted(outcome), (V{1, 3, 4}));  // 2 is protected; 1 and 3 free only 2
  EXPECT_EQ(cache_->stats().free_pages, 2u);  // freed 5, took 3
  expect_healthy();
}

TEST_F(CacheTest, VictimSharingAllPagesFreesNothingButIsInPrefix) {
  make(4, 3, Eviction::lru);
  ASSERT_TRUE(append(1, 6).ok());                // tick 0: pages a, b
  ASSERT_TRUE(cache_->fork(1, 2, next()).ok());  // tick 1: 1 and 2 share a, b
  ASSERT_TRUE(cache_->alloc(3, next()).ok());    // tick 2: page c
  const Words before = read(2);                  // tick 3: 2 becomes newest
  const Outcome outcome = append(2, 1);          // need 1 (COW); 1 frees nothing, 3 frees c
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(evicted(outcome), (V{1, 3}));
  // Eviction left 2's page unshared, so it was written in place: no copy was made.
  EXPECT_EQ(cache_->stats().used_pages, 2u);
  EXPECT_EQ(read(2), concat(before, last_words_));
  expect_healthy();
}

TEST_F(CacheTest, FailedEvictionChangesNothing) {
  make(4, 4, Eviction::lru);
  ASSERT_TRUE(append(1, 8).ok());
  ASSERT_TRUE(cache_->fork(1, 2, next()).ok());
  ASSERT_TRUE(cache_->alloc(3, next()).ok());
  ASSERT_TRUE(cache_->alloc(4, next()).ok());
  ASSERT_TRUE(cache_->pin(4).ok());
  const Stats before = cache_->stats();
  std::map<SeqId, std::pair<SeqInfo, std::vector<PageId>>> snapshot;
  for (SeqId id : cache_->sequence_ids()) {
    const auto table = cache_->block_table(id);
    snapshot[id] = {*cache_->info(id), {table.begin(), table.end()}};
  }
  // Needs 3 pages: evicting 1 and 3 frees only 1 (2 still holds a, b); 4 is pinned.
  const Outcome outcome = append(2, 9);
  EXPECT_EQ(outcome.error, Error::capacity_exceeded);
  EXPECT_TRUE(outcome.evicted.empty());
  EXPECT_EQ(cache_->stats().used_pages, before.used_pages);
  EXPECT_EQ(cache_->stats().token_count, before.token_count);
  for (const auto& [id, state] : snapshot) {
    const SeqInfo info = *cache_->info(id);
    EXPECT_EQ(info.last_use, state.first.last_use) << "sequence " << id;
    EXPECT_EQ(info.token_count, state.first.token_count) << "sequence " << id;
    const auto table = cache_->block_table(id);
    EXPECT_EQ(std::vector<PageId>(table.begin(), table.end()), state.second) << "sequence " << id;
  }
  expect_healthy();
  EXPECT_EQ(evicted(cache_->evict()), (V{1}));  // the LRU order was not disturbed
}

TEST_F(CacheTest, AuditNamesACorruptedRefcount) {
  make(4, 4);
  ASSERT_TRUE(append(1, 3).ok());
  const PageId page = cache_->block_table(1)[0];
  CacheTestAccess::set_refcount(*cache_, page, 5);
  const std::vector<std::string> problems = cache_->audit();
  ASSERT_FALSE(problems.empty());
  const std::string expected = "page " + std::to_string(page) + ": refcount expected 1";
  EXPECT_TRUE(std::any_of(problems.begin(), problems.end(), [&](const std::string& problem) {
    return problem.find(expected) != std::string::npos &&
           problem.find("actual 5") != std::string::npos;
  })) << problems[0];
}

TEST_F(CacheTest, AuditNamesFreeListLruAndTokenCorruption) {
  make(4, 4);
  ASSERT_TRUE(append(1, 3).ok());
  ASSERT_TRUE(append(2, 3).ok());
  CacheTestAccess::push_free(*cache_, cache_->block_table(1)[0]);
  CacheTestAccess::set_last_use(*cache_, 1, 100);
  CacheTestAccess::add_tokens(*cache_, 2, 10);
  const std::vector<std::string> problems = cache_->audit();
  auto mentions = [&](const std::string& text) { return has_problem(problems, text); };
  EXPECT_TRUE(mentions("on the free list expected only at refcount 0"));
  EXPECT_TRUE(mentions("used + free expected 4"));
  EXPECT_TRUE(mentions("LRU list: sequence 2: expected after sequence 1"));
  EXPECT_TRUE(mentions("sequence 2: pages expected >= ceil(n/page_size) = 4"));
  EXPECT_TRUE(mentions("token count expected"));
}

// Random ops against a shadow of each sequence's token words: every read must match, and audit()
// must stay empty. Eviction results are taken from the cache and applied to the shadow.
TEST_F(CacheTest, RandomOpsKeepDataAndInvariants) {
  for (const Eviction policy : {Eviction::lru, Eviction::none}) {
    make(3, 24, policy, Shape{1, 2, 2});
    std::mt19937 rng(policy == Eviction::lru ? 7 : 11);
    std::unordered_map<SeqId, Words> shadow;
    uint64_t eviction_count = 0, failure_count = 0;
    auto pick = [&](uint32_t bound) { return static_cast<uint32_t>(rng() % bound); };
    const uint32_t words_per_token = config_.shape.words_per_token();
    for (int op = 0; op < 20000; ++op) {
      const SeqId id = pick(12);
      const Outcome outcome = [&]() -> Outcome {
        switch (pick(10)) {
          case 0:
            return cache_->alloc(id, next());
          case 1:
          case 2: {
            const SeqId protect[] = {pick(12)};
            const Outcome result = append(id, 1 + pick(7), protect);
            if (result.ok()) shadow[id] = concat(shadow[id], last_words_);
            return result;
          }
          case 3: {
            const SeqId dst = pick(12);
            const Outcome result = cache_->fork(id, dst, next());
            if (result.ok()) shadow[dst] = shadow[id];
            return result;
          }
          case 4:
            return cache_->free(id);
          case 5: {
            const uint64_t keep = pick(10);
            const Outcome result = cache_->truncate(id, keep, next());
            if (result.ok()) shadow[id].resize(keep * words_per_token);
            return result;
          }
          case 6:
            return pick(2) ? cache_->pin(id) : cache_->unpin(id);
          case 7:
            return cache_->evict();
          default: {
            Words out;
            const Outcome result = cache_->read(id, out, next());
            if (result.ok()) {
              EXPECT_EQ(out, shadow[id]) << "op " << op << " sequence " << id;
            }
            return result;
          }
        }
      }();
      for (const SeqId victim : outcome.evicted) shadow.erase(victim);
      eviction_count += outcome.evicted.size();
      failure_count += outcome.ok() ? 0 : 1;
      for (auto it = shadow.begin(); it != shadow.end();)
        it = cache_->info(it->first) ? std::next(it) : shadow.erase(it);
      if (op % 97 == 0) expect_healthy();
      ASSERT_FALSE(HasFailure()) << "op " << op;
    }
    expect_healthy();
    EXPECT_GT(eviction_count, 1000u);  // the mix must reach full caches, not just the easy paths
    EXPECT_GT(failure_count, 1000u);
  }
}

// Random ops on the cache and on NaiveCache: errors, victims, and every sequence's info agree.
TEST_F(CacheTest, RandomOpsAgreeWithNaiveReading) {
  for (const Eviction policy : {Eviction::lru, Eviction::none}) {
    make(2, 16, policy);
    NaiveCache naive(2, 16, policy);
    std::mt19937 rng(policy == Eviction::lru ? 5 : 6);
    auto pick = [&](uint32_t bound) { return static_cast<uint32_t>(rng() % bound); };
    Tick tick = 0;
    for (int op = 0; op < 40000; ++op) {
      const SeqId id = pick(10);
      const SeqId other = pick(10);
      std::pair<Error, V> want;
      Outcome got;
      // Ops often share a tick, as a step's entries do, to exercise the (last_use, id) tie-break.
      tick += pick(3) == 0 ? 1 : 0;
      tick_ = tick;  // the cache-side helpers take their tick from next()
      switch (pick(11)) {
        case 0:
          want = naive.alloc(id, tick);
          got = cache_->alloc(id, next());
          break;
        case 1:
        case 2:
        case 3: {
          const uint32_t count = 1 + pick(5);
          const SeqId protect[] = {other};
          want = naive.append(id, count, tick, {other});
          got = append(id, count, protect);
          break;
        }
        case 4:
          want.first = naive.fork(id, other, tick);
          got = cache_->fork(id, other, next());
          break;
        case 5:
          want.first = naive.free(id);
          got = cache_->free(id);
          next();
          break;
        case 6: {
          const uint64_t keep = pick(8);
          want.first = naive.truncate(id, keep, tick);
          got = cache_->truncate(id, keep, next());
          break;
        }
        case 7:
          want.first = naive.set_pin(id, true);
          got = cache_->pin(id);
          next();
          break;
        case 8:
          want.first = naive.set_pin(id, false);
          got = cache_->unpin(id);
          next();
          break;
        case 9:
          want = naive.evict();
          got = cache_->evict();
          next();
          break;
        default:
          want.first = naive.use(id, tick);
          got = cache_->touch(id, next());
          break;
      }
      ASSERT_EQ(got.error, want.first) << "op " << op;
      ASSERT_EQ(evicted(got), want.second) << "op " << op;
      ASSERT_EQ(cache_->stats().sequence_count, naive.seqs().size()) << "op " << op;
      ASSERT_EQ(cache_->stats().used_pages, naive.used()) << "op " << op;
      for (const auto& [seq_id, seq] : naive.seqs()) {
        const SeqInfo info = *cache_->info(seq_id);
        ASSERT_EQ(info.token_count, seq.n) << "op " << op << " sequence " << seq_id;
        ASSERT_EQ(info.page_count, seq.pages.size()) << "op " << op << " sequence " << seq_id;
        ASSERT_EQ(info.pinned, seq.pinned) << "op " << op << " sequence " << seq_id;
        ASSERT_EQ(info.last_use, seq.last) << "op " << op << " sequence " << seq_id;
      }
    }
    expect_healthy();
  }
}

TEST(PagePoolTest, HandsOutPagesInOrderThenLifo) {
  PagePool pool(4);
  EXPECT_EQ(pool.page_count(), 4u);
  EXPECT_EQ(pool.free_count(), 4u);
  EXPECT_EQ(pool.used_count(), 0u);
  EXPECT_EQ(pool.take(), 0u);
  EXPECT_EQ(pool.take(), 1u);
  EXPECT_EQ(pool.take(), 2u);
  pool.release(1);
  pool.release(0);
  EXPECT_EQ(pool.take(), 0u);  // the last page released comes back first
  EXPECT_EQ(pool.take(), 1u);
  EXPECT_EQ(pool.take(), 3u);
  EXPECT_EQ(pool.free_count(), 0u);
  EXPECT_EQ(pool.used_count(), 4u);
  EXPECT_TRUE(pool.free_list().empty());
}

// Section 14.8's worked example on the pool: under fifo a released page waits behind the pages
// never used; under lifo (HandsOutPagesInOrderThenLifo) it comes back first.
TEST(PagePoolTest, FifoUsesEveryPageBeforeReusingOne) {
  PagePool pool(3, false, true);
  EXPECT_EQ(pool.take(), 0u);
  EXPECT_EQ(pool.take(), 1u);
  pool.release(0);
  EXPECT_EQ(pool.take(), 2u);
  pool.release(1);
  EXPECT_EQ(pool.take(), 0u);
  EXPECT_EQ(pool.free_list(), std::vector<PageId>{1});
}

// V-O3: an append copies a shared last page before it takes its new entries' pages.
TEST_F(CacheTest, AppendCopiesBeforeItGrows) {
  Config config{2, 4, Eviction::none, Shape{}};
  config.reuse_fifo = true;
  build(config);
  ASSERT_TRUE(append(1, 1).ok());
  ASSERT_TRUE(cache_->fork(1, 2, next()).ok());
  ASSERT_TRUE(append(2, 2).ok());
  const auto table = cache_->block_table(2);
  EXPECT_EQ(std::vector<PageId>(table.begin(), table.end()), (std::vector<PageId>{1, 2}));
  expect_healthy();
}

TEST(PagePoolTest, SharedPageIsFreedByItsLastRelease) {
  PagePool pool(2);
  const PageId page = pool.take();
  pool.share(page);
  pool.share(page);
  EXPECT_EQ(pool.refcount(page), 3u);
  pool.release(page);
  pool.release(page);
  EXPECT_EQ(pool.refcount(page), 1u);
  EXPECT_EQ(pool.free_count(), 1u);
  pool.release(page);
  EXPECT_EQ(pool.refcount(page), 0u);
  ASSERT_EQ(pool.free_count(), 2u);
  EXPECT_EQ(pool.free_list().front(), page);
}

// The invariants under random take/share/release, against a plain refcount map, under both
// reuse orders; the next page taken is the free list's head.
TEST(PagePoolTest, RandomOpsKeepInvariantsWithoutAllocating) {
  constexpr uint32_t kPages = 64;
  for (const bool fifo : {false, true}) {
    PagePool pool(kPages, false, fifo);
    std::vector<uint32_t> refs(kPages, 0);
    std::vector<PageId> held;  // one entry per reference
    std::mt19937 rng(5);
    for (int op = 0; op < 20000; ++op) {
      const uint32_t pick = static_cast<uint32_t>(rng() % 3);
      if (pick == 0 && pool.free_count() > 0) {
        const PageId head = pool.free_list().front();
        const PageId page = pool.take();
        ASSERT_EQ(page, head);
        ASSERT_EQ(refs[page], 0u);
        refs[page] = 1;
        held.push_back(page);
      } else if (pick == 1 && !held.empty()) {
        const PageId page = held[rng() % held.size()];
        pool.share(page);
        ++refs[page];
        held.push_back(page);
      } else if (!held.empty()) {
        const size_t at = rng() % held.size();
        const PageId page = held[at];
        held[at] = held.back();
        held.pop_back();
        pool.release(page);
        --refs[page];
      }
      std::vector<uint8_t> on_stack(kPages, 0);
      for (const PageId page : pool.free_list()) ASSERT_EQ(on_stack[page]++, 0) << "duplicate";
      uint32_t used = 0;
      for (PageId page = 0; page < kPages; ++page) {
        ASSERT_EQ(pool.refcount(page), refs[page]);
        ASSERT_EQ(on_stack[page] != 0, refs[page] == 0) << "page " << page;
        used += refs[page] > 0 ? 1 : 0;
      }
      ASSERT_EQ(pool.used_count(), used);
      ASSERT_EQ(pool.used_count() + pool.free_count(), kPages);
    }
  }
}

TEST(PagePoolDeathTest, DoubleReleaseAndEmptyTakeStopTheProcess) {
  PagePool pool(1);
  const PageId page = pool.take();
  EXPECT_DEATH(pool.take(), "no free page");
  pool.release(page);
  EXPECT_DEATH(pool.release(page), "double release");
}

TEST(SeqIndexTest, MatchesAStandardMapUnderChurn) {
  detail::SeqIndex index(8);
  std::unordered_map<uint32_t, uint32_t> expected;
  std::mt19937 rng(3);
  for (uint32_t i = 0; i < 200000; ++i) {
    const uint32_t id = static_cast<uint32_t>(rng() % 5000) * 4096u;  // colliding-ish ids
    if (rng() % 2 && !expected.count(id)) {
      index.insert(id, i);
      expected[id] = i;
    } else {
      index.erase(id);
      expected.erase(id);
    }
    ASSERT_EQ(index.size(), expected.size());
  }
  for (uint32_t id = 0; id < 5000u * 4096u; id += 4096u) {
    const auto it = expected.find(id);
    EXPECT_EQ(index.find(id), it == expected.end() ? detail::SeqIndex::kEmptySlot : it->second);
  }
}

}  // namespace
// Every message audit() can give, each from its own corruption of a healthy cache: sequence 1
// holds pages 0-1, sequence 2 page 2, sequence 3 page 3; pages 4-7 are free; LRU order 1, 2, 3.
TEST_F(CacheTest, AuditReportsEveryCorruption) {
  using A = CacheTestAccess;
  const std::vector<std::pair<std::function<void(Cache&)>, std::string>> cases = {
      {[](Cache& c) { A::set_entry(c, 1, 0, 100); }, "page id expected < 8, actual 100"},
      {[](Cache& c) { A::set_entry(c, 1, 1, 0); }, "expected once per block table"},
      {[](Cache& c) { CacheTestAccess::push_free(c, 100); }, "free list: page id expected < 8"},
      {[](Cache& c) { CacheTestAccess::push_free(c, 7); }, "free list: page 7 expected once"},
      {[](Cache& c) { A::pop_free(c); }, "refcount 0, expected on the free list, actual missing"},
      {[](Cache& c) { A::set_pending_drop(c, 0); }, "eviction scratch expected 0 between ops"},
      {[](Cache& c) { A::rename(c, 2, 99); }, "sequence 99: index expected slot"},
      {[](Cache& c) { A::add_sequence_count(c); }, "sequence count expected 3 (live slots)"},
      {[](Cache& c) { A::index_extra(c, 50); }, "index size expected 3, actual 4"},
      {[](Cache& c) { A::push_free_slot(c, A::slot_of(c, 1)); }, "expected dead, in range"},
      {[](Cache& c) { A::push_free_slot(c, 100); }, "slot 100 expected dead, in range"},
      {[](Cache& c) {
         const uint32_t slot = A::slot_of(c, 3);
         ASSERT_TRUE(c.free(3).ok());
         A::push_free_slot(c, slot);
       },
       "slots expected 3 = live + free, actual 2 + 2"},
      {[](Cache& c) { A::set_lru_next(c, 3, 999); }, "terminated chain of valid slots"},
      {[](Cache& c) { A::set_lru_next(c, 3, A::slot_of(c, 1)); },
       "terminated chain of valid slots"},
      {[](Cache& c) { A::set_dead(c, 2); }, "LRU list: sequence 2: expected live, actual dead"},
      {[](Cache& c) { A::set_pinned_flag(c, 2); }, "expected unpinned, actual pinned"},
      {[](Cache& c) { A::set_pinned_flag(c, 2); }, "length expected 2 (live unpinned"},
      {[](Cache& c) { A::set_lru_prev(c, 2, 7); }, "prev link expected"},
      {[](Cache& c) { A::set_lru_tail(c, 1); }, "LRU list: tail expected slot"},
  };
  for (const auto& each : cases) {
    const std::string& expected = each.second;  // not a structured binding: clang-14 lambdas
    make(4, 8);
    ASSERT_TRUE(append(1, 8).ok());
    ASSERT_TRUE(append(2, 3).ok());
    ASSERT_TRUE(append(3, 1).ok());
    expect_healthy();
    each.first(*cache_);
    const std::vector<std::string> problems = cache_->audit();
    EXPECT_TRUE(has_problem(problems, expected));
  }
}

TEST(ErrorName, NamesEveryError) {
  EXPECT_EQ(error_name(Error::none), "ok");
  EXPECT_EQ(error_name(Error::capacity_exceeded), "capacity_exceeded");
  EXPECT_EQ(error_name(Error::unknown_sequence), "unknown_sequence");
  EXPECT_EQ(error_name(Error::sequence_exists), "sequence_exists");
  EXPECT_EQ(error_name(Error::invalid_argument), "invalid_argument");
  EXPECT_EQ(error_name(Error::nothing_to_evict), "nothing_to_evict");
  EXPECT_EQ(error_name(static_cast<Error>(200)), "unknown_error");
}

TEST(ConfigProblem, NamesEachFieldOutOfRange) {
  const Config good{16, 8, Eviction::lru, Shape{8, 128, 4}};
  EXPECT_EQ(config_problem(good), "");
  auto with = [&](auto edit) {
    Config config = good;
    edit(config);
    return config_problem(config);
  };
  EXPECT_EQ(with([](Config& c) { c.page_size = 0; }), "page_size must be 1..65536");
  EXPECT_EQ(with([](Config& c) { c.max_pages = kMaxPages + 1; }), "max_pages must be 1..16777216");
  EXPECT_EQ(with([](Config& c) { c.shape.kv_heads = 257; }), "kv_heads must be 1..256");
  EXPECT_EQ(with([](Config& c) { c.shape.head_dim = 0; }), "head_dim must be 1..1024");
  EXPECT_EQ(with([](Config& c) { c.shape.layers = 300; }), "layers must be 1..256");
  EXPECT_EQ(with([](Config& c) { c.eviction = static_cast<Eviction>(9); }),
            "eviction must be none or lru");
}

// A realistic shape: 8 KV heads of 128 words (vectors copied with memcpy, not the short loop),
// across a copy-on-write, read back intact.
TEST_F(CacheTest, WideVectorsSurviveCopyOnWrite) {
  make(16, 8, Eviction::none, Shape{8, 128, 2});
  ASSERT_TRUE(append(1, 20).ok());
  const Words first = last_words_;
  ASSERT_TRUE(cache_->fork(1, 2, next()).ok());
  ASSERT_TRUE(append(2, 1).ok());
  EXPECT_EQ(read(1), first);
  EXPECT_EQ(read(2), concat(first, last_words_));
  expect_healthy();
}

// Ticks the caller sends backwards still keep (last_use, id) order: touching the tail with a tick
// equal to its predecessor's, where the predecessor has the larger id, moves it in front.
TEST_F(CacheTest, UseWithAnEarlierTickReordersTheTail) {
  make(4, 8, Eviction::lru);
  ASSERT_TRUE(cache_->alloc(2, 5).ok());
  ASSERT_TRUE(cache_->alloc(1, 10).ok());  // order: 2 (5), 1 (10)
  ASSERT_TRUE(cache_->touch(1, 5).ok());   // (5, 1) < (5, 2): 1 becomes the first victim
  expect_healthy();
  const Outcome outcome = cache_->evict();
  EXPECT_EQ(evicted(outcome), V{1});
}

// The always-on checks abort with a message naming the culprit (death tests: each runs in a
// child process).
TEST(CheckDeath, PagePoolMisuse) {
  PagePool empty(1);
  empty.take();
  EXPECT_DEATH(empty.take(), "no free page");
  PagePool pool(2);
  EXPECT_DEATH(pool.share(0), "page is free");
  EXPECT_DEATH(pool.release(0), "double release");
  const PageId page = pool.take();
  PagePoolTestAccess::push_free(pool, page);
  EXPECT_DEATH(pool.take(), "free list held a referenced page");
  EXPECT_DEATH(detail::SeqIndex().insert(1, detail::SeqIndex::kEmptySlot),
               "slot value is reserved");
}

TEST(CheckDeath, HostPageStoreMisuse) {
  const Config bad{0, 4, Eviction::none, Shape{}};
  EXPECT_DEATH({ HostPageStore store(bad); }, "unvalidated Config");
  const Config config{2, 4, Eviction::none, Shape{}};
  HostPageStore store(config);
  EXPECT_DEATH({ Cache cache(bad, store); }, "unvalidated Config");
  const uint32_t words_per_token = config.shape.words_per_token();
  const Words one_token(words_per_token, 0);
  const std::vector<uint64_t> beyond = {8};
  EXPECT_DEATH(store.write_tokens(beyond, Words{}), "word count");
  EXPECT_DEATH(store.write_tokens(beyond, one_token), "slot beyond the pool");
  EXPECT_DEATH(store.copy_page(4, 0, 1), "bad page ids");
  EXPECT_DEATH(store.copy_page(0, 4, 1), "bad page ids");
  EXPECT_DEATH(store.copy_page(1, 1, 1), "bad page ids");
  EXPECT_DEATH(store.copy_page(0, 1, 3), "slot_count > page_size");
  Words out(words_per_token);
  const std::vector<PageId> table = {0};
  const std::vector<PageId> beyond_table = {4};
  EXPECT_DEATH(store.gather(table, 2, out), "output size");
  Words three(3 * words_per_token);
  EXPECT_DEATH(store.gather(table, 3, three), "block table too short");
  EXPECT_DEATH(store.gather(beyond_table, 1, out), "page id beyond the pool");
}

TEST_F(CacheTest, CheckDeathOnALiveSlotInTheFreeSlotList) {
  make(4, 8);
  ASSERT_TRUE(append(1, 1).ok());
  CacheTestAccess::push_free_slot(*cache_, CacheTestAccess::slot_of(*cache_, 1));
  EXPECT_DEATH(cache_->alloc(9, next()), "free slot list held a live slot");
}

// ---- Sliding window (docs/semantics.md section 16) ------------------------------------------

// A cache with a sliding window. A prompt's tokens have the ids stream << 20 | i, and each token's
// words are its id repeated (impl/ keeps ids and words apart, so any pattern does).
class WindowTest : public CacheTest {
 protected:
  using Ids = std::vector<uint32_t>;
  void make_window(uint32_t page_size, uint32_t max_pages, uint32_t window,
                   Eviction eviction = Eviction::none, bool prefix_caching = false,
                   uint32_t cpu_pages = 0) {
    config_ = Config{page_size, max_pages, eviction, Shape{}, prefix_caching};
    config_.cpu_pages = cpu_pages;
    config_.sliding_window = window;
    store_ = std::make_unique<HostPageStore>(config_);
    cache_ = std::make_unique<Cache>(config_, *store_);
  }
  static Ids prompt(uint32_t stream, uint32_t token_count) {
    Ids ids;
    for (uint32_t i = 0; i < token_count; ++i) ids.push_back(stream << 20 | i);
    return ids;
  }
  Words words_of(const Ids& ids) const {
    Words words;
    for (const uint32_t id : ids) words.insert(words.end(), config_.shape.words_per_token(), id);
    return words;
  }
  Outcome prefill(SeqId id, const Ids& ids) {
    return cache_->prefill(id, ids, words_of(ids), next());
  }
  // Reserves token_count slots and commits them with words nobody should read back (a
  // recompute's tokens take their own words).
  void recompute(SeqId id, uint32_t token_count) {
    ASSERT_TRUE(cache_->reserve(id, token_count, next()).ok());
    const Words junk(uint64_t{token_count} * config_.shape.words_per_token(), 0xDEADu);
    ASSERT_TRUE(cache_->commit(id, token_count, junk, next()).ok());
  }
  std::vector<PageId> table(SeqId id) const {
    const auto span = cache_->block_table(id);
    return {span.begin(), span.end()};
  }
  // Tokens first .. first+count-1 of `words`.
  Words slice(const Words& words, uint64_t first, uint64_t count) const {
    const uint64_t each = config_.shape.words_per_token();
    return Words(words.begin() + static_cast<std::ptrdiff_t>(first * each),
                 words.begin() + static_cast<std::ptrdiff_t>((first + count) * each));
  }
};

// Section 16.4, example 1: page_size=2 max_pages=3 sliding_window=3.
TEST_F(WindowTest, WorkedExampleTheWindowSlides) {
  make_window(2, 3, 3);
  ASSERT_TRUE(append(1, 5).ok());
  const Words first = last_words_;
  EXPECT_EQ(cache_->info(1)->page_count, 3u);  // only growth releases
  const PageId a = table(1)[0];
  ASSERT_TRUE(append(1, 2).ok());  // skip(5) = 1: A released first, so the new page fits
  const Words second = last_words_;
  EXPECT_EQ(table(1), (std::vector<PageId>{kNullPage, table(1)[1], table(1)[2], a}));
  EXPECT_EQ(cache_->info(1)->page_count, 3u);
  EXPECT_EQ(read(1), concat(slice(first, 2, 3), second));                    // tokens 2..6
  EXPECT_EQ(cache_->truncate(1, 2, next()).error, Error::invalid_argument);  // skip(2) = 0 < z
  EXPECT_EQ(cache_->info(1)->token_count, 7u);
  EXPECT_TRUE(cache_->truncate(1, 4, next()).ok());  // skip(4) = 1: entries 2, 3 released
  EXPECT_EQ(table(1).size(), 2u);
  EXPECT_EQ(cache_->info(1)->page_count, 1u);
  EXPECT_EQ(cache_->stats().used_pages, 1u);
  EXPECT_EQ(read(1), slice(first, 2, 2));
  expect_healthy();
}

// V-W4: the release happens before the need is sized and stays when the op fails; alloc and a
// reserve on a sequence that is not waiting release too.
TEST_F(WindowTest, GrowthReleasesFirstEvenWhenItFails) {
  make_window(2, 3, 3);
  ASSERT_TRUE(append(1, 5).ok());
  EXPECT_EQ(append(1, 4).error, Error::capacity_exceeded);  // needs 2, A's release frees 1
  EXPECT_EQ(table(1)[0], kNullPage);
  EXPECT_EQ(cache_->info(1)->token_count, 5u);
  EXPECT_EQ(cache_->stats().free_pages, 1u);
  EXPECT_TRUE(cache_->alloc(1, next()).ok());  // the freed page
  make_window(2, 3, 3);
  ASSERT_TRUE(append(1, 5).ok());
  EXPECT_TRUE(cache_->alloc(1, next()).ok());  // A released before the need of 1
  make_window(2, 3, 3);
  ASSERT_TRUE(append(1, 5).ok());
  EXPECT_TRUE(cache_->reserve(1, 2, next()).ok());
  EXPECT_EQ(table(1).size(), 4u);
  expect_healthy();
}

// Section 16.4, example 2: page_size=2 max_pages=8 prefix_caching=on sliding_window=3 (c = 1).
TEST_F(WindowTest, WorkedExampleAHitInsideTheWindowOnly) {
  make_window(2, 8, 3, Eviction::none, true);
  const Ids ids = prompt(1, 7);
  ASSERT_TRUE(prefill(1, ids).ok());
  const std::vector<PageId> one = table(1);  // A, B, C registered; D holds token 6
  ASSERT_TRUE(append(1, 1).ok());            // skip(7) = 2: B, then A, to the queue
  EXPECT_EQ(cache_->cached_queue(), (std::vector<PageId>{one[1], one[0]}));
  const Outcome hit = prefill(2, ids);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit.hit_tokens, 6u);  // limit 3; h = 3 needs block 2 only: C
  EXPECT_EQ(cache_->info(2)->page_count, 2u);
  const std::vector<PageId> two = table(2);
  ASSERT_EQ(two.size(), 4u);
  EXPECT_EQ(two[0], kNullPage);
  EXPECT_EQ(two[1], kNullPage);
  EXPECT_EQ(two[2], one[2]);
  EXPECT_EQ(read(2), words_of({ids[4], ids[5], ids[6]}));
  EXPECT_EQ(cache_->cached_queue(), (std::vector<PageId>{one[1], one[0]}));  // A, B stay there
  expect_healthy();
}

// V-W7 with c = 2: block 1 lost its key, yet blocks 2 and 3 cover the window of the hit's end.
TEST_F(WindowTest, HitNeedsOnlyTheBlocksInsideTheWindow) {
  make_window(2, 6, 5, Eviction::none, true);  // c = ceil(4 / 2) = 2
  const Ids ids = prompt(1, 9);
  ASSERT_TRUE(prefill(1, ids).ok());  // A..D registered, E holds token 8
  const std::vector<PageId> one = table(1);
  ASSERT_TRUE(append(1, 1).ok());              // skip(9) = 2: B, then A, to the queue
  ASSERT_TRUE(cache_->alloc(2, next()).ok());  // the last unregistered page
  ASSERT_TRUE(cache_->alloc(3, next()).ok());  // the queue's head B: block 1 loses its key
  const Outcome hit = prefill(4, ids);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit.hit_tokens, 8u);  // h = 4: blocks 2, 3 registered; block 1 is not needed
  const std::vector<PageId> four = table(4);
  EXPECT_EQ(four, (std::vector<PageId>{kNullPage, kNullPage, one[2], one[3], one[0]}));
  EXPECT_EQ(read(4), words_of({ids[4], ids[5], ids[6], ids[7], ids[8]}));
  EXPECT_EQ(cache_->stats().cached_keys, 2u);  // C, D; A was reused for token 8
  expect_healthy();
}

// A commit after the window released block 0 registers blocks 2 and 3 under their whole prefix.
TEST_F(WindowTest, CommitRegistersUnderTheWholePrefixPastNullEntries) {
  make_window(2, 8, 3, Eviction::none, true);
  const Ids ids = prompt(1, 9);
  ASSERT_TRUE(cache_->admit(1, ids, words_of(ids), next()).ok());
  recompute(1, 4);  // blocks 0 and 1 registered
  recompute(1, 4);  // the reserve releases block 0 (skip(4) = 1); blocks 2 and 3 registered
  EXPECT_EQ(table(1)[0], kNullPage);
  bool found = false;
  for (const auto& [page, key] : cache_->registered_keys()) {
    found = found || (page == table(1)[3] && key == Ids(ids.begin(), ids.begin() + 8));
  }
  EXPECT_TRUE(found);
  const Outcome hit = prefill(2, ids);
  EXPECT_EQ(hit.hit_tokens, 8u);  // block 3's key: h = 4, c = 1
  EXPECT_EQ(read(1), words_of({ids[2], ids[3], ids[4], ids[5], ids[6], ids[7]}));
  expect_healthy();
}

// register_at=release registers the full blocks that still have pages, never a null entry.
TEST_F(WindowTest, ReleaseRegistersOnlyTheBlocksWithPages) {
  make_window(2, 8, 3, Eviction::none, true);
  config_.register_at_release = true;
  cache_ = std::make_unique<Cache>(config_, *store_);
  const Ids ids = prompt(1, 7);
  ASSERT_TRUE(prefill(1, ids).ok());
  ASSERT_TRUE(append(1, 1).ok());  // blocks 0, 1 released unregistered
  ASSERT_TRUE(cache_->free(1).ok());
  EXPECT_EQ(cache_->stats().cached_keys, 1u);  // block 2; block 3 holds a generated token
  EXPECT_EQ(prefill(2, ids).hit_tokens, 6u);
  expect_healthy();
}

// V-W2: fork copies null entries as nulls and shares the rest; the copy keeps what a recompute of
// the released tokens needs.
TEST_F(WindowTest, ForkCopiesNullEntriesAsNulls) {
  make_window(2, 8, 3);
  ASSERT_TRUE(append(1, 5).ok());
  const Words first = last_words_;
  ASSERT_TRUE(append(1, 2).ok());
  const Words second = last_words_;
  ASSERT_TRUE(cache_->fork(1, 2, next()).ok());
  EXPECT_EQ(table(2), table(1));
  EXPECT_EQ(cache_->stats().used_pages, 3u);
  EXPECT_EQ(cache_->info(2)->page_count, 3u);
  expect_healthy();
  ASSERT_TRUE(cache_->free(1).ok());
  EXPECT_EQ(cache_->stats().used_pages, 3u);
  EXPECT_EQ(read(2), concat(slice(first, 2, 3), second));
  ASSERT_TRUE(append(2, 1).ok());  // skip(7) = 2: entry 1 released
  const Words third = last_words_;
  EXPECT_EQ(table(2)[1], kNullPage);
  EXPECT_EQ(cache_->stats().used_pages, 2u);
  ASSERT_TRUE(cache_->preempt(2).ok());
  recompute(2, 8);
  EXPECT_EQ(read(2), concat(concat(first, second), third));
  expect_healthy();
}

// V-W6: swap_out moves the non-null entries only; swap_in brings them back behind the nulls.
TEST_F(WindowTest, SwapRoundTripKeepsTheNullEntries) {
  make_window(2, 4, 3, Eviction::none, false, 4);
  ASSERT_TRUE(append(1, 5).ok());
  ASSERT_TRUE(append(1, 2).ok());
  const Words before = read(1);
  ASSERT_TRUE(cache_->swap_out(1).ok());
  EXPECT_EQ(cache_->stats().cpu_pages_used, 3u);  // ceil(7/2) - 1
  EXPECT_EQ(cache_->stats().used_pages, 0u);
  EXPECT_EQ(table(1), (std::vector<PageId>{kNullPage}));
  EXPECT_EQ(cache_->info(1)->page_count, 0u);
  expect_healthy();
  ASSERT_TRUE(append(2, 4).ok());
  EXPECT_EQ(cache_->swap_in(1, next()).error, Error::capacity_exceeded);  // 3 pages, 2 free
  ASSERT_TRUE(cache_->free(2).ok());
  ASSERT_TRUE(cache_->swap_in(1, next()).ok());
  EXPECT_EQ(table(1).size(), 4u);
  EXPECT_EQ(table(1)[0], kNullPage);
  EXPECT_EQ(cache_->stats().cpu_pages_used, 0u);
  EXPECT_EQ(read(1), before);
  expect_healthy();
}

// Eviction frees a windowed victim's pages (its null entries hold none) and the planner counts
// exactly those.
TEST_F(WindowTest, EvictingAWindowedSequenceFreesItsPages) {
  make_window(2, 4, 3, Eviction::lru);
  ASSERT_TRUE(append(1, 5).ok());
  ASSERT_TRUE(append(1, 2).ok());  // 3 pages after one null entry
  const Outcome outcome = append(2, 5);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(evicted(outcome), V{1});
  EXPECT_EQ(cache_->stats().used_pages, 3u);
  EXPECT_EQ(cache_->stats().free_pages, 1u);
  expect_healthy();
}

// preempt keeps the released tokens' words, so the recompute writes back what was there; with
// prefix caching the resume looks up per V-W7.
TEST_F(WindowTest, PreemptRecomputesTheReleasedTokens) {
  make_window(2, 4, 3);
  ASSERT_TRUE(append(1, 5).ok());
  const Words first = last_words_;
  ASSERT_TRUE(append(1, 2).ok());
  const Words second = last_words_;
  ASSERT_TRUE(cache_->preempt(1).ok());
  EXPECT_EQ(cache_->stats().used_pages, 0u);
  recompute(1, 7);
  EXPECT_EQ(table(1).size(), 4u);  // no null entry until it grows again
  EXPECT_EQ(read(1), concat(first, second));

  make_window(2, 8, 3, Eviction::none, true);
  const Ids ids = prompt(1, 7);
  ASSERT_TRUE(prefill(1, ids).ok());
  ASSERT_TRUE(append(1, 1).ok());
  const Words generated = last_words_;
  ASSERT_TRUE(cache_->preempt(1).ok());
  const Outcome resume = cache_->reserve(1, 2, next());
  EXPECT_EQ(resume.hit_tokens, 6u);  // block 2 (C) from the queue; blocks 0, 1 null
  const Words junk(2 * config_.shape.words_per_token(), 0xDEADu);
  ASSERT_TRUE(cache_->commit(1, 2, junk, next()).ok());
  EXPECT_EQ(read(1), concat(words_of({ids[4], ids[5], ids[6]}), generated));
  expect_healthy();
}

// Random ops under a window, prefix caching and a CPU pool: every read returns the tokens after the
// sequence's null entries exactly as written (a preempted sequence's recompute included), and the
// audit stays clean.
TEST_F(WindowTest, RandomOpsKeepDataAndInvariants) {
  for (const uint32_t window : {2u, 4u, 7u}) {
    make_window(3, 16, window, window == 4 ? Eviction::none : Eviction::lru, true, 12);
    std::mt19937 rng(window);
    std::unordered_map<SeqId, Words> shadow;  // every token's words, released ones included
    std::vector<SeqId> waiting;
    auto pick = [&](uint32_t bound) { return static_cast<uint32_t>(rng() % bound); };
    const uint32_t each = config_.shape.words_per_token();
    uint64_t nulls_seen = 0, hits = 0;
    for (int op = 0; op < 20000; ++op) {
      const SeqId id = pick(8);
      const bool waits = std::ranges::find(waiting, id) != waiting.end();
      const Outcome outcome = [&]() -> Outcome {
        switch (pick(12)) {
          case 0:
            return cache_->alloc(id, next());
          case 1:
          case 2: {
            const Outcome result = append(id, 1 + pick(5));
            if (result.ok()) shadow[id] = concat(shadow[id], last_words_);
            return result;
          }
          case 3: {
            const SeqId dst = pick(8);
            const Outcome result = cache_->fork(id, dst, next());
            if (result.ok()) shadow[dst] = waits ? Words{} : shadow[id];
            return result;
          }
          case 4:
            return cache_->free(id);
          case 5: {
            const uint64_t keep = pick(12);
            const Outcome result = cache_->truncate(id, keep, next());
            if (result.ok()) shadow[id].resize(keep * each);
            return result;
          }
          case 6:
            return cache_->evict();
          case 7: {
            const uint32_t family = pick(3);  // one draw per statement: the same on every compiler
            const Ids ids = prompt(family, 1 + pick(14));
            const Outcome result = prefill(id, ids);
            if (result.ok()) shadow[id] = words_of(ids);
            hits += result.hit_tokens;
            return result;
          }
          case 8: {
            if (!waits && !cache_->preempt(id).ok()) return cache_->touch(id, next());
            if (!waits) waiting.push_back(id);
            const auto pending = static_cast<uint32_t>(shadow[id].size() / each);
            if (pending == 0) return cache_->touch(id, next());
            const Outcome result = cache_->reserve(id, pending, next());
            if (!result.ok()) return result;
            std::erase(waiting, id);
            const auto rest = static_cast<uint32_t>(pending - result.hit_tokens);  // after the hit
            const Words junk(uint64_t{rest} * each, 0xDEADu);
            EXPECT_TRUE(cache_->commit(id, rest, junk, next()).ok());
            return result;
          }
          case 9:
            return pick(2) ? cache_->swap_out(id) : cache_->swap_in(id, next());
          default: {
            Words out;
            const Outcome result = cache_->read(id, out, next());
            if (!result.ok() || waits) return result;
            uint64_t nulls = 0;
            while (nulls < table(id).size() && table(id)[nulls] == kNullPage) ++nulls;
            nulls_seen += nulls;
            const Words& all = shadow[id];
            const uint64_t first = std::min<uint64_t>(nulls * config_.page_size * each, all.size());
            EXPECT_EQ(out, Words(all.begin() + static_cast<std::ptrdiff_t>(first), all.end()))
                << "op " << op << " sequence " << id;
            return result;
          }
        }
      }();
      for (const SeqId victim : outcome.evicted) shadow.erase(victim);
      for (auto it = shadow.begin(); it != shadow.end();)
        it = cache_->info(it->first) ? std::next(it) : shadow.erase(it);
      std::erase_if(waiting, [&](SeqId seq) { return !cache_->info(seq); });
      if (op % 97 == 0) expect_healthy();
      ASSERT_FALSE(HasFailure()) << "op " << op;
    }
    expect_healthy();
    EXPECT_GT(nulls_seen, 200u) << window;  // the mix must read windowed sequences, and hit
    EXPECT_GT(hits, 300u) << window << " " << nulls_seen << " " << hits;
  }
}

TEST_F(WindowTest, AuditReportsEveryWindowCorruption) {
  using A = CacheTestAccess;
  const std::vector<std::pair<std::function<void(Cache&)>, std::string>> cases = {
      {[](Cache& c) { A::set_entry(c, 1, 2, kNullPage); },
       "sequence 1 entry 2: null entry expected only before the first page, actual after one"},
      {[](Cache& c) { A::set_entry(c, 1, 2, kNullPage); }, "refcount expected 0"},
      {[](Cache& c) { A::set_null_entries(c, 1, 0); },
       "sequence 1: null entries expected 1 (leading null entries of its table), actual recorded "
       "0"},
      {[](Cache& c) {
         A::set_entry(c, 2, 0, kNullPage);
         A::set_null_entries(c, 2, 1);
       },
       "sequence 2: null entries expected at most skip(n) = 0, actual 1"},
      {[](Cache& c) { A::clear_windowed_words(c, 1); },
       "sequence 1: words kept for its null entries expected 8 (2 tokens), actual 0"},
  };
  for (const auto& each : cases) {
    const std::string& expected = each.second;  // not a structured binding: clang-14 lambdas
    make_window(2, 8, 3);
    ASSERT_TRUE(append(1, 5).ok());
    ASSERT_TRUE(append(1, 2).ok());
    ASSERT_TRUE(append(2, 1).ok());
    expect_healthy();
    each.first(*cache_);
    EXPECT_TRUE(has_problem(cache_->audit(), expected));
  }
}

TEST(ConfigProblem, SlidingWindowIsZeroOrAtLeastTwo) {
  Config config{4, 8, Eviction::none, Shape{}};
  config.sliding_window = 1;
  EXPECT_EQ(config_problem(config), "sliding_window must be 0 or 2..1048576");
  config.sliding_window = kMaxAppendTokens + 1;
  EXPECT_FALSE(config_problem(config).empty());
  config.sliding_window = 2;
  EXPECT_EQ(config_problem(config), "");
}

}  // namespace kvcache
