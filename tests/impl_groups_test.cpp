// GoogleTest tests of the optimized cache's KV groups (docs/semantics.md section 17): the worked
// examples, hybrid hits, per-group copy-on-write, swap, preempt, eviction, release order, random
// ops under audit, audit corruptions.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <unordered_map>

#include "impl/kvcache.hpp"
#include "tests/audit_expect.hpp"
#include "tests/cache_test_access.hpp"
#include "tests/impl_fixture.hpp"

namespace kvcache {

namespace {

using Words = std::vector<uint32_t>;
using Ids = std::vector<uint32_t>;
using Pages = std::vector<PageId>;

// A cache with KV groups. A token is a tag (a prompt token's tag is its id); group g stores words
// of (tag, g), so a page read through another group's table shows (V-G2).
class GroupsTest : public CacheFixture {
 protected:
  void make(uint32_t page_size, uint32_t max_pages, std::vector<uint32_t> windows,
            bool prefix_caching = false, Eviction eviction = Eviction::none,
            uint32_t cpu_pages = 0) {
    Config config{page_size, max_pages, eviction, Shape{}, prefix_caching};
    config.cpu_pages = cpu_pages;
    config.group_count = static_cast<uint32_t>(windows.size());
    std::ranges::copy(windows, config.group_windows.begin());
    ASSERT_EQ(config_problem(config), "");
    build(config);
  }
  uint32_t groups() const { return config_.groups(); }
  uint32_t each() const { return config_.shape.words_per_token(); }
  // Group g's words of these tokens.
  Words group_words(const Ids& tags, uint32_t group) const {
    Words words;
    for (const uint32_t tag : tags)
      for (uint32_t w = 0; w < each(); ++w) words.push_back((tag << 3 | group) ^ (w << 29));
    return words;
  }
  // Every group's words, group-major (the cache's input layout).
  Words all_words(const Ids& tags) const {
    Words words;
    for (uint32_t g = 0; g < groups(); ++g) {
      const Words own = group_words(tags, g);
      words.insert(words.end(), own.begin(), own.end());
    }
    return words;
  }
  Ids fresh_tags(uint32_t token_count) {
    Ids tags;
    for (uint32_t i = 0; i < token_count; ++i) tags.push_back(0x2000000 + next_tag_++);
    return tags;
  }
  static Ids prompt(uint32_t stream, uint32_t token_count) {
    Ids ids;
    for (uint32_t i = 0; i < token_count; ++i) ids.push_back(stream << 20 | i);
    return ids;
  }
  // Appends token_count new tokens; last_tags_ says which.
  Outcome append(SeqId id, uint32_t token_count) {
    last_tags_ = fresh_tags(token_count);
    return cache_->append(id, token_count, all_words(last_tags_), next());
  }
  Outcome prefill(SeqId id, const Ids& ids) {
    return cache_->prefill(id, ids, all_words(ids), next());
  }
  Pages table(SeqId id, uint32_t group) const {
    const auto span = cache_->block_table(id, group);
    return {span.begin(), span.end()};
  }
  static uint64_t nulls(const Pages& pages) {
    uint64_t count = 0;
    while (count < pages.size() && pages[count] == kNullPage) ++count;
    return count;
  }
  // What read(S) must return for tokens `tags`: each group's from its own null entries on.
  Words expected_read(SeqId id, const Ids& tags) const {
    Words words;
    for (uint32_t g = 0; g < groups(); ++g) {
      const uint64_t first =
          std::min<uint64_t>(nulls(table(id, g)) * config_.page_size, tags.size());
      const Words own =
          group_words(Ids(tags.begin() + static_cast<std::ptrdiff_t>(first), tags.end()), g);
      words.insert(words.end(), own.begin(), own.end());
    }
    return words;
  }
  uint32_t next_tag_ = 0;
  Ids last_tags_;
};

Ids concat(Ids a, const Ids& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Section 17.4, example 1: page_size=2 max_pages=6 kv_groups=0,3.
TEST_F(GroupsTest, WorkedExampleTwoGroupsSlideApart) {
  make(2, 6, {0, 3});
  ASSERT_TRUE(append(1, 5).ok());  // 3 entries per group: the pool is full
  Ids tags = last_tags_;
  EXPECT_EQ(table(1, 0), (Pages{0, 1, 2}));
  EXPECT_EQ(table(1, 1), (Pages{3, 4, 5}));
  ASSERT_TRUE(append(1, 1).ok());  // group 1: skip_1(5) = 1, entry 0 released; no new page
  tags = concat(tags, last_tags_);
  EXPECT_EQ(table(1, 1), (Pages{kNullPage, 4, 5}));
  EXPECT_EQ(cache_->info(1)->page_count, 5u);
  ASSERT_TRUE(append(1, 1).ok());  // group 1: entry 1 released; entry 3 in both groups
  tags = concat(tags, last_tags_);
  EXPECT_EQ(table(1, 0), (Pages{0, 1, 2, 4}));  // the free list is LIFO: 4, then 3
  EXPECT_EQ(table(1, 1), (Pages{kNullPage, kNullPage, 5, 3}));
  EXPECT_EQ(cache_->truncate(1, 2, next()).error, Error::invalid_argument);  // z_1 = 2 > 0
  const Stats stats = cache_->stats();
  EXPECT_EQ(stats.used_pages, 6u);
  EXPECT_EQ(stats.free_pages, 0u);
  EXPECT_EQ(stats.sequence_count, 1u);
  EXPECT_EQ(stats.token_count, 7u);
  EXPECT_EQ(read(1), expected_read(1, tags));  // group 0 from token 0, group 1 from token 4
  EXPECT_EQ(read(1).size(), (7u + 3u) * each());
  expect_healthy();
}

// Section 17.4, example 2: page_size=1 max_pages=10 prefix_caching=on kv_groups=0,2.
TEST_F(GroupsTest, WorkedExampleTheWindowGroupLimitsTheHit) {
  make(1, 10, {0, 2}, true);
  const Ids ids = prompt(1, 4);
  ASSERT_EQ(prefill(1, ids).hit_tokens, 0u);
  EXPECT_EQ(cache_->stats().cached_keys, 8u);  // blocks 0..3 in both groups
  ASSERT_TRUE(append(1, 1).ok());              // group 1 releases entries 2, 1, 0
  EXPECT_EQ(cache_->cached_queue(), (Pages{6, 5, 4}));
  EXPECT_EQ(table(1, 1), (Pages{kNullPage, kNullPage, kNullPage, 7, 9}));
  ASSERT_TRUE(cache_->free(1).ok());  // group 0's last first, then group 1's block 3
  EXPECT_EQ(cache_->cached_queue(), (Pages{6, 5, 4, 3, 2, 1, 0, 7}));
  ASSERT_TRUE(append(2, 2).ok());  // 2 unregistered pages, then group 1's blocks 2 and 1
  EXPECT_EQ(table(2, 0), (Pages{9, 8}));
  EXPECT_EQ(table(2, 1), (Pages{6, 5}));
  ASSERT_TRUE(cache_->free(2).ok());
  const Outcome hit = prefill(3, ids);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit.hit_tokens, 1u);  // group 0 accepts 3, group 1 only 1
  EXPECT_EQ(cache_->info(3)->token_count, 4u);
  EXPECT_EQ(cache_->info(3)->page_count, 8u);
  EXPECT_EQ(table(3, 0)[0], 0u);  // each group's own block-0 page
  EXPECT_EQ(table(3, 1)[0], 4u);
  EXPECT_EQ(nulls(table(3, 1)), 0u);
  EXPECT_EQ(read(3), expected_read(3, ids));
  expect_healthy();
}

// Section 17.4, example 3: page_size=1 max_pages=8 prefix_caching=on kv_groups=0,2.
TEST_F(GroupsTest, WorkedExampleTheFullAttentionGroupLimitsTheHit) {
  make(1, 8, {0, 2}, true);
  const Ids ids = prompt(1, 3);
  ASSERT_EQ(prefill(1, ids).hit_tokens, 0u);
  ASSERT_TRUE(cache_->free(1).ok());
  EXPECT_EQ(cache_->cached_queue(), (Pages{2, 1, 0, 5, 4, 3}));
  ASSERT_TRUE(append(2, 2).ok());  // 2 unregistered, then group 0's blocks 2 and 1
  EXPECT_EQ(table(2, 1), (Pages{2, 1}));
  ASSERT_TRUE(cache_->free(2).ok());
  const Outcome hit = prefill(3, ids);
  EXPECT_EQ(hit.hit_tokens, 1u);  // group 1 alone would hit 2
  EXPECT_EQ(cache_->info(3)->page_count, 6u);
  EXPECT_EQ(read(3), expected_read(3, ids));
  expect_healthy();
}

// V-G6 with a window group that needs only its last c blocks: its earlier entries are null, the
// full-attention group takes every block, and the hits come before any new page.
TEST_F(GroupsTest, HybridHitTakesEachGroupsOwnBlocks) {
  make(2, 16, {0, 3}, true);  // c_1 = 1
  const Ids ids = prompt(1, 7);
  ASSERT_TRUE(prefill(1, ids).ok());
  ASSERT_TRUE(append(1, 1).ok());  // group 1: skip(7) = 2, blocks 1 and 0 to the queue
  const Pages group1 = table(1, 1);
  const Outcome hit = prefill(2, ids);
  EXPECT_EQ(hit.hit_tokens, 6u);
  EXPECT_EQ(table(2, 0), (Pages{table(1, 0)[0], table(1, 0)[1], table(1, 0)[2], table(2, 0)[3]}));
  EXPECT_EQ(table(2, 1)[0], kNullPage);
  EXPECT_EQ(table(2, 1)[1], kNullPage);
  EXPECT_EQ(table(2, 1)[2], group1[2]);  // shared with sequence 1
  EXPECT_EQ(cache_->info(2)->page_count, 4u + 2u);
  EXPECT_EQ(read(2), expected_read(2, ids));
  // Keys are per group: group 0 lost blocks 1..6, group 1 kept all of its own; each group hits
  // only its own pages.
  make(1, 16, {0, 0}, true);
  ASSERT_TRUE(prefill(1, ids).ok());
  const Pages kept0 = table(1, 0), kept1 = table(1, 1);
  ASSERT_TRUE(cache_->free(1).ok());
  ASSERT_TRUE(append(9, 4).ok());  // 2 unregistered pages, then group 0's blocks 6..1
  ASSERT_TRUE(cache_->free(9).ok());
  EXPECT_EQ(cache_->stats().cached_keys, 8u);
  EXPECT_EQ(prefill(3, ids).hit_tokens, 1u);  // group 1 alone would hit 6
  EXPECT_EQ(table(3, 0)[0], kept0[0]);
  EXPECT_EQ(table(3, 1)[0], kept1[0]);
  EXPECT_EQ(cache_->key_group(kept1[0]), 1u);
  EXPECT_EQ(read(3), expected_read(3, ids));
  expect_healthy();
}

// Fork copies every table; an append copies the shared last page in each group.
TEST_F(GroupsTest, ForkAndCopyOnWritePerGroup) {
  make(4, 16, {0, 5});
  ASSERT_TRUE(append(1, 6).ok());
  const Ids tags = last_tags_;
  ASSERT_TRUE(cache_->fork(1, 2, next()).ok());
  EXPECT_EQ(table(2, 0), table(1, 0));
  EXPECT_EQ(table(2, 1), table(1, 1));
  EXPECT_EQ(cache_->stats().used_pages, 4u);
  ASSERT_TRUE(append(2, 1).ok());  // entry 1 is shared in both groups: 2 copies
  EXPECT_EQ(cache_->stats().used_pages, 6u);
  EXPECT_NE(table(2, 0)[1], table(1, 0)[1]);
  EXPECT_NE(table(2, 1)[1], table(1, 1)[1]);
  EXPECT_EQ(table(2, 0)[0], table(1, 0)[0]);
  EXPECT_EQ(read(1), expected_read(1, tags));
  EXPECT_EQ(read(2), expected_read(2, concat(tags, last_tags_)));
  ASSERT_TRUE(append(1, 3).ok());  // sequence 1: skip_1(6) = 0; both groups write in place
  ASSERT_TRUE(append(1, 1).ok());  // skip_1(9) = 1: group 1's entry 0 released, still shared
  EXPECT_EQ(table(1, 1)[0], kNullPage);
  EXPECT_NE(table(2, 1)[0], kNullPage);          // sequence 2 still reads it
  ASSERT_TRUE(cache_->fork(1, 3, next()).ok());  // nulls copied as nulls
  EXPECT_EQ(table(3, 1)[0], kNullPage);
  EXPECT_EQ(cache_->info(3)->page_count, cache_->info(1)->page_count);
  expect_healthy();
}

// V-G4: a swapped-out sequence holds one CPU page per non-null entry of every group.
TEST_F(GroupsTest, SwapOutAndInPerGroup) {
  make(2, 8, {0, 3}, false, Eviction::none, 8);
  ASSERT_TRUE(append(1, 5).ok());
  Ids tags = last_tags_;
  ASSERT_TRUE(append(1, 2).ok());  // group 1: entry 0 null
  tags = concat(tags, last_tags_);
  const Words before = read(1);
  ASSERT_TRUE(cache_->swap_out(1).ok());
  EXPECT_EQ(cache_->stats().cpu_pages_used, 4u + 3u);
  EXPECT_EQ(cache_->stats().used_pages, 0u);
  EXPECT_EQ(table(1, 0), Pages{});
  EXPECT_EQ(table(1, 1), (Pages{kNullPage}));
  EXPECT_EQ(cache_->info(1)->page_count, 0u);
  expect_healthy();
  ASSERT_TRUE(append(2, 3).ok());                                         // 4 pages
  EXPECT_EQ(cache_->swap_in(1, next()).error, Error::capacity_exceeded);  // 7 needed, 4 free
  ASSERT_TRUE(cache_->free(2).ok());
  ASSERT_TRUE(cache_->swap_in(1, next()).ok());
  EXPECT_EQ(table(1, 1).size(), 4u);
  EXPECT_EQ(table(1, 1)[0], kNullPage);
  EXPECT_EQ(cache_->stats().cpu_pages_used, 0u);
  EXPECT_EQ(read(1), before);
  EXPECT_EQ(read(1), expected_read(1, tags));
  expect_healthy();
}

// preempt releases every group and keeps each group's words, null entries' too: the recompute
// writes each group back as it was.
TEST_F(GroupsTest, PreemptRecomputesEveryGroup) {
  make(2, 8, {3, 0});
  ASSERT_TRUE(append(1, 5).ok());
  Ids tags = last_tags_;
  ASSERT_TRUE(append(1, 2).ok());
  tags = concat(tags, last_tags_);
  EXPECT_EQ(table(1, 0)[0], kNullPage);
  ASSERT_TRUE(cache_->preempt(1).ok());
  EXPECT_EQ(cache_->stats().used_pages, 0u);
  expect_healthy();
  ASSERT_TRUE(cache_->reserve(1, 7, next()).ok());
  EXPECT_EQ(cache_->stats().used_pages, 8u);
  const Words junk(uint64_t{7} * groups() * each(), 0xDEADu);
  ASSERT_TRUE(cache_->commit(1, 7, junk, next()).ok());
  EXPECT_EQ(nulls(table(1, 0)), 0u);  // no null entry until it grows again
  EXPECT_EQ(read(1), expected_read(1, tags));
  expect_healthy();
}

// Eviction frees every group's pages of a victim, and the planner counts them all.
TEST_F(GroupsTest, EvictionFreesEveryGroup) {
  make(2, 8, {0, 3}, false, Eviction::lru);
  ASSERT_TRUE(append(1, 5).ok());
  ASSERT_TRUE(append(1, 2).ok());  // 4 + 3 pages
  const Outcome outcome = append(2, 4);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ((std::vector<SeqId>(outcome.evicted.begin(), outcome.evicted.end())),
            std::vector<SeqId>{1});
  EXPECT_EQ(cache_->stats().used_pages, 4u);
  EXPECT_EQ(cache_->alloc(3, next()).error, Error::none);  // one page per group
  EXPECT_EQ(cache_->stats().used_pages, 6u);
  expect_healthy();
}

// V-G3's release order shows in the cached-free queue: group 0's entries last first, then group
// 1's, for free, eviction, preempt and truncate alike.
TEST_F(GroupsTest, ReleaseOrderIsGroupZeroFirstEachLastEntryFirst) {
  const Ids ids = prompt(1, 6);
  for (int way = 0; way < 4; ++way) {
    make(2, 12, {0, 0, 0}, true, Eviction::lru);
    ASSERT_TRUE(prefill(1, ids).ok());
    const Pages g0 = table(1, 0), g1 = table(1, 1), g2 = table(1, 2);
    const Pages all{g0[2], g0[1], g0[0], g1[2], g1[1], g1[0], g2[2], g2[1], g2[0]};
    const Outcome released = way == 0   ? cache_->free(1)
                             : way == 1 ? cache_->evict()
                             : way == 2 ? cache_->preempt(1)
                                        : Outcome{};
    ASSERT_TRUE(released.ok());
    if (way == 3) {
      ASSERT_TRUE(cache_->truncate(1, 2, next()).ok());
      EXPECT_EQ(cache_->cached_queue(), (Pages{g0[2], g0[1], g1[2], g1[1], g2[2], g2[1]}));
      continue;
    }
    EXPECT_EQ(cache_->cached_queue(), all) << way;
    expect_healthy();
  }
  // The window release before growth: each window group in group order, last entry first.
  make(1, 16, {2, 0, 3}, true);
  ASSERT_TRUE(prefill(1, prompt(2, 4)).ok());
  const Pages g0 = table(1, 0), g2 = table(1, 2);
  ASSERT_TRUE(append(1, 1).ok());  // skip_0(4) = 3, skip_2(4) = 2
  EXPECT_EQ(cache_->cached_queue(), (Pages{g0[2], g0[1], g0[0], g2[1], g2[0]}));
  expect_healthy();
}

// The one-group-per-window variants: boundary_block=extra takes an extra page per group,
// register_at=release registers every group at free.
TEST_F(GroupsTest, VariantsActPerGroup) {
  make(2, 16, {0, 3}, true);
  config_.boundary_block_extra = true;
  store_ = std::make_unique<HostPageStore>(config_);
  cache_ = std::make_unique<Cache>(config_, *store_);
  ASSERT_TRUE(prefill(1, prompt(1, 4)).ok());
  EXPECT_EQ(cache_->info(1)->page_count, 6u);  // 2 blocks + 1 extra, per group
  config_.boundary_block_extra = false;
  config_.register_at_release = true;
  store_ = std::make_unique<HostPageStore>(config_);
  cache_ = std::make_unique<Cache>(config_, *store_);
  ASSERT_TRUE(prefill(1, prompt(1, 4)).ok());
  EXPECT_EQ(cache_->stats().cached_keys, 0u);
  ASSERT_TRUE(cache_->free(1).ok());
  EXPECT_EQ(cache_->stats().cached_keys, 4u);              // 2 blocks, both groups
  EXPECT_EQ(cache_->cached_queue(), (Pages{1, 0, 3, 2}));  // group 0's pages are 0, 1
  for (const PageId page : cache_->cached_queue())
    EXPECT_EQ(cache_->key_group(page), page >= 2 ? 1u : 0u) << page;
  expect_healthy();
}

// One random op of RandomOpsKeepDataAndInvariants against the shadow of every sequence's tokens.
class RandomGroups : public GroupsTest {
 protected:
  struct Shadow {
    Ids computed;  // every computed token, released ones included
    Ids pending;   // after a preempt or admit: to be recomputed
    bool waiting = false;
  };
  uint32_t pick(uint32_t bound) { return static_cast<uint32_t>(rng_() % bound); }
  void random_config() {
    std::vector<uint32_t> windows(2 + pick(3));
    for (uint32_t& window : windows) window = pick(3) == 0 ? 0 : 2 + pick(6);
    // One draw per statement: argument order is the compiler's, and the draws must not depend on
    // it.
    const uint32_t page_size = 1 + pick(4);
    const uint32_t max_pages = 8 + pick(40);
    const bool caching = pick(3) > 0;
    const Eviction eviction = pick(2) ? Eviction::lru : Eviction::none;
    make(page_size, max_pages, windows, caching, eviction, pick(40));
    config_.boundary_block_extra = pick(4) == 0;
    config_.register_at_release = pick(4) == 0;
    config_.release_rejected_slots = pick(4) == 0;
    store_ = std::make_unique<HostPageStore>(config_);
    cache_ = std::make_unique<Cache>(config_, *store_);
    shadow_.clear();
  }
  Outcome lifecycle_op(SeqId id) {
    Shadow& seq = shadow_[id];
    switch (pick(4)) {
      case 0: {
        const uint32_t family = pick(3);
        const Ids ids = prompt(family, 1 + pick(12));
        const Outcome result = cache_->admit(id, ids, all_words(ids), next());
        if (result.ok()) shadow_[id] = Shadow{{}, ids, true};
        return result;
      }
      case 1: {
        const Outcome result = cache_->preempt(id);
        if (result.ok()) seq = Shadow{{}, concat(seq.computed, seq.pending), true};
        return result;
      }
      default: {  // reserve and commit: pending tokens first, then generated ones
        const uint32_t count = 1 + pick(6);
        const Outcome result = cache_->reserve(id, count, next());
        if (!result.ok()) return result;
        const auto hit = static_cast<std::ptrdiff_t>(result.hit_tokens);
        seq.computed.insert(seq.computed.end(), seq.pending.begin(), seq.pending.begin() + hit);
        seq.pending.erase(seq.pending.begin(), seq.pending.begin() + hit);
        seq.waiting = false;
        const uint32_t commit = pick(count + 1);
        const Ids generated = fresh_tags(commit);
        const Error committed = cache_->commit(id, commit, all_words(generated), next()).error;
        if (committed != Error::none) {  // copy-on-write found no page: nothing changed
          EXPECT_EQ(committed, Error::capacity_exceeded);
          return result;
        }
        const uint64_t from_pending = std::min<uint64_t>(commit, seq.pending.size());
        for (uint64_t k = 0; k < commit; ++k)
          seq.computed.push_back(k < from_pending ? seq.pending[k] : generated[k]);
        seq.pending.erase(seq.pending.begin(),
                          seq.pending.begin() + static_cast<std::ptrdiff_t>(from_pending));
        return result;
      }
    }
  }
  Outcome one_op(SeqId id) {
    switch (pick(13)) {
      case 0:
        return cache_->alloc(id, next());
      case 1:
      case 2: {
        const Outcome result = append(id, 1 + pick(5));
        if (result.ok()) shadow_[id].computed = concat(shadow_[id].computed, last_tags_);
        return result;
      }
      case 3: {
        const SeqId dst = pick(8);
        const Outcome result = cache_->fork(id, dst, next());
        if (result.ok()) shadow_[dst] = Shadow{shadow_[id].computed, {}, false};
        return result;
      }
      case 4:
        return cache_->free(id);
      case 5: {
        const uint64_t keep = pick(12);
        const Outcome result = cache_->truncate(id, keep, next());
        if (result.ok()) shadow_[id].computed.resize(keep);
        return result;
      }
      case 6:
        return cache_->evict();
      case 7: {
        const uint32_t family = pick(3);
        const Ids ids = prompt(family, 1 + pick(14));
        const Outcome result = prefill(id, ids);
        if (result.ok()) shadow_[id] = Shadow{ids, {}, false};
        hits_ += result.hit_tokens;
        return result;
      }
      case 8:
      case 9:
        return lifecycle_op(id);
      case 10:
        return pick(2) ? cache_->swap_out(id) : cache_->swap_in(id, next());
      default:
        return read_op(id);
    }
  }
  Outcome read_op(SeqId id) {
    Words out;
    const Outcome result = cache_->read(id, out, next());
    if (!result.ok()) return result;
    for (uint32_t g = 0; g < groups(); ++g) nulls_seen_ += nulls(table(id, g));
    EXPECT_EQ(out, expected_read(id, shadow_[id].computed)) << "sequence " << id;
    return result;
  }

  std::mt19937 rng_{17};
  std::unordered_map<SeqId, Shadow> shadow_;
  uint64_t hits_ = 0, nulls_seen_ = 0;
};

// Random ops over random hybrid configs (2..4 groups, windows, caching, eviction, a CPU pool,
// variants): every read returns each group's tokens after its null entries exactly as written
// (recomputes and swaps included), and the audit is clean after every op.
TEST_F(RandomGroups, RandomOpsKeepDataAndInvariants) {
  for (int round = 0; round < 40; ++round) {
    random_config();
    for (int op = 0; op < 500; ++op) {
      const Outcome outcome = one_op(pick(8));
      for (const SeqId victim : outcome.evicted) shadow_.erase(victim);
      std::erase_if(shadow_, [&](const auto& entry) { return !cache_->info(entry.first); });
      expect_healthy();
      ASSERT_FALSE(HasFailure()) << "round " << round << " op " << op;
    }
  }
  EXPECT_GT(nulls_seen_, 400u);  // the mix must read windowed groups, and hit (about 135 now)
  EXPECT_GT(hits_, 100u);
}

// Each corruption of a group's state is named by audit().
TEST_F(GroupsTest, AuditReportsEveryGroupCorruption) {
  using A = CacheTestAccess;
  const std::vector<std::pair<std::function<void(Cache&)>, std::string>> cases = {
      {[](Cache& c) { A::pop_group_entry(c, 1, 1); },
       "sequence 1 group 1: entries expected 4 (group 0's), actual 3"},
      {[](Cache& c) { A::set_group_entry(c, 2, 1, 0, c.block_table(2, 0)[0]); },
       "expected only in group 0's tables, actual in group 1's too"},
      {[](Cache& c) { A::set_group_null_entries(c, 1, 1, 0); },
       "sequence 1 group 1: null entries expected 1 (leading null entries of its table), actual "
       "recorded 0"},
      {[](Cache& c) { A::clear_group_windowed_words(c, 1, 1); },
       "sequence 1 group 1: words kept for its null entries expected 8 (2 tokens), actual 0"},
      {[](Cache& c) { A::clear_windowed_ids(c, 1); },
       "sequence 1: ids kept for null entries expected 2"},
      {[](Cache& c) { A::move_key_to_root(c, c.block_table(3, 1)[0], 0); },
       "key in group 0, expected group 1"},
  };
  for (const auto& each : cases) {
    const std::string& expected = each.second;  // not a structured binding: clang-14 lambdas
    make(2, 16, {0, 3}, true);
    ASSERT_TRUE(append(1, 5).ok());
    ASSERT_TRUE(append(1, 2).ok());  // group 1: entry 0 null
    ASSERT_TRUE(append(2, 1).ok());
    ASSERT_TRUE(prefill(3, prompt(1, 4)).ok());
    expect_healthy();
    each.first(*cache_);
    EXPECT_TRUE(has_problem(cache_->audit(), expected));
  }
}

}  // namespace
}  // namespace kvcache
