// Replays of a failing trace: a nondeterministic backend is reported as such with both answers,
// its flaky failure still shrinks, and a deadline bounds shrinking keeping the best trace so far.
#include "shrink/replays.hpp"

#include <gtest/gtest.h>

#include "tests/support/planted_backend.hpp"

namespace kv {
namespace {

using Fault = PlantedBackend::Fault;

// Tick 1 (`alloc 2`) is capacity_exceeded; a planted backend's lie there says ok.
Trace failing_trace() {
  const std::string text =
      "kvtrace 1\nconfig page_size=2 max_pages=2\n"
      "append 1 3\n"
      "alloc 2\n"
      "append 1 1\n"
      "read 1\n"
      "free 1\n"
      "append 4 2\n"
      "check\n";
  return std::get<Trace>(parse_trace(text, memory_budget_default_bytes));
}

// Tick 5 (`alloc 2`) is capacity_exceeded, after ops a shrink removes.
Trace late_failing_trace() {
  const std::string text =
      "kvtrace 1\nconfig page_size=2 max_pages=3\n"
      "append 1 3\n"
      "append 5 1\n"
      "free 5\n"
      "read 1\n"
      "append 6 2\n"
      "alloc 2\n"
      "check\n";
  return std::get<Trace>(parse_trace(text, memory_budget_default_bytes));
}

ShrinkOptions planted(Fault fault, Tick tick = 0) {
  ShrinkOptions options;
  options.make_backends = [fault, tick](const Config& config) {
    std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(std::make_unique<PlantedBackend>(config, fault, tick));
    return backends;
  };
  return options;
}

// The first run of a flaky backend that fails (every second one does).
RunReport first_failure(const Trace& trace, const ShrinkOptions& options) {
  RunReport report = shrink_replay(trace, options);
  if (report.ok()) report = shrink_replay(trace, options);
  return report;
}

TEST(Replays, ADeterministicFailureFailsEveryTime) {
  const ShrinkOptions options = planted(Fault::wrong_result, 1);
  const RunReport first = shrink_replay(failing_trace(), options);
  ASSERT_FALSE(first.ok());
  const ReplayTally tally = tally_replays(first.divergence->prefix, first, options, 5);
  EXPECT_TRUE(tally.deterministic());
  EXPECT_EQ(tally.replay_count, 5u);
  EXPECT_EQ(tally.same_count, 5u);
}

TEST(Replays, ABackendThatAnswersDifferentlyIsNondeterministicWithBothAnswers) {
  const ShrinkOptions options = planted(Fault::flaky_result);
  const RunReport first = first_failure(failing_trace(), options);
  ASSERT_FALSE(first.ok());
  const ReplayTally tally = tally_replays(first.divergence->prefix, first, options, 5);
  ASSERT_FALSE(tally.deterministic());
  EXPECT_EQ(tally.replay_count, 5u);
  EXPECT_EQ(tally.same_count, 3u);  // runs 1, 3 and 5
  EXPECT_TRUE(tally.other->ok());
  const Divergence d = nondeterministic(*first.divergence, tally);
  EXPECT_EQ(d.kind, FailureKind::nondeterministic);
  EXPECT_EQ(d.signature(), "nondeterministic|grow|replays of the same trace disagree");
  EXPECT_EQ(d.tick, 1u);
  EXPECT_EQ(d.model, "capacity_exceeded");  // the failing answer...
  EXPECT_EQ(d.backend, "ok");
  EXPECT_NE(d.detail.find("3 of 5 runs diverged (result) at tick 1"), std::string::npos)
      << d.detail;
  EXPECT_NE(d.detail.find("another passed"), std::string::npos) << d.detail;  // ...and the other
}

TEST(Replays, AFlakyFailureShrinksWithTries) {
  ShrinkOptions options = planted(Fault::flaky_result);
  options.tries = 5;
  const auto shrunk = shrink_trace(late_failing_trace(), options);
  ASSERT_TRUE(shrunk.has_value());
  EXPECT_LT(shrunk->op_count_after, 6u);
  EXPECT_FALSE(shrunk->cut_short);
  // The shrunk trace still fails, on some of its replays.
  bool failed = false;
  for (int i = 0; i < 2; i++) failed |= !shrink_replay(shrunk->trace, options).ok();
  EXPECT_TRUE(failed);
}

TEST(Replays, ADeadlineStopsShrinkingKeepingTheFailingTrace) {
  ShrinkOptions options = planted(Fault::capacity_reads_ok);
  const auto full = shrink_trace(late_failing_trace(), options);
  ASSERT_TRUE(full.has_value());
  EXPECT_FALSE(full->cut_short);
  EXPECT_LT(full->op_count_after, 6u);
  options.deadline = std::chrono::steady_clock::now();  // already past
  const auto cut = shrink_trace(late_failing_trace(), options);
  ASSERT_TRUE(cut.has_value());
  EXPECT_TRUE(cut->cut_short);
  EXPECT_EQ(cut->op_count_after, 6u);  // the failing prefix, as it was
  EXPECT_EQ(cut->run_count, 0u);
  EXPECT_FALSE(shrink_replay(cut->trace, options).ok());
}

}  // namespace
}  // namespace kv
