// The runner's `? cache` comparison under the declared variants: duplicate keys compared as
// multisets, pages paired per key.
#include <gtest/gtest.h>

#include "runner/runner.hpp"
#include "tests/support/planted_backend.hpp"

namespace kv {
namespace {

using Fault = PlantedBackend::Fault;

// The example: two sequences prefill the same one-token block; under duplicate_keys=kept
// both register it (cached=2), and one of them frees it into the cached queue.
Trace duplicate_key_trace(const std::string& variant) {
  const std::string text = "kvtrace 2\nconfig page_size=1 max_pages=4 prefix_caching=on" + variant +
                           "\n"
                           "prefill 1 2:1\n"
                           "append 1 1\n"
                           "prefill 3 2:1\n"
                           "append 3 1\n"
                           "free 1\n"
                           "check\n";
  return std::get<Trace>(parse_trace(text, memory_budget_default_bytes));
}

RunReport run_planted(const Trace& trace, Fault fault) {
  std::vector<std::unique_ptr<Backend>> backends;
  backends.push_back(std::make_unique<PlantedBackend>(trace.config, fault, 0));
  return run_trace(trace, backends, AuditMode::every);
}

TEST(PrefixCheck, DuplicateKeysKeptOnBothSidesAgree) {
  const Trace trace = duplicate_key_trace(" duplicate_keys=kept");
  const RunReport report = run_planted(trace, Fault::none);
  EXPECT_TRUE(report.ok()) << format_divergence(*report.divergence);
  // The key really is registered twice, so the comparison saw a duplicate.
  Model model(trace.config);
  for (Tick tick = 0; tick < 4; tick++) model.apply(trace.lines[tick].op, tick);
  EXPECT_EQ(model.prefix_cache().registered.size(), 2u);
}

TEST(PrefixCheck, OneRegistrationMoreThanTheModelIsAFinding) {
  for (const std::string variant : {"", " duplicate_keys=kept"}) {
    const RunReport report = run_planted(duplicate_key_trace(variant), Fault::cache_duplicate_key);
    ASSERT_FALSE(report.ok()) << variant;
    EXPECT_EQ(report.divergence->kind, FailureKind::prefix);
    EXPECT_NE(report.divergence->detail.find(
                  "a key registered a different number of times: key of 1 ids"),
              std::string::npos)
        << report.divergence->detail;
  }
}

TEST(PrefixCheck, AKeyOnAPageTheTablesPairOtherwiseIsAFinding) {
  // The backend registers the first key on a page no table holds, while the model's page for it
  // is in sequence 1's table.
  const Trace trace = duplicate_key_trace("");
  const RunReport report = run_planted(trace, Fault::cache_unknown_page);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::prefix);
  EXPECT_NE(report.divergence->detail.find("which the block tables pair with backend page"),
            std::string::npos)
      << report.divergence->detail;
}

TEST(PrefixCheck, TheReportShowsTheOpBothResultsTheKeyAndThePages) {
  const Trace trace = duplicate_key_trace("");
  const RunReport report = run_planted(trace, Fault::cache_queue_unknown);
  ASSERT_FALSE(report.ok());
  const std::string text = format_divergence(*report.divergence);
  EXPECT_EQ(report.divergence->kind, FailureKind::prefix);
  EXPECT_NE(text.find("prefill 1 2:1"), std::string::npos) << text;
  EXPECT_NE(text.find("  model:    ok hit=0"), std::string::npos) << text;
  EXPECT_NE(text.find("  planted:  ok hit=0"), std::string::npos) << text;  // it agreed
  EXPECT_NE(text.find("backend holds an unregistered page (backend page 1152921504606846976)"),
            std::string::npos)
      << text;
  EXPECT_EQ(report.divergence->signature(), "prefix|grow|the cached queue differs at a position");
}

}  // namespace
}  // namespace kv
