// Reach of the property generators: each scale regime reaches the scale it is for (measured with
// kv::Reach over sampled cases); `KV_REACH_PRINT=1` prints the tables, and
// Reach.PropertySuite prints what each property of a run reaches (the README's reach table).
#include "runner/reach.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "properties/generators.hpp"
#include "properties/regimes.hpp"

namespace kv::props {
namespace {

// What `cases` sampled cases of `gen` reach, at sizes spread over 0..100 like a property run.
Reach sample_reach(const rc::Gen<OpSequence>& gen, int cases) {
  Reach reach;
  for (int i = 0; i < cases; i++) {
    const int size = cases > 1 ? i * 100 / (cases - 1) : 100;
    const OpSequence sequence = gen(rc::Random(static_cast<uint64_t>(i) * 7919 + 1), size).value();
    reach.add(to_trace(sequence));
  }
  if (const char* print = std::getenv("KV_REACH_PRINT"); print && *print == '1') {
    std::cout << reach.format() << "\n";
  }
  return reach;
}

TEST(Reach, BatchHasHundredsOfLiveSequencesAndBigSteps) {
  const Reach reach = sample_reach(gen_regime_sequence(Profile::batch), 30);
  EXPECT_GE(reach.max_live_sequences, 200u);
  EXPECT_GE(reach.max_step_members, 100u);
}

TEST(Reach, FanoutSharesPagesHundredsOfTimes) {
  const Reach reach = sample_reach(gen_regime_sequence(Profile::fanout), 50);
  EXPECT_GE(reach.max_holders_per_page, 100u);
}

TEST(Reach, IdsSpanThe32BitRange) {
  const Reach reach = sample_reach(gen_regime_sequence(Profile::ids), 100);
  EXPECT_EQ(reach.min_id, 0u);
  EXPECT_EQ(reach.max_id, UINT32_MAX);
  EXPECT_GE(reach.ids.size(), 1000u);
}

TEST(Reach, ShapesHaveRealVectors) {
  const Reach reach = sample_reach(gen_regime_sequence(Profile::shapes), 100);
  EXPECT_GE(reach.max_vector_words, 512u);
}

TEST(Reach, PagesSpanSizesAndPools) {
  const Reach reach = sample_reach(gen_regime_sequence(Profile::pages), 100);
  EXPECT_GT(reach.odd_page_size_count(), 0u);
  EXPECT_GE(*reach.page_sizes.rbegin(), 4096u);
  EXPECT_EQ(reach.min_pool_pages, 1u);
  EXPECT_GE(reach.max_pool_pages, 1000u);
}

TEST(Reach, PressureEvicts) {
  const Reach reach = sample_reach(gen_regime_sequence(Profile::pressure), 30);
  EXPECT_GE(reach.evictions, 1000u);
}

TEST(Reach, DefaultPropertyMixesTheRegimesIn) {
  const Reach reach = sample_reach(gen_op_sequence(), 300);
  EXPECT_GE(reach.max_live_sequences, 100u);
  EXPECT_EQ(reach.max_id, UINT32_MAX);
  EXPECT_GT(reach.odd_page_size_count(), 0u);
}

// With KV_REACH_PRINT=1: each property's generator sampled with the cases that property gets
// from RC_PARAMS' max_success (its share for the regimes), at sizes ramped over 0..100 as
// RapidCheck does, one table per property. Skipped otherwise (it is a measurement, not a check).
TEST(Reach, PropertySuite) {
  const char* print = std::getenv("KV_REACH_PRINT");
  if (!print || *print != '1') GTEST_SKIP() << "set KV_REACH_PRINT=1 to print the suite's reach";
  const int max_success = rc::detail::configuration().testParams.maxSuccess;
  std::cout << "max_success=" << max_success << "\n";
  std::cout << "StateMachine.host (" << max_success << " cases):\n";
  sample_reach(gen_op_sequence(), max_success);
  std::cout << "StateMachine.hip-emu (" << max_success << " cases):\n";
  sample_reach(gen_classic_sequence(), max_success);
  for (const RegimeProperty& regime : regime_properties()) {
    const int cases = std::max(1, max_success * regime.cases_per_mille / 1000);
    std::cout << "Regime." << profile_name(regime.profile) << " (" << cases << " cases):\n";
    sample_reach(gen_regime_sequence(regime.profile), cases);
  }
}

}  // namespace
}  // namespace kv::props
