// Isolated runs: a backend that aborts, fails a check, segfaults or hangs is a `crash` finding,
// with the prefix up to the op it died on, and the shrinker keeps the crash as its signature.
#include "runner/isolate.hpp"

#include <gtest/gtest.h>

#include "shrink/shrink.hpp"
#include "tests/support/planted_backend.hpp"
#include "trace/gen.hpp"

namespace kv {
namespace {

Trace sample_trace() {
  const std::string text =
      "kvtrace 1\nconfig page_size=2 max_pages=4\n"
      "append 1 3\n"    // tick 0, line 3
      "fork 1 2\n"      // tick 1, line 4
      "truncate 2 1\n"  // tick 2, line 5
      "read 1\n";       // tick 3, line 6
  return std::get<Trace>(parse_trace(text, memory_budget_default_bytes));
}

BackendFactory planted(PlantedBackend::Fault fault, Tick tick = 0) {
  return [fault, tick](const Config& config) {
    std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(std::make_unique<PlantedBackend>(config, fault, tick));
    return backends;
  };
}

TEST(Isolate, SameReportAsInProcess) {
  const Trace trace = sample_trace();
  for (const auto fault : {PlantedBackend::Fault::none, PlantedBackend::Fault::corrupt_read,
                           PlantedBackend::Fault::audit_error}) {
    auto backends = planted(fault, 3)(trace.config);
    const RunReport here = run_trace(trace, backends, AuditMode::every);
    const RunReport isolated = run_trace_isolated(trace, planted(fault, 3), AuditMode::every);
    EXPECT_EQ(isolated.op_count, here.op_count);
    ASSERT_EQ(isolated.ok(), here.ok());
    if (here.ok()) continue;
    EXPECT_EQ(isolated.divergence->signature(), here.divergence->signature());
    EXPECT_EQ(format_divergence(*isolated.divergence), format_divergence(*here.divergence));
    EXPECT_EQ(isolated.divergence->prefix, here.divergence->prefix);
  }
}

TEST(Isolate, AbortIsACrashAtItsOp) {
  const RunReport report = run_trace_isolated(
      sample_trace(), planted(PlantedBackend::Fault::abort_at, 2), AuditMode::every);
  ASSERT_FALSE(report.ok());
  const Divergence& d = *report.divergence;
  EXPECT_EQ(d.kind, FailureKind::crash);
  EXPECT_EQ(d.tick, 2u);
  EXPECT_EQ(d.line_number, 5u);
  EXPECT_EQ(d.op_text, "truncate 2 1");
  EXPECT_EQ(d.backend_name, "planted");
  EXPECT_EQ(d.prefix.lines.size(), 3u);
  EXPECT_NE(d.detail.find("SIGABRT"), std::string::npos) << d.detail;
  EXPECT_NE(format_divergence(d).find("crash"), std::string::npos);
}

// A streamed run (run_isolated): the child reports what it can; a crash comes back at its tick,
// leaving the op's text and line to the caller, and input errors travel with the report.
TEST(Isolate, AStreamedRunReportsItsCrashTickAndItsInputError) {
  const Trace trace = sample_trace();
  const auto streamed = [&trace](PlantedBackend::Fault fault, const std::string& input_error) {
    return [&trace, fault, input_error](RunProgress& progress, const NoteBackends& note) {
      auto backends = planted(fault, 2)(trace.config);
      note(backends);
      StreamRun run(trace.config, trace.header_comments, backends, AuditMode::every, &progress);
      for (const TraceLine& line : trace.lines) {
        if (!run.feed(std::span(&line, 1))) break;
      }
      RunReport report = run.finish();
      report.input_error = input_error;
      return report;
    };
  };
  const RunReport crash = run_isolated(streamed(PlantedBackend::Fault::abort_at, ""));
  ASSERT_FALSE(crash.ok());
  EXPECT_EQ(crash.divergence->kind, FailureKind::crash);
  EXPECT_EQ(crash.divergence->tick, 2u);
  EXPECT_EQ(crash.op_count, 3u);
  EXPECT_EQ(crash.divergence->op_text, "");
  EXPECT_EQ(crash.divergence->backend_name, "planted");
  const RunReport passed = run_isolated(streamed(PlantedBackend::Fault::none, "9: bad line"));
  EXPECT_TRUE(passed.ok());
  EXPECT_EQ(passed.op_count, trace.lines.size());
  EXPECT_EQ(passed.input_error, "9: bad line");
}

TEST(Isolate, FailedCheckMessageIsCapturedAndInTheSignature) {
  const RunReport report = run_trace_isolated(
      sample_trace(), planted(PlantedBackend::Fault::check_fails_on_fork), AuditMode::check);
  ASSERT_FALSE(report.ok());
  const Divergence& d = *report.divergence;
  EXPECT_EQ(d.kind, FailureKind::crash);
  EXPECT_EQ(d.tick, 1u);
  EXPECT_NE(d.detail.find("planted: a fork shares a page it must not"), std::string::npos)
      << d.detail;
  EXPECT_NE(d.signature().find("fork"), std::string::npos) << d.signature();
  EXPECT_NE(d.signature().find("a fork shares a page"), std::string::npos) << d.signature();
}

TEST(Isolate, SegfaultIsACrash) {
  const RunReport report = run_trace_isolated(
      sample_trace(), planted(PlantedBackend::Fault::segfault_on_truncate), AuditMode::every);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::crash);
  EXPECT_EQ(report.divergence->tick, 2u);
  // "killed by signal SIGSEGV", or the sanitizer's own "SEGV" report when it catches the signal.
  EXPECT_NE(report.divergence->detail.find("SEGV"), std::string::npos) << report.divergence->detail;
}

TEST(Isolate, HangIsACrashAfterTheTimeout) {
  const RunReport report =
      run_trace_isolated(sample_trace(), planted(PlantedBackend::Fault::hang_at, 1),
                         AuditMode::every, IsolateOptions{200});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::crash);
  EXPECT_EQ(report.divergence->tick, 1u);
  EXPECT_NE(report.divergence->detail.find("timed out after 200 ms"), std::string::npos)
      << report.divergence->detail;
}

TEST(Isolate, CrashShrinksToTheKnownMinimum) {
  ShrinkOptions options{planted(PlantedBackend::Fault::check_fails_on_fork), AuditMode::every};
  options.isolate = true;
  uint32_t shrunk_count = 0;
  for (uint64_t seed = 1; seed <= 6; seed++) {
    const Trace input = generate_trace(seed, 100);
    const auto result = shrink_trace(input, options);
    if (!result) continue;
    shrunk_count++;
    EXPECT_EQ(result->signature.substr(0, 11), "crash|fork|") << result->signature;
    // The smallest crashing trace: create a sequence, fork it.
    EXPECT_EQ(result->op_count_after, 2u) << format_trace(result->trace);
    const RunReport replay =
        run_trace_isolated(result->trace, options.make_backends, AuditMode::every);
    ASSERT_FALSE(replay.ok());
    EXPECT_EQ(replay.divergence->signature(), result->signature);
  }
  EXPECT_GE(shrunk_count, 3u);
}

}  // namespace
}  // namespace kv
