// A backend that answers wrongly (tables of the wrong length, unknown pages, word lists of the
// wrong size, a prefix cache naming pages nobody holds) is a finding with a report, never a crash
// of the runner. Runs in this process, so under ASan an out-of-bounds read fails the test.
#include <gtest/gtest.h>

#include <set>

#include "runner/runner.hpp"
#include "tests/support/planted_backend.hpp"
#include "trace/gen.hpp"

namespace kv {
namespace {

using Fault = PlantedBackend::Fault;

struct WrongAnswer {
  const char* name;
  Fault fault;
  std::set<FailureKind> kinds;  // what the runner may call it
  bool needs_caching;
};

void PrintTo(const WrongAnswer& wrong, std::ostream* out) {
  *out << wrong.name;
}

class WrongBackend : public ::testing::TestWithParam<WrongAnswer> {};

// Runs generated traces (caching on where the fault needs it) against the planted backend, fault
// from tick 0, until `wanted` of them fail; returns the failures.
std::vector<Divergence> failures_of(const WrongAnswer& wrong, size_t wanted) {
  std::vector<Divergence> found;
  for (uint64_t seed = 1; seed <= 400 && found.size() < wanted; seed++) {
    const Trace trace = generate_trace(seed, 60, Profile::classic);
    if (wrong.needs_caching && !trace.config.prefix_caching) continue;
    std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(std::make_unique<PlantedBackend>(trace.config, wrong.fault, 0));
    const RunReport report = run_trace(trace, backends, AuditMode::every);
    if (!report.ok()) found.push_back(*report.divergence);
  }
  return found;
}

TEST_P(WrongBackend, IsAFindingWithAReport) {
  const WrongAnswer& wrong = GetParam();
  const std::vector<Divergence> found = failures_of(wrong, 5);
  ASSERT_EQ(found.size(), 5u) << "the runner saw nothing wrong in 400 traces";
  for (const Divergence& divergence : found) {
    EXPECT_TRUE(wrong.kinds.count(divergence.kind)) << format_divergence(divergence);
    EXPECT_FALSE(divergence.detail.empty()) << format_divergence(divergence);
    EXPECT_EQ(divergence.backend_name, "planted");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Answers, WrongBackend,
    ::testing::Values(
        WrongAnswer{"short_table", Fault::short_table, {FailureKind::sharing}, false},
        WrongAnswer{"empty_table", Fault::empty_table, {FailureKind::sharing}, false},
        WrongAnswer{"long_table", Fault::long_table, {FailureKind::sharing}, false},
        WrongAnswer{"unknown_page",
                    Fault::unknown_page,
                    {FailureKind::sharing, FailureKind::prefix},
                    false},
        WrongAnswer{"short_gather", Fault::short_gather, {FailureKind::read}, false},
        WrongAnswer{"long_gather", Fault::long_gather, {FailureKind::read}, false},
        WrongAnswer{"short_read", Fault::short_read, {FailureKind::read}, false},
        WrongAnswer{"missing_sequence", Fault::missing_sequence, {FailureKind::sharing}, false},
        WrongAnswer{"cache_unknown_page", Fault::cache_unknown_page, {FailureKind::prefix}, true},
        WrongAnswer{"cache_duplicate_key", Fault::cache_duplicate_key, {FailureKind::prefix}, true},
        WrongAnswer{
            "cache_queue_unknown", Fault::cache_queue_unknown, {FailureKind::prefix}, true}),
    [](const auto& test) { return std::string(test.param.name); });

// The crash this test was written for: a backend's table shorter than the model's, read by the
// per-op check (SharingMirror::update) before the lengths were compared: SIGSEGV on an empty one.
// Hundreds of one-page sequences space the whole-state checks out; one of 16 trace lengths puts
// the bad table between two of them, where only the per-op check sees it.
TEST(WrongBackend, EmptyTableAfterAnAppendIsASharingFinding) {
  for (uint32_t live = 300; live < 316; live++) {
    std::string text = "kvtrace 1\nconfig page_size=2 max_pages=400\n";
    for (uint32_t seq = 1; seq <= live; seq++) text += "append " + std::to_string(seq) + " 1\n";
    text += "append 1 4\n";  // three pages, the backend shows none
    const Trace trace = std::get<Trace>(parse_trace(text, memory_budget_default_bytes));
    std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(std::make_unique<PlantedBackend>(trace.config, Fault::empty_table, live));
    const RunReport report = run_trace(trace, backends, AuditMode::every);
    ASSERT_FALSE(report.ok()) << live;
    EXPECT_EQ(report.divergence->kind, FailureKind::sharing);
    EXPECT_EQ(report.divergence->tick, live);
    EXPECT_NE(report.divergence->detail.find("block table has 0 entries, model has 3"),
              std::string::npos)
        << report.divergence->detail;
  }
}

}  // namespace
}  // namespace kv
