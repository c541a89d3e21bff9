// Reach of the property generators: each scale regime reaches the scale it is for (measured with
// kv::Reach over sampled cases); `KV_REACH_PRINT=1` prints the tables, and
// Reach.PropertySuite prints what each property of a run reaches (docs/measurements/reach.md).
#include "runner/reach.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "backends/backends.hpp"
#include "gpu/emu_runtime.hpp"
#include "properties/generators.hpp"
#include "runner/runner.hpp"

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

// Regime.device's cases, run on the emulated device, launch kernels of more than 65,535 threads
// (one per word), and kernels the device runs on fewer blocks than they ask for (their
// grid-stride loops take several turns per thread).
TEST(Reach, DeviceLaunchesPastABlockAGridAnd65535Words) {
  const rc::Gen<OpSequence> gen = gen_regime_sequence(Profile::device);
  const Reach reach = sample_reach(gen, 30);
  EXPECT_EQ(reach.max_vector_words, 1024u);
  EXPECT_GE(reach.max_token_words, 4096u);
  kvemu::reset_launch_stats();
  for (int i = 0; i < 30; i++) {
    const OpSequence sequence = gen(rc::Random(static_cast<uint64_t>(i) * 7919 + 1), 100).value();
    EXPECT_TRUE(run_trace(to_trace(sequence), {"hip-emu"}, AuditMode::check).ok());
  }
  const kvemu::LaunchStats stats = kvemu::launch_stats();
  if (const char* print = std::getenv("KV_REACH_PRINT"); print && *print == '1') {
    std::cout << "hip-emu launches " << stats.launches << ", largest " << stats.max_threads_asked
              << " threads (" << stats.max_blocks_asked << " blocks), on a smaller grid "
              << stats.small_grid_launches << "\n";
  }
  EXPECT_GT(stats.max_threads_asked, 65535u);
  EXPECT_GE(stats.max_blocks_asked, 256u);
  EXPECT_GE(stats.small_grid_launches, stats.launches / 2);
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
    std::cout << "Regime." << regime.name << " (" << cases << " cases):\n";
    sample_reach(regime.cases, cases);
  }
}

}  // namespace
}  // namespace kv::props
