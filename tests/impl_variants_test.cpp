// GoogleTest tests of impl/'s prefix-caching variants (docs/semantics.md section 14):
// duplicate_keys=kept (V-K1..V-K4) and decode_caching=on (V-D1, V-D2), each against what the
// default rule does with the same ops.
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

}  // namespace
}  // namespace kvcache
