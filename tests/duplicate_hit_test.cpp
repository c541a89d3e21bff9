// duplicate_hit=any (docs/semantics.md V-K7): the runner follows the backend's choice among a key's
// pages, which is a finding under the default duplicate_hit=first.
#include <gtest/gtest.h>

#include "backends/host_backend.hpp"
#include "runner/runner.hpp"
#include "tests/support/planted_backend.hpp"
#include "trace/capabilities.hpp"
#include "trace/gen.hpp"

namespace kv {
namespace {

// V-K7's worked example: sequence 3's hit on block 0 may take page 0 (held) or page 2 (queued).
Trace example_trace(const char* word) {
  const std::string text =
      std::string(
          "kvtrace 2\nconfig page_size=2 max_pages=4 prefix_caching=on duplicate_keys=kept "
          "duplicate_hit=") +
      word +
      "\nprefill 1 1:4\nprefill 2 1:2\nfree 2\nprefill 3 1:3\nstats\nfree 1\nprefill 4 1:4\n";
  ParseResult parsed = parse_trace(text, memory_budget_default_bytes);
  EXPECT_TRUE(std::holds_alternative<Trace>(parsed)) << std::get<ParseError>(parsed).message;
  return std::get<Trace>(parsed);
}

using Fault = PlantedBackend::Fault;

RunReport run_with(const Trace& trace, std::vector<Fault> faults, AuditMode mode) {
  std::vector<std::unique_ptr<Backend>> backends;
  for (const Fault fault : faults)
    backends.push_back(std::make_unique<PlantedBackend>(trace.config, fault, 0));
  return run_trace(trace, backends, mode);
}

TEST(DuplicateHit, ABackendTakingTheLastPageIsFollowedUnderAny) {
  for (const AuditMode mode : {AuditMode::every, AuditMode::check, AuditMode::touched}) {
    const RunReport report = run_with(example_trace("any"), {Fault::hits_last_duplicate}, mode);
    EXPECT_TRUE(report.ok()) << format_divergence(*report.divergence);
  }
}

TEST(DuplicateHit, ABackendTakingTheLastPageIsAFindingUnderFirst) {
  const RunReport report =
      run_with(example_trace("first"), {Fault::hits_last_duplicate}, AuditMode::every);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::stats);
  EXPECT_EQ(report.divergence->tick, 3u);
  EXPECT_NE(report.divergence->detail.find("stats differ in used"), std::string::npos)
      << report.divergence->detail;
}

// The model follows the first backend; a second one that took the first page is compared with it.
TEST(DuplicateHit, SeveralBackendsAreComparedWithTheFirstOnesChoice) {
  const Trace trace = example_trace("any");
  EXPECT_TRUE(
      run_with(trace, {Fault::hits_last_duplicate, Fault::hits_last_duplicate}, AuditMode::every)
          .ok());
  const RunReport report =
      run_with(trace, {Fault::hits_last_duplicate, Fault::none}, AuditMode::every);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->tick, 3u);
  EXPECT_EQ(report.divergence->backend_name, "planted");
}

// A campaign's shrunk trace (prefix profile, seed 123): impl's choice for `prefill 6` (the queued
// page of block 1's key) does not fit where V-K2's does. The model fails too under the costliest
// choice, and the file's expectation, written under V-K2 (`ok hit=6`), is no longer compared.
TEST(DuplicateHit, AFailureTheBackendsChoiceCausedIsNoFinding) {
  const std::string text =
      "kvtrace 2\nconfig page_size=2 max_pages=8 prefix_caching=on duplicate_keys=kept "
      "duplicate_hit=any\nprefill 1 2:8 => ok hit=0\ntruncate 1 3 => ok\nalloc 3 => ok\n"
      "append 4 3 => ok\nprefill 5 2:4 => ok hit=2\ntruncate 5 1 => ok\nappend 5 1 => ok\n"
      "prefill 6 2:8 => ok hit=6\n";
  ParseResult parsed = parse_trace(text, memory_budget_default_bytes);
  ASSERT_TRUE(std::holds_alternative<Trace>(parsed)) << std::get<ParseError>(parsed).message;
  const Trace& trace = std::get<Trace>(parsed);
  std::vector<std::unique_ptr<Backend>> host;
  host.push_back(std::make_unique<HostBackend>(trace.config));
  const RunReport report = run_trace(trace, host, AuditMode::every);
  EXPECT_TRUE(report.ok()) << format_divergence(*report.divergence);
  EXPECT_EQ(format_op_result(host.front()->apply(trace.lines.back().op, 8)),
            "capacity_exceeded");  // impl's choice did not fit (run_trace's apply failed too)
}

// impl/ under any: sequence 3's hit takes page 2 (registered last, queued), so four pages are used.
TEST(DuplicateHit, HostBackendTakesTheLastRegisteredPage) {
  for (const char* word : {"first", "any"}) {
    const Trace trace = example_trace(word);
    HostBackend host(trace.config);
    for (size_t tick = 0; tick < 4; tick++) host.apply(trace.lines[tick].op, tick);
    EXPECT_EQ(host.stats().used_pages, std::string(word) == "any" ? 4u : 3u) << word;
  }
}

// impl/ takes the most recently registered page (kvcache::Config::hit_latest_duplicate): the host
// backend agrees with the model under any, on the example and on generated prefix traces, and the
// planted last-page backend shows those traces do reach duplicate hits that change observations.
TEST(DuplicateHit, HostBackendAgreesOnGeneratedTraces) {
  std::vector<std::unique_ptr<Backend>> host;
  const Trace example = example_trace("any");
  host.push_back(std::make_unique<HostBackend>(example.config));
  const RunReport example_report = run_trace(example, host, AuditMode::every);
  EXPECT_TRUE(example_report.ok()) << format_divergence(*example_report.divergence);
  Capabilities caps = Capabilities::all();
  caps.variants.duplicate_hit = duplicate_hit_any;
  caps.variants.duplicate_keys = duplicate_kept;
  caps.either_variants.duplicate_hit = 0;
  caps.either_variants.duplicate_keys = 0;
  uint32_t differing = 0;
  for (uint64_t seed = 1; seed <= 60; seed++) {
    Trace trace = generate_trace_within(seed, 150, caps, Profile::prefix);
    if (!trace.config.prefix_caching) continue;
    std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(std::make_unique<HostBackend>(trace.config));
    const RunReport report = run_trace(trace, backends, AuditMode::every);
    ASSERT_TRUE(report.ok()) << "seed " << seed << ":\n" << format_divergence(*report.divergence);
    trace.config.duplicate_hit = duplicate_hit_first;
    differing += run_with(trace, {Fault::hits_last_duplicate}, AuditMode::every).ok() ? 0 : 1;
  }
  EXPECT_GT(differing, 0u) << "no generated trace took another duplicate page than the first";
}

}  // namespace
}  // namespace kv
