// GoogleTest tests of impl/'s semantic variants (docs/semantics.md section 14): duplicate_keys=kept
// (V-K1..V-K4) and remapped (V-K5, V-K6), free_queue=single (V-F1..V-F3), decode_caching=on (V-D1,
// V-D2) and reserved_slots=skipped (V-R1..V-R4, V-L9), each against what the default rule does with
// the same ops.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "impl/kvcache.hpp"
#include "tests/audit_expect.hpp"
#include "tests/cache_test_access.hpp"
#include "tests/impl_fixture.hpp"

namespace kvcache {
namespace {

using Ids = std::vector<uint32_t>;
using Words = std::vector<uint32_t>;
using Keys = std::vector<std::pair<PageId, std::vector<uint32_t>>>;

// page_size 2, 8 pages, prefix caching; each token's words are its id repeated.
class VariantTest : public CacheFixture {
 protected:
  void make(bool decode_caching, bool keep_duplicate_keys) {
    Config config{2, 8, Eviction::lru, Shape{}, true};
    config.decode_caching = decode_caching;
    config.keep_duplicate_keys = keep_duplicate_keys;
    build(config);
  }
  Words words_of(const Ids& ids) const {
    Words words;
    for (const uint32_t id : ids) words.insert(words.end(), config_.shape.words_per_token(), id);
    return words;
  }
  Outcome prefill(SeqId seq, const Ids& ids) {
    return cache_->prefill(seq, ids, words_of(ids), next());
  }
  Outcome append(SeqId seq, const Ids& ids) {
    return cache_->append(seq, static_cast<uint32_t>(ids.size()), words_of(ids), next(), {}, ids);
  }
  PageId page(SeqId seq, uint32_t entry) const { return cache_->block_table(seq)[entry]; }
};

// V-K1, V-K2, V-K4: the key {1,2} is registered on two pages, counted twice, and a hit takes the
// one registered first. Under the default the second page stays unregistered.
TEST_F(VariantTest, DuplicateKeyIsRegisteredAgainAndAHitTakesTheFirst) {
  make(false, true);
  ASSERT_TRUE(prefill(1, Ids{1, 2, 3}).ok());  // block 0 {1,2} registered on page A
  ASSERT_TRUE(prefill(2, Ids{1, 2}).ok());     // no hit (the last token is computed): page B
  const PageId first = page(1, 0);
  const PageId second = page(2, 0);
  EXPECT_EQ(cache_->stats().cached_keys, 2u);
  EXPECT_EQ(cache_->registered_keys(), (Keys{{first, {1, 2}}, {second, {1, 2}}}));
  const Outcome hit = prefill(3, Ids{1, 2, 9});
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit.hit_tokens, 2u);
  EXPECT_EQ(page(3, 0), first);
  expect_healthy();
}

// V-K3: writing into the first page (after truncate) drops the key from it alone; the second page
// keeps it, and the next hit takes that one. Freeing the second's owner queues it with its key.
TEST_F(VariantTest, DuplicateKeyWrittenOnOnePageStaysOnTheOther) {
  make(false, true);
  ASSERT_TRUE(prefill(1, Ids{1, 2, 3}).ok());
  ASSERT_TRUE(prefill(2, Ids{1, 2}).ok());
  const PageId second = page(2, 0);
  ASSERT_TRUE(cache_->truncate(1, 1, next()).ok());
  ASSERT_TRUE(append(1, Ids{7}).ok());  // writes into page A: it loses its key (P16)
  EXPECT_EQ(cache_->stats().cached_keys, 1u);
  EXPECT_EQ(cache_->registered_keys(), (Keys{{second, {1, 2}}}));
  ASSERT_TRUE(cache_->free(2).ok());
  EXPECT_EQ(cache_->cached_queue(), (std::vector<PageId>{second}));
  const Outcome hit = prefill(3, Ids{1, 2, 9});
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit.hit_tokens, 2u);
  EXPECT_EQ(page(3, 0), second);
  expect_healthy();
}

// A broken ring of a key's pages is an audit finding.
TEST_F(VariantTest, AuditReportsABrokenDuplicateKeyRing) {
  make(false, true);
  ASSERT_TRUE(prefill(1, Ids{1, 2, 3}).ok());
  ASSERT_TRUE(prefill(2, Ids{1, 2}).ok());
  expect_healthy();
  PrefixIndexTestAccess::set_ring_next(CacheTestAccess::prefix(*cache_), page(1, 0), 7);
  const std::vector<std::string> problems = cache_->audit();
  EXPECT_TRUE(has_problem(problems, "expected live and naming it"));
  EXPECT_TRUE(has_problem(problems, "page 7 expected to name it back"));
}

// V-D1: the blocks an append fills are registered under keys of the ids it was given; without
// decode_caching the same ids are ignored and only the prompt's block is registered.
TEST_F(VariantTest, DecodeCachingRegistersTheBlocksAnAppendFills) {
  for (const bool decode_caching : {false, true}) {
    make(decode_caching, false);
    ASSERT_TRUE(prefill(1, Ids{1, 2, 3}).ok());
    ASSERT_TRUE(append(1, Ids{500, 501, 502}).ok());  // fills {3,500} and {501,502}
    EXPECT_EQ(cache_->stats().cached_keys, decode_caching ? 3u : 1u);
    if (decode_caching) {
      ASSERT_EQ(cache_->registered_keys().size(), 3u);
      EXPECT_EQ(cache_->registered_keys()[2],
                (std::pair<PageId, std::vector<uint32_t>>{page(1, 2), {1, 2, 3, 500, 501, 502}}));
    }
    expect_healthy();
  }
}

// V-D2: a preempted sequence's lookup uses its generated ids too, so it hits the blocks it decoded.
TEST_F(VariantTest, DecodeCachingPreemptedSequenceHitsItsDecodedBlocks) {
  for (const bool decode_caching : {false, true}) {
    make(decode_caching, false);
    ASSERT_TRUE(prefill(1, Ids{1, 2, 3}).ok());
    ASSERT_TRUE(append(1, Ids{500, 501, 502}).ok());
    ASSERT_TRUE(cache_->preempt(1).ok());
    const Outcome lookup = cache_->reserve(1, 1, next());
    ASSERT_TRUE(lookup.ok());
    EXPECT_EQ(lookup.hit_tokens, decode_caching ? 4u : 2u);  // at most floor(5/2) blocks
    expect_healthy();
  }
}

// V-D1 for commit: the generated tokens a commit writes carry the ids it is given.
TEST_F(VariantTest, DecodeCachingRegistersTheBlocksACommitFills) {
  for (const bool decode_caching : {false, true}) {
    make(decode_caching, false);
    const Ids prompt = {1, 2, 3};
    ASSERT_TRUE(cache_->admit(1, prompt, words_of(prompt), next()).ok());
    ASSERT_TRUE(cache_->reserve(1, 5, next()).ok());
    const Ids generated = {0, 0, 0, 700, 701};  // the first 3 are the prompt's (pending) tokens
    ASSERT_TRUE(cache_->commit(1, 5, words_of(generated), next(), generated).ok());
    EXPECT_EQ(cache_->stats().cached_keys, decode_caching ? 2u : 1u);  // {1,2}, {1,2,3,700}
    EXPECT_EQ(cache_->commit(1, 0, {}, next(), Ids{1}).error, Error::invalid_argument);
    expect_healthy();
  }
}

// reserved_slots=skipped: page_size 4, no eviction; each token's words are its id repeated.
class SkippedSlotsTest : public CacheFixture {
 protected:
  void make(bool skipped, uint32_t max_pages) {
    Config config{4, max_pages, Eviction::none, Shape{}};
    config.skip_reserved_slots = skipped;
    build(config);
  }
  Words words_of(const Ids& ids) const {
    Words words;
    for (const uint32_t id : ids) words.insert(words.end(), config_.shape.words_per_token(), id);
    return words;
  }
  Outcome append(SeqId seq, const Ids& ids) {
    return cache_->append(seq, static_cast<uint32_t>(ids.size()), words_of(ids), next());
  }
  std::vector<PageId> table(SeqId seq) const {
    const auto span = cache_->block_table(seq);
    return {span.begin(), span.end()};
  }
  std::vector<uint32_t> fills(SeqId seq) const {
    const auto span = cache_->entry_fills(seq);
    return {span.begin(), span.end()};
  }
};

// V-R2, V-R3: an append writes only into the last entry, so the free slots of entry 0 stay empty
// and the last 3 tokens need a new page, which the full pool has not (the default fits them).
TEST_F(SkippedSlotsTest, AppendWritesOnlyIntoTheLastEntry) {
  for (const bool skipped : {false, true}) {
    make(skipped, 2);
    ASSERT_TRUE(append(1, Ids{1}).ok());
    ASSERT_TRUE(cache_->alloc(1, next()).ok());  // a reserved page: the last entry
    ASSERT_TRUE(append(1, Ids{2, 3, 4, 5}).ok());
    EXPECT_EQ(fills(1), skipped ? (std::vector<uint32_t>{1, 4}) : std::vector<uint32_t>{});
    EXPECT_EQ(append(1, Ids{6, 7, 8}).error, skipped ? Error::capacity_exceeded : Error::none);
    EXPECT_EQ(read(1), words_of(skipped ? Ids{1, 2, 3, 4, 5} : Ids{1, 2, 3, 4, 5, 6, 7, 8}));
    expect_healthy();
  }
}

// V-R4: fork shares the entries holding tokens; truncate keeps those through token N-1's and cuts
// its fill; a later append continues the fork's last entry.
TEST_F(SkippedSlotsTest, ForkAndTruncateFollowTheFills) {
  make(true, 8);
  ASSERT_TRUE(append(1, Ids{1, 2}).ok());
  ASSERT_TRUE(cache_->alloc(1, next()).ok());
  ASSERT_TRUE(cache_->alloc(1, next()).ok());
  ASSERT_TRUE(append(1, Ids{3}).ok());  // into entry 2
  EXPECT_EQ(fills(1), (std::vector<uint32_t>{2, 0, 1}));
  const std::vector<PageId> pages = table(1);
  ASSERT_TRUE(cache_->fork(1, 2, next()).ok());
  EXPECT_EQ(table(2), (std::vector<PageId>{pages[0], pages[2]}));
  EXPECT_EQ(fills(2), (std::vector<uint32_t>{2, 1}));
  ASSERT_TRUE(cache_->truncate(1, 1, next()).ok());
  EXPECT_EQ(table(1), (std::vector<PageId>{pages[0]}));
  EXPECT_EQ(fills(1), (std::vector<uint32_t>{1}));
  ASSERT_TRUE(append(2, Ids{4}).ok());  // sequence 1 let go of pages[2]: no copy
  EXPECT_EQ(table(2), (std::vector<PageId>{pages[0], pages[2]}));
  EXPECT_EQ(read(2), words_of(Ids{1, 2, 3, 4}));
  ASSERT_TRUE(append(1, Ids{9}).ok());  // pages[0] is shared and has room: copied first
  EXPECT_NE(table(1)[0], pages[0]);
  EXPECT_EQ(read(1), words_of(Ids{1, 9}));
  EXPECT_EQ(read(2), words_of(Ids{1, 2, 3, 4}));
  expect_healthy();
}

// V-L9: the lifecycle ops are invalid_argument before any other check; audit checks the fills.
TEST_F(SkippedSlotsTest, LifecycleOpsAreRefusedAndFillsAudited) {
  make(true, 8);
  const Ids prompt = {1, 2};
  EXPECT_EQ(cache_->admit(1, prompt, words_of(prompt), next()).error, Error::invalid_argument);
  EXPECT_EQ(cache_->reserve(1, 1, next()).error, Error::invalid_argument);
  EXPECT_EQ(cache_->commit(1, 0, {}, next()).error, Error::invalid_argument);
  EXPECT_EQ(cache_->preempt(1).error, Error::invalid_argument);
  EXPECT_EQ(cache_->swap_out(1).error, Error::invalid_argument);
  EXPECT_EQ(cache_->swap_in(1, next()).error, Error::invalid_argument);
  ASSERT_TRUE(append(1, Ids{1, 2, 3}).ok());
  expect_healthy();
  CacheTestAccess::set_fill(*cache_, 1, 0, 2);
  EXPECT_TRUE(has_problem(cache_->audit(), "sequence 1: entry fills sum expected 3 (n), actual 2"));
  CacheTestAccess::set_fill(*cache_, 1, 0, 5);
  EXPECT_TRUE(has_problem(cache_->audit(), "fill expected <= page_size, actual 5"));
  CacheTestAccess::clear_fills(*cache_, 1);
  EXPECT_TRUE(has_problem(cache_->audit(), "sequence 1: entry fills expected 1, actual 0"));
}

// V-R5 and V-W0: packed entries are not block positions, so no prefix caching, window or groups.
TEST(SkippedSlotsConfig, RulesOutPositionalFeatures) {
  Config config{4, 8, Eviction::none, Shape{}};
  config.skip_reserved_slots = true;
  EXPECT_EQ(config_problem(config), "");
  const std::string why =
      "skip_reserved_slots needs prefix_caching off, no sliding_window and no KV groups";
  config.prefix_caching = true;
  EXPECT_EQ(config_problem(config), why);
  config.prefix_caching = false;
  config.sliding_window = 4;
  EXPECT_EQ(config_problem(config), why);
  config.sliding_window = 0;
  config.group_count = 2;
  EXPECT_EQ(config_problem(config), why);
}

// free_queue=single and duplicate_keys=remapped: page_size 2, prefix caching, LRU; each token's
// words are its id repeated (once per group).
class QueueRemapTest : public CacheFixture {
 protected:
  struct Variant {
    bool single = false;
    bool remap = false;
    bool fifo = false;
    uint32_t groups = 0;
  };
  void make(uint32_t max_pages, Variant variant) {
    Config config{2, max_pages, Eviction::lru, Shape{}, true};
    config.single_free_queue = variant.single;
    config.remap_duplicate_keys = variant.remap;
    config.reuse_fifo = variant.fifo;
    config.group_count = variant.groups;
    build(config);
  }
  Outcome prefill(SeqId seq, const Ids& ids) {
    Words words;
    for (uint32_t g = 0; g < config_.groups(); ++g)
      for (const uint32_t id : ids) words.insert(words.end(), config_.shape.words_per_token(), id);
    return cache_->prefill(seq, ids, words, next());
  }
  std::vector<PageId> table(SeqId seq, uint32_t group = 0) const {
    const auto span = cache_->block_table(seq, group);
    return {span.begin(), span.end()};
  }
};

// V-F1, V-F2: a new page is the queue's head, released pages queue at its tail, registered or not;
// a registered head loses its key. The split default (lifo) reuses the page released last instead.
TEST_F(QueueRemapTest, SingleQueueTakesTheHeadRegisteredOrNot) {
  for (const bool single : {false, true}) {
    make(4, {.single = single});
    ASSERT_TRUE(prefill(1, Ids{1, 2, 3}).ok());  // pages 0 and 1; {1,2} registered on page 0
    ASSERT_TRUE(cache_->free(1).ok());           // page 1 then page 0 released
    EXPECT_EQ(cache_->cached_queue(), (std::vector<PageId>{0}));  // V-F3: registered ones only
    ASSERT_TRUE(cache_->alloc(2, next()).ok());
    EXPECT_EQ(table(2), (std::vector<PageId>{single ? 2u : 1u}));
    ASSERT_TRUE(cache_->alloc(3, next()).ok());
    ASSERT_TRUE(cache_->alloc(4, next()).ok());
    EXPECT_EQ(table(3), (std::vector<PageId>{single ? 3u : 2u}));
    EXPECT_EQ(table(4), (std::vector<PageId>{single ? 1u : 3u}));
    EXPECT_EQ(cache_->stats().cached_keys, 1u);
    ASSERT_TRUE(cache_->alloc(5, next()).ok());  // the queue's registered page 0: it loses its key
    EXPECT_EQ(table(5), (std::vector<PageId>{0}));
    EXPECT_EQ(cache_->stats().cached_keys, 0u);
    EXPECT_TRUE(CacheTestAccess::free_list(*cache_).empty());
    expect_healthy();
  }
}

// V-F1: a hit takes its page from wherever it is in the queue; the new page is still the head.
TEST_F(QueueRemapTest, SingleQueueHitTakesFromTheMiddle) {
  make(4, {.single = true});
  ASSERT_TRUE(prefill(1, Ids{1, 2, 3}).ok());
  ASSERT_TRUE(cache_->free(1).ok());  // queue: 2, 3, 1, 0 (0 registered)
  const Outcome hit = prefill(2, Ids{1, 2, 5});
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit.hit_tokens, 2u);
  EXPECT_EQ(table(2), (std::vector<PageId>{0, 2}));
  ASSERT_TRUE(cache_->alloc(3, next()).ok());
  ASSERT_TRUE(cache_->alloc(4, next()).ok());
  EXPECT_EQ(table(3), (std::vector<PageId>{3}));
  EXPECT_EQ(table(4), (std::vector<PageId>{1}));
  EXPECT_EQ(cache_->stats().free_pages, 0u);
  expect_healthy();
}

// The audit sees a free page missing from the single queue and a page on the free list there.
TEST_F(QueueRemapTest, AuditReportsAPageOutsideTheSingleQueue) {
  make(4, {.single = true});
  ASSERT_TRUE(cache_->alloc(1, next()).ok());
  expect_healthy();
  PagePool& pool = CacheTestAccess::pool(*cache_);  // queue: 1, 2, 3; page 3 cut off its tail
  PagePoolTestAccess::set_queue_next(pool, 2, PagePool::kNoPage);
  PagePoolTestAccess::set_queue_tail(pool, 2);
  PagePoolTestAccess::set_queue_size(pool, 2);
  PagePoolTestAccess::push_free(pool, 3);  // and put on the free list
  const std::vector<std::string> problems = cache_->audit();
  EXPECT_TRUE(has_problem(problems, "in the free queue expected 1 (refcount 0"));
  EXPECT_TRUE(has_problem(problems, "free list: expected empty under free_queue=single"));
}

// V-K5, the worked example of docs/semantics.md 14.5: the recomputed last block moves onto the
// cached page and its own page is free again (refused keeps it: used=3).
TEST_F(QueueRemapTest, RemapMovesTheRecomputedBlockOntoTheCachedPage) {
  for (const bool remap : {false, true}) {
    make(4, {.remap = remap});
    ASSERT_TRUE(prefill(1, Ids{1, 2, 3, 4}).ok());  // pages 0 and 1, both registered
    const Outcome second = prefill(2, Ids{1, 2, 3, 4});
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second.hit_tokens, 2u);
    EXPECT_EQ(table(2), (std::vector<PageId>{0, remap ? 1u : 2u}));
    EXPECT_EQ(cache_->stats().used_pages, remap ? 2u : 3u);
    EXPECT_EQ(cache_->stats().cached_keys, 2u);
    Words words;
    for (const uint32_t id : Ids{1, 2, 3, 4})
      words.insert(words.end(), config_.shape.words_per_token(), id);
    EXPECT_EQ(read(2), words);
    expect_healthy();
  }
}

// V-K5: a cached page waiting in the queue leaves it when a block moves onto it, so it is not
// handed out again while the sequence holds it.
TEST_F(QueueRemapTest, RemapTakesTheCachedPageOutOfTheQueue) {
  make(4, {.remap = true});
  ASSERT_TRUE(prefill(1, Ids{1, 2, 3, 4}).ok());
  ASSERT_TRUE(cache_->free(1).ok());              // cached queue: 1, 0
  ASSERT_TRUE(prefill(2, Ids{1, 2, 3, 4}).ok());  // hits 0; block 1 computed in 2, moved onto 1
  EXPECT_EQ(table(2), (std::vector<PageId>{0, 1}));
  EXPECT_TRUE(cache_->cached_queue().empty());
  EXPECT_EQ(cache_->stats().free_pages, 2u);
  ASSERT_TRUE(cache_->alloc(3, next()).ok());
  ASSERT_TRUE(cache_->alloc(4, next()).ok());
  EXPECT_EQ(table(3), (std::vector<PageId>{2}));
  EXPECT_EQ(table(4), (std::vector<PageId>{3}));
  expect_healthy();
}

// V-K5: several blocks and groups move at once; their own pages are released block by block, each
// block's groups in group order, which fifo shows as the free list's order.
TEST_F(QueueRemapTest, RemapReleasesOwnPagesBlockMajor) {
  make(14, {.remap = true, .fifo = true, .groups = 2});
  // 4 blocks x 2 groups: group 0 on pages 0..3, group 1 on 4..7; blocks 0..2 registered.
  ASSERT_TRUE(prefill(1, Ids{1, 2, 3, 4, 5, 6, 7}).ok());
  // Free list 8..13, 3, 7; cached queue 2, 1, 6, 5. The append writes block 0 (pages 0 and 4):
  // they lose their keys, so the next prompt misses at block 0 but finds blocks 1 and 2.
  ASSERT_TRUE(cache_->truncate(1, 1, next()).ok());
  ASSERT_TRUE(cache_->append(1, 1, Words(2 * config_.shape.words_per_token(), 9), next()).ok());
  ASSERT_TRUE(prefill(2, Ids{1, 2, 3, 4, 5, 6, 7}).ok());  // takes 8..11 and 12, 13, 3, 7
  EXPECT_EQ(table(2, 0), (std::vector<PageId>{8, 1, 2, 11}));
  EXPECT_EQ(table(2, 1), (std::vector<PageId>{12, 5, 6, 7}));
  EXPECT_TRUE(cache_->cached_queue().empty());
  // Own pages released block 1 (groups 0, 1), then block 2: 9, 13, then 10, 3.
  EXPECT_EQ(CacheTestAccess::free_list(*cache_), (std::vector<PageId>{9, 13, 10, 3}));
  expect_healthy();
}

// Exclusive flags.
TEST(RemapConfig, ExcludesKeptDuplicateKeys) {
  Config config{2, 8, Eviction::none, Shape{}, true};
  config.remap_duplicate_keys = true;
  EXPECT_EQ(config_problem(config), "");
  config.keep_duplicate_keys = true;
  EXPECT_EQ(config_problem(config),
            "keep_duplicate_keys and remap_duplicate_keys exclude each other");
}

}  // namespace
}  // namespace kvcache
