// The shrinker: its output fails the same way, is never longer than its input, and is small.
#include "shrink/shrink.hpp"

#include <gtest/gtest.h>

#include "tests/planted_backend.hpp"
#include "trace/gen.hpp"

namespace kv {
namespace {

BackendFactory planted(PlantedBackend::Fault fault) {
  return [fault](const Config& config) {
    std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(std::make_unique<PlantedBackend>(config, fault, 0));
    return backends;
  };
}

TEST(Shrink, PassingTraceHasNothingToShrink) {
  ShrinkOptions options{planted(PlantedBackend::Fault::none), AuditMode::every};
  EXPECT_FALSE(shrink_trace(generate_trace(3, 100), options).has_value());
}

TEST(Shrink, KeepsTheFailureAndNeverGrows) {
  ShrinkOptions options{planted(PlantedBackend::Fault::fork_reports_exists), AuditMode::every};
  uint32_t shrunk_count = 0;
  for (uint64_t seed = 1; seed <= 30; seed++) {
    const Trace input = generate_trace(seed, 200);
    const auto result = shrink_trace(input, options);
    if (!result) continue;
    shrunk_count++;
    EXPECT_LE(result->op_count_after, input.lines.size());
    auto backends = options.make_backends(result->trace.config);
    const RunReport replay = run_trace(result->trace, backends, AuditMode::every);
    ASSERT_FALSE(replay.ok()) << "seed " << seed;
    EXPECT_EQ(replay.divergence->signature(), result->signature) << "seed " << seed;
    // The smallest failing trace is two ops: create a sequence, fork it.
    EXPECT_EQ(result->op_count_after, 2u) << format_trace(result->trace);
  }
  EXPECT_GT(shrunk_count, 20u);
}

TEST(Shrink, IsDeterministic) {
  ShrinkOptions options{planted(PlantedBackend::Fault::fork_reports_exists), AuditMode::every};
  const Trace input = generate_trace(5, 200);
  const auto first = shrink_trace(input, options);
  const auto second = shrink_trace(input, options);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(format_trace(first->trace), format_trace(second->trace));
}

TEST(Shrink, UnmetExpectationKeepsItsLine) {
  const std::string text =
      "kvtrace 1\nconfig page_size=2 max_pages=4\nalloc 7\nappend 7 3\ntouch 7\nappend 9 1\n"
      "stats => ok used=9 free=0 sequences=2 tokens=4\ninfo 7\n";
  const Trace input = std::get<Trace>(parse_trace(text, memory_budget_default_bytes));
  ShrinkOptions options{planted(PlantedBackend::Fault::none), AuditMode::every};
  const auto result = shrink_trace(input, options);
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->trace.lines.empty());
  const TraceLine& last = result->trace.lines.back();
  EXPECT_EQ(format_op(last.op), "stats");
  ASSERT_TRUE(last.expected.has_value());
  EXPECT_EQ(format_op_result(*last.expected), "ok used=9 free=0 sequences=2 tokens=4");
  EXPECT_EQ(result->op_count_after, 1u);
}

}  // namespace
}  // namespace kv
