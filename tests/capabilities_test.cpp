// Backend profiles that restrict counts and declare semantic variants (`count`, `config` lines):
// parsing, the checks of files against them, and generation within them.
#include "trace/capabilities.hpp"

#include <gtest/gtest.h>

namespace kv {
namespace {

Capabilities profile(std::initializer_list<const char*> lines) {
  Capabilities caps;
  caps.ops.fill(true);
  for (const char* line : lines) {
    const auto problem = apply_profile_line(line, caps);
    EXPECT_FALSE(problem) << line << ": " << *problem;
  }
  return caps;
}

// The fuzzer's choices mode draws the serving and window regimes' variants and restricts the
// trace to a backend's capabilities: a variant it does not implement (free_queue=single, here a
// backend with the in-tree capabilities less that word) must go, one it implements both ways
// (rejected_slots) stays, and so does a window. The in-tree backends keep every variant.
TEST(Capabilities, RestrictingToABackendDropsVariantsItLacks) {
  Trace trace;
  trace.config.page_size = 2;
  trace.config.max_pages = 4;
  trace.config.prefix_caching = true;
  trace.config.free_queue = true;
  trace.config.rejected_slots = true;
  trace.config.sliding_window = 5;
  Capabilities split_only = Capabilities::all();
  split_only.either_variants.free_queue = 1;  // the default word alone
  const Trace restricted = restrict_to(trace, split_only);
  EXPECT_FALSE(restricted.config.free_queue);
  EXPECT_TRUE(restricted.config.rejected_slots);
  EXPECT_EQ(restricted.config.sliding_window, 5u);
  EXPECT_FALSE(config_outside(restricted.config, split_only));
  EXPECT_EQ(restrict_to(trace, Capabilities::all()).config, trace.config);
}

TEST(Capabilities, CountLineRestrictsGeneratedCounts) {
  const Capabilities caps =
      profile({"ops alloc append step free read", "count append 1 1", "count step 1 1"});
  uint64_t append_count = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    const Trace trace = generate_trace_within(seed, 200, caps, Profile::classic);
    EXPECT_EQ(trace.lines.size(), 200u) << "seed " << seed;
    EXPECT_FALSE(trace_outside(trace, caps, "test")) << "seed " << seed;
    for (const TraceLine& line : trace.lines) {
      if (line.op.kind == OpKind::append) {
        append_count++;
        EXPECT_EQ(line.op.count, 1u);
      }
      for (const StepEntry& entry : line.op.entries) EXPECT_EQ(entry.token_count, 1u);
    }
  }
  EXPECT_GT(append_count, 100u);
}

TEST(Capabilities, CountOutsideTheProfileIsNamed) {
  const Capabilities caps = profile({"count append 1 1"});
  TraceLine line;
  line.op.kind = OpKind::append;
  line.op.count = 2;
  line.line_number = 7;
  const auto why = line_outside(line, caps, "rocmforge");
  ASSERT_TRUE(why);
  EXPECT_EQ(*why,
            "7: `append` count 2 is outside the profile of backend rocmforge (count append 1 1)");
  line.op.count = 1;
  EXPECT_FALSE(line_outside(line, caps, "rocmforge"));
}

TEST(Capabilities, ConfigLineDeclaresVariantsForEveryGeneratedTrace) {
  const Capabilities caps = profile({"config append_atomicity=token decode_caching=on"});
  for (uint64_t seed = 1; seed <= 10; seed++) {
    const Trace trace = generate_trace_within(seed, 50, caps, Profile::mixed);
    EXPECT_TRUE(trace.config.append_atomicity) << "seed " << seed;
    EXPECT_TRUE(trace.config.decode_caching) << "seed " << seed;
    EXPECT_FALSE(trace_outside(trace, caps, "test"));
  }
  Config plain;
  plain.page_size = 4;
  plain.max_pages = 4;
  const auto why = config_outside(plain, caps);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "append_atomicity=op but its profile runs under append_atomicity=token");
  EXPECT_NE(format_profile(caps).find("config append_atomicity=token decode_caching=on\n"),
            std::string::npos)
      << format_profile(caps);
}

TEST(Capabilities, InTreeBackendsTakeEveryVariantAProfileLackingOneRefusesIt) {
  Config config;
  config.page_size = 4;
  config.max_pages = 4;
  config.append_atomicity = true;
  EXPECT_FALSE(config_outside(config, Capabilities::all()));
  config.free_queue = true;
  config.prefix_caching = true;
  config.duplicate_keys = duplicate_remapped;
  EXPECT_FALSE(config_outside(config, Capabilities::all()));
  Capabilities lacking = Capabilities::all();
  lacking.either_variants.free_queue = 1;  // the default word alone
  const auto why = config_outside(config, lacking);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "free_queue=single but its profile runs under free_queue=split");
}

Config four_pages_of_four(bool prefix_caching) {
  Config config;
  config.page_size = 4;
  config.max_pages = 4;
  config.prefix_caching = prefix_caching;
  return config;
}

TEST(Capabilities, CachingVariantsMatterOnlyUnderPrefixCaching) {
  // An engine that always caches decode blocks and keeps duplicate keys: a file without prefix
  // caching cannot tell its rules from the default ones, so it is within the profile, and the
  // backend is handed its own values; with caching on it is outside.
  const Capabilities caps = profile({"config decode_caching=on duplicate_keys=kept"});
  Config config = four_pages_of_four(false);
  EXPECT_FALSE(config_outside(config, caps));
  adopt_unneeded_variants(config, caps);
  EXPECT_TRUE(config.decode_caching);
  EXPECT_TRUE(config.duplicate_keys);
  Config cached = four_pages_of_four(true);
  const auto why = config_outside(cached, caps);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "decode_caching=off but its profile runs under decode_caching=on");
  adopt_unneeded_variants(cached, caps);
  EXPECT_FALSE(cached.decode_caching);  // it matters here: never changed behind the file's back
  // A variant of any config (append_atomicity) is never adopted.
  const Capabilities token = profile({"config append_atomicity=token"});
  Config plain = four_pages_of_four(false);
  EXPECT_TRUE(config_outside(plain, token));
  adopt_unneeded_variants(plain, token);
  EXPECT_FALSE(plain.append_atomicity);
}

TEST(Capabilities, BadCountAndConfigLinesSayWhatIsExpected) {
  Capabilities caps;
  const std::pair<const char*, const char*> cases[] = {
      {"count append 2 1", "needs OP MIN MAX with MIN <= MAX"},
      {"count fork 1 1", "which has no count"},
      {"count nosuchop 1 1", "needs OP MIN MAX"},
      {"config", "names no KEY=VALUE"},
      {"config append_atomicity=sometimes",
       "is not a variant KEY=VALUE (known: append_atomicity=op|token"},
      {"config page_size=4", "is not a variant KEY=VALUE"},
  };
  for (const auto& [line, message] : cases) {
    const auto problem = apply_profile_line(line, caps);
    ASSERT_TRUE(problem) << line;
    EXPECT_NE(problem->find(message), std::string::npos) << line << ": " << *problem;
  }
}

TEST(Capabilities, RestrictedProfileKeepsTheChosenProfilesPrefixBursts) {
  const Capabilities caps = profile({"ops prefill free read stats check", "eviction none lru"});
  uint64_t prefill_count = 0;
  uint64_t prefix_trace_count = 0;
  for (uint64_t seed = 1; seed <= 40; seed++) {
    const Trace trace = generate_trace_within(seed, 200, caps, Profile::mixed);
    prefix_trace_count += trace.config.prefix_caching ? 1 : 0;
    for (const TraceLine& line : trace.lines) prefill_count += line.op.kind == OpKind::prefill;
  }
  EXPECT_GT(prefix_trace_count, 5u);
  EXPECT_GT(prefill_count, 400u);
}

}  // namespace
}  // namespace kv
