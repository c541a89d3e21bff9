// Every comparison of the runner (results, stats, info, sharing, data, `? cache` keys and queue)
// honours every declared variant: a backend that implements the variant exactly as the model does
// (a second model) is never reported, in generated traces that exercise the variant.
#include <gtest/gtest.h>

#include "runner/runner.hpp"
#include "tests/support/planted_backend.hpp"
#include "trace/capabilities.hpp"

namespace kv {

// One word of a variant other than its default (reuse_order has two).
struct VariantWord {
  const VariantKey* variant = nullptr;
  uint8_t word = 1;
};

std::vector<VariantWord> variant_words() {
  std::vector<VariantWord> out;
  for (const VariantKey& variant : variant_keys) {
    for (uint8_t word = 1; word < variant.word_count(); word++) out.push_back({&variant, word});
  }
  return out;
}

// Names the parameter in failure messages (gtest finds it by argument-dependent lookup).
static void PrintTo(const VariantWord& param, std::ostream* out) {
  *out << param.variant->key << "=" << param.variant->words[param.word];
}

namespace {

class VariantHonoured : public ::testing::TestWithParam<VariantWord> {};

TEST_P(VariantHonoured, ByEveryComparison) {
  const VariantKey& variant = *GetParam().variant;
  const uint8_t word = GetParam().word;
  Capabilities caps = Capabilities::all();
  caps.variants.*variant.field = word;
  caps.either_variants.*variant.field = 0;  // this word only
  // duplicate_hit=any means something only where keys name several pages (V-K7).
  const bool duplicate_hit = variant.field == &Config::duplicate_hit;
  if (duplicate_hit) {
    caps.variants.duplicate_keys = duplicate_kept;
    caps.either_variants.duplicate_keys = 0;
  }
  uint32_t ran = 0;
  uint32_t cached = 0;
  for (uint64_t seed = 1; seed <= 300 && cached < 40; seed++) {
    // Where each variant matters most: commits in the serving regime, the others in classic.
    const Profile profile = variant.field == &Config::rejected_slots ? Profile::serving
                            : duplicate_hit                          ? Profile::prefix
                                                                     : Profile::classic;
    const Trace trace = generate_trace_within(seed, 120, caps, profile);
    ASSERT_EQ(trace.config.*variant.field, word) << "seed " << seed;
    if (!variant.matters_in(trace.config)) continue;
    std::vector<std::unique_ptr<Backend>> backends;
    // duplicate_hit=any: a second model that takes another page than the first, as impl/ does.
    const auto fault = variant.field == &Config::duplicate_hit
                           ? PlantedBackend::Fault::hits_last_duplicate
                           : PlantedBackend::Fault::none;
    backends.push_back(std::make_unique<PlantedBackend>(trace.config, fault, 0));
    const RunReport report = run_trace(trace, backends, AuditMode::every);
    ASSERT_TRUE(report.ok()) << variant.key << "=" << variant.words[word] << ", seed " << seed
                             << ":\n"
                             << format_divergence(*report.divergence);
    ran++;
    cached += trace.config.prefix_caching ? 1 : 0;
  }
  EXPECT_GE(ran, 40u) << "too few traces where " << variant.key << " matters";
  // Caching variants run only with caching; the others must meet it too, but for
  // reserved_slots=skipped, which rules caching out (V-R5).
  if (variant.field != &Config::reserved_slots) {
    EXPECT_GE(cached, 10u);
  }
}

INSTANTIATE_TEST_SUITE_P(Declared, VariantHonoured, ::testing::ValuesIn(variant_words()),
                         [](const auto& test) {
                           return std::string(test.param.variant->key) + "_" +
                                  test.param.variant->words[test.param.word];
                         });

}  // namespace
}  // namespace kv
