// The differential runner: planted divergences of every kind are reported at the right tick.
#include "runner/runner.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "backends/backends.hpp"
#include "backends/host_backend.hpp"
#include "tests/support/planted_backend.hpp"
#include "trace/token.hpp"

namespace kv {
namespace {

Trace sample_trace() {
  const std::string text =
      "kvtrace 1\nconfig page_size=2 max_pages=2\n"
      "append 1 3\n"  // tick 0, line 3
      "alloc 2\n"     // tick 1: capacity_exceeded
      "read 1\n"      // tick 2
      "check\n"       // tick 3
      "stats\n";      // tick 4
  return std::get<Trace>(parse_trace(text, memory_budget_default_bytes));
}

RunReport run_with(PlantedBackend::Fault fault, Tick tick, AuditMode mode = AuditMode::check) {
  const Trace trace = sample_trace();
  std::vector<std::unique_ptr<Backend>> backends;
  backends.push_back(std::make_unique<PlantedBackend>(trace.config, fault, tick));
  return run_trace(trace, backends, mode);
}

TEST(Runner, AgreeingBackendPasses) {
  const RunReport report = run_with(PlantedBackend::Fault::none, 0, AuditMode::every);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.op_count, 5u);
}

TEST(Runner, WrongResultIsReportedAtItsTick) {
  const RunReport report = run_with(PlantedBackend::Fault::wrong_result, 1);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::result);
  EXPECT_EQ(report.divergence->tick, 1u);
  EXPECT_EQ(report.divergence->line_number, 4u);
  EXPECT_EQ(report.divergence->model, "capacity_exceeded");
  EXPECT_EQ(report.divergence->backend, "ok");
  EXPECT_EQ(report.divergence->prefix.lines.size(), 2u);
  EXPECT_NE(format_divergence(*report.divergence).find("alloc 2"), std::string::npos);
}

TEST(Runner, CorruptReadIsReported) {
  const RunReport report = run_with(PlantedBackend::Fault::corrupt_read, 2);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::read);
  EXPECT_EQ(report.divergence->tick, 2u);
  EXPECT_NE(report.divergence->detail.find("token 0 layer 0 K word 0"), std::string::npos)
      << report.divergence->detail;
}

TEST(Runner, StatsDriftIsReportedAtTheFirstOpAfterIt) {
  const RunReport report = run_with(PlantedBackend::Fault::wrong_stats, 1);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::stats);
  EXPECT_EQ(report.divergence->tick, 1u);
}

TEST(Runner, AuditRunsAtCheckOrEveryOp) {
  const RunReport at_check = run_with(PlantedBackend::Fault::audit_error, 0, AuditMode::check);
  ASSERT_FALSE(at_check.ok());
  EXPECT_EQ(at_check.divergence->kind, FailureKind::audit);
  EXPECT_EQ(at_check.divergence->tick, 3u);
  const RunReport every = run_with(PlantedBackend::Fault::audit_error, 0, AuditMode::every);
  ASSERT_FALSE(every.ok());
  EXPECT_EQ(every.divergence->tick, 0u);
}

TEST(Runner, UnmetExpectationIsReported) {
  Trace trace = sample_trace();
  trace.lines[1].expected = single(result_of(Status::ok));
  std::vector<std::unique_ptr<Backend>> none;
  const RunReport report = run_trace(trace, none, AuditMode::check);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::expectation);
  EXPECT_EQ(report.divergence->expected, "ok");
  EXPECT_EQ(report.divergence->model, "capacity_exceeded");
}

// The failure report names each field once and lists a sequence a step names twice only once.
TEST(Runner, ReportListsEachSequenceOnceWithDistinctFieldNames) {
  const std::string text =
      "kvtrace 1\nconfig page_size=2 max_pages=4\nappend 1 1 => ok\nstep 1:1 1:1 => ok\n";
  const Trace trace = std::get<Trace>(parse_trace(text, memory_budget_default_bytes));
  const RunReport report = run_trace(trace, {"all"}, AuditMode::every);
  ASSERT_FALSE(report.ok());
  const std::string state = report.divergence->state;
  EXPECT_EQ(state.find("model seq 1:"), state.rfind("model seq 1:")) << state;
  EXPECT_EQ(state.find("pages=["), std::string::npos) << state;
  EXPECT_NE(state.find("block_table=["), std::string::npos) << state;
}

TEST(Runner, SignatureNamesTheRootRuleNotTheResultWords) {
  Divergence a;
  a.kind = FailureKind::result;
  a.op_text = "append 3 7";
  a.model = "ok evicted=1,2";
  a.backend = "capacity_exceeded";
  Divergence b = a;  // the same capacity bug, seen on another op of the same family
  b.op_text = "step 1:2 4:1";
  b.model = "ok ; capacity_exceeded";
  b.backend = "ok ; ok";
  EXPECT_EQ(a.signature(), b.signature());
  b.op_text = "alloc 1";
  b.model = "ok evicted=5";
  b.backend = "ok";  // it evicted one sequence fewer: capacity too
  EXPECT_EQ(a.signature(), b.signature());
  EXPECT_EQ(a.signature(), "result|grow|capacity");
  b.backend = "ok evicted=6";  // as many victims, others: another rule
  EXPECT_EQ(b.signature(), "result|grow|victims");
  b.op_text = "fork 1 2";
  b.model = "ok";
  b.backend = "sequence_exists";
  EXPECT_EQ(b.signature(), "result|fork|status ok/sequence_exists");
  b.kind = FailureKind::stats;
  b.op_text = "free 3";
  b.backend_name = "engine-1.2";
  b.detail =
      "stats differ in cached: model ok used=3 cached=1, engine-1.2 ok used=3 cached=2\nmore";
  EXPECT_EQ(b.signature(), "stats|release|stats differ in cached");
  Divergence c = b;  // other numbers, another commit's name: the same finding
  c.backend_name = "engine-1.3";
  c.detail = "stats differ in cached: model ok used=5 cached=0, engine-1.3 ok used=5 cached=4";
  EXPECT_EQ(c.signature(), b.signature());
  c.detail = "stats differ in used: model ok used=5 cached=0, engine-1.3 ok used=6 cached=0";
  EXPECT_NE(c.signature(), b.signature());  // another stat: another root cause
  Divergence d = c;  // the same first field, others moving with it: the same root cause
  d.detail = "stats differ in used,free: model ok used=5 free=3, engine-1.3 ok used=6 free=2";
  EXPECT_EQ(d.signature(), c.signature());
  c.kind = FailureKind::backend;  // the backend's name is never part of a signature
  c.detail = "backend engine-1.3 answered `? stats` with `nonsense`";
  EXPECT_EQ(c.signature(),
            "backend|release|backend the backend answered `? stats` with `nonsense`");
  Divergence killed = c;  // whether it exited before our kill is a race, not another finding
  killed.detail += "; the process killed by signal 9";
  Divergence exited = c;
  exited.detail += "; the process exited with status 0";
  EXPECT_EQ(killed.signature(), c.signature());
  EXPECT_EQ(exited.signature(), c.signature());
}

TEST(Runner, ReportsPrintModelPagesWithinThePool) {
  // The model names every new page afresh (ids 0..5 here); a report prints its place among the
  // model's pages instead, which stays below max_pages.
  const std::string text =
      "kvtrace 1\nconfig page_size=1 max_pages=2\n"
      "append 1 1\nfree 1\nappend 2 1\nfree 2\nappend 3 1\nfree 3\nappend 4 1\nappend 5 1\n";
  const Trace trace = std::get<Trace>(parse_trace(text, memory_budget_default_bytes));
  std::vector<std::unique_ptr<Backend>> backends;
  backends.push_back(
      std::make_unique<PlantedBackend>(trace.config, PlantedBackend::Fault::wrong_stats, 7));
  const RunReport report = run_trace(trace, backends, AuditMode::check);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.divergence->state.find("model seq 5: tokens=1 pages=1 pinned=0 last_use=7 "
                                          "block_table=[1]"),
            std::string::npos)
      << report.divergence->state;
}

TEST(Runner, StatsAndInfoDivergencesNameTheDifferingField) {
  RunReport report = run_with(PlantedBackend::Fault::wrong_stats, 1);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->detail.rfind("stats differ in tokens: ", 0), 0u)
      << report.divergence->detail;
  EXPECT_EQ(report.divergence->signature(), "stats|grow|stats differ in tokens");
}

// A state big enough that AuditMode::every checks the whole state only every few dozen ops:
// `live` one-token sequences (ids 1..live), then `extra` one-token appends to new ids.
Trace big_state_trace(uint32_t live, uint32_t extra) {
  Trace trace;
  trace.config.page_size = 4;
  trace.config.max_pages = live + extra + 8;
  for (uint32_t i = 0; i < live + extra; i++) {
    Op op;
    op.kind = OpKind::append;
    op.seq = i + 1;
    op.count = 1;
    trace.lines.push_back({op, {}, 0, {}, {}});
  }
  return trace;
}

RunReport run_planted(const Trace& trace, PlantedBackend::Fault fault, Tick tick, AuditMode mode,
                      uint64_t* audit_count = nullptr) {
  std::vector<std::unique_ptr<Backend>> backends;
  auto planted = std::make_unique<PlantedBackend>(trace.config, fault, tick);
  const PlantedBackend* watched = planted.get();
  backends.push_back(std::move(planted));
  RunReport report = run_trace(trace, backends, mode);
  if (audit_count) *audit_count = watched->audit_count();
  return report;
}

TEST(Runner, WholeStateCheckEveryOpWhileSmallThenSpacedOut) {
  uint64_t audits = 0;
  EXPECT_TRUE(
      run_planted(big_state_trace(20, 0), PlantedBackend::Fault::none, 0, AuditMode::every, &audits)
          .ok());
  EXPECT_EQ(audits, 21u);  // small states: a whole-state check after every op and at the end
  EXPECT_TRUE(run_planted(big_state_trace(2000, 0), PlantedBackend::Fault::none, 0,
                          AuditMode::every, &audits)
                  .ok());
  // The interval grows with the state (2.25 units per sequence here, 64 units per op): about
  // 64 / 2.25 * ln(1 + 2.25 * 2000 / 64) = 121 checks, not 2000.
  EXPECT_LT(audits, 300u);
  EXPECT_GT(audits, 64u);
}

TEST(Runner, TouchedDataIsCheckedAtTheOpThatWroteIt) {
  const Trace trace = big_state_trace(1000, 40);
  const RunReport every =
      run_planted(trace, PlantedBackend::Fault::corrupt_gather, 1010, AuditMode::every);
  ASSERT_FALSE(every.ok());
  EXPECT_EQ(every.divergence->kind, FailureKind::read);
  EXPECT_EQ(every.divergence->tick, 1010u);
  EXPECT_NE(every.divergence->detail.find("sequence 1011 token 0"), std::string::npos)
      << every.divergence->detail;
}

TEST(Runner, TouchedSharingIsCheckedAtTheOp) {
  const Trace trace = big_state_trace(1000, 40);
  const RunReport every =
      run_planted(trace, PlantedBackend::Fault::alias_first_page, 1010, AuditMode::every);
  ASSERT_FALSE(every.ok());
  EXPECT_EQ(every.divergence->kind, FailureKind::sharing);
  EXPECT_EQ(every.divergence->tick, 1010u);
  EXPECT_NE(every.divergence->detail.find("shared differently"), std::string::npos)
      << every.divergence->detail;
}

TEST(Runner, UntouchedDamageIsFoundByTheNextWholeStateCheck) {
  const Trace trace = big_state_trace(1000, 200);
  const RunReport every =
      run_planted(trace, PlantedBackend::Fault::audit_error, 1010, AuditMode::every);
  ASSERT_FALSE(every.ok());
  EXPECT_EQ(every.divergence->kind, FailureKind::audit);
  EXPECT_GT(every.divergence->tick, 1010u);  // not checked at the op: it touched nothing broken
  EXPECT_LE(every.divergence->tick, 1010u + 1 + 2300 / 64);  // within one interval (~2,300 units)
}

// AuditMode::touched (fuzz_differential): the whole state only at `check` ops and at the end, the
// touched sequences after every op.
TEST(Runner, TouchedModeChecksTheWholeStateAtCheckOpsAndTheEnd) {
  uint64_t audits = 0;
  Trace trace = big_state_trace(20, 0);
  Op check;
  check.kind = OpKind::check;
  trace.lines.insert(trace.lines.begin() + 10, TraceLine{check, {}, 0, {}, {}});
  EXPECT_TRUE(run_planted(trace, PlantedBackend::Fault::none, 0, AuditMode::touched, &audits).ok());
  EXPECT_EQ(audits, 2u);
  const RunReport read = run_planted(big_state_trace(30, 10), PlantedBackend::Fault::corrupt_gather,
                                     35, AuditMode::touched);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.divergence->kind, FailureKind::read);
  EXPECT_EQ(read.divergence->tick, 35u);
  const RunReport audit = run_planted(big_state_trace(30, 10), PlantedBackend::Fault::audit_error,
                                      35, AuditMode::touched);
  ASSERT_FALSE(audit.ok());
  EXPECT_EQ(audit.divergence->kind, FailureKind::audit);
  EXPECT_EQ(audit.divergence->tick, 39u);  // the end of the trace
}

// The host backend under a sliding window (docs/semantics.md section 16): null entries show as
// null_page, gathers cover only the tokens after them, and append_atomicity=token releases before
// every one-token append (skip(6) = 2 here, where a whole-op append releases skip(5) = 1 entry).
TEST(HostBackendWindow, NullEntriesAreShownAndNeverGathered) {
  const std::string text =
      "kvtrace 3\nconfig page_size=2 max_pages=3 sliding_window=3 append_atomicity=token\n"
      "append 1 5\nappend 1 2\n";
  const Trace trace = std::get<Trace>(parse_trace(text, memory_budget_default_bytes));
  HostBackend backend(trace.config);
  for (size_t i = 0; i < trace.lines.size(); i++) {
    ASSERT_EQ(backend.apply(trace.lines[i].op, i), single(result_of(Status::ok)));
  }
  const std::vector<uint64_t> table = backend.block_table(1);
  ASSERT_EQ(table.size(), 4u);
  EXPECT_EQ(table[0], null_page);
  EXPECT_EQ(table[1], null_page);
  EXPECT_EQ(backend.info(1)->page_count, 2u);
  const uint64_t each = trace.config.words_per_token();
  const std::vector<uint32_t> words = backend.gather_words(1);  // tokens 4..6
  ASSERT_EQ(words.size(), 3 * each);
  EXPECT_EQ(backend.gather_token_words(1, 4, 3), words);
  EXPECT_EQ(
      backend.gather_token_words(1, 6, 1),
      std::vector<uint32_t>(words.begin() + static_cast<std::ptrdiff_t>(2 * each), words.end()));
  std::vector<uint32_t> expected(each);
  fill_token_words(token_value(1, 0, 1), trace.config, expected);  // token 6: tick 1, offset 1
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(),
                         words.end() - static_cast<std::ptrdiff_t>(each)));
  EXPECT_TRUE(backend.audit().empty());
}

// Each kind's name parses back to it (reports, baselines and isolated children carry names), and
// no other name parses.
TEST(FailureKind, EveryNameParsesBackToItsKind) {
  for (uint8_t i = 0; i < failure_kind_count; i++) {
    const auto kind = static_cast<FailureKind>(i);
    EXPECT_EQ(parse_failure_kind(kind_name(kind)), kind);
    EXPECT_FALSE(kind_help(kind).empty()) << kind;
  }
  EXPECT_EQ(parse_failure_kind("crashed"), std::nullopt);
  EXPECT_EQ(parse_failure_kind(""), std::nullopt);
}

}  // namespace
}  // namespace kv
