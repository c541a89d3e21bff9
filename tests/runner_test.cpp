// The differential runner: planted divergences of every kind are reported at the right tick.
#include <gtest/gtest.h>

#include "model/model.hpp"
#include "runner/runner.hpp"
#include "trace/token.hpp"

namespace kv {
namespace {

// A backend made of a second model, with one fault planted at a chosen tick.
class PlantedBackend final : public Backend {
 public:
  enum class Fault { none, wrong_result, corrupt_read, wrong_stats, audit_error };

  PlantedBackend(const Config& config, Fault fault, Tick fault_tick)
      : config_(config), model_(config), fault_(fault), fault_tick_(fault_tick) {}

  std::string_view name() const override { return "planted"; }

  OpResult apply(const Op& op, Tick tick) override {
    tick_ = tick;
    OpResult result = model_.apply(op, tick);
    if (fault_ == Fault::wrong_result && tick == fault_tick_) result.entries[0].status = Status::ok;
    if (op.kind == OpKind::read) last_read_ = gather_words(op.seq);
    if (fault_ == Fault::corrupt_read && tick == fault_tick_ && !last_read_.empty()) last_read_[0] ^= 1;
    return result;
  }
  const std::vector<uint32_t>& last_read_words() const override { return last_read_; }
  StatsView stats() const override {
    StatsView stats = model_.stats();
    if (fault_ == Fault::wrong_stats && tick_ >= fault_tick_) stats.token_count++;
    return stats;
  }
  std::optional<InfoView> info(SeqId seq) const override { return model_.info(seq); }
  std::vector<SeqId> sequence_ids() const override { return model_.sequence_ids(); }
  std::vector<uint64_t> block_table(SeqId seq) const override { return model_.block_table(seq); }
  std::vector<uint32_t> gather_words(SeqId seq) override {
    std::vector<uint32_t> words;
    std::vector<uint32_t> token(config_.words_per_token());
    for (uint64_t value : model_.read_values(seq)) {
      fill_token_words(value, config_, token);
      words.insert(words.end(), token.begin(), token.end());
    }
    return words;
  }
  std::vector<std::string> audit() const override {
    if (fault_ == Fault::audit_error && tick_ >= fault_tick_) return {"refcount of page 0: expected 1 actual 2"};
    return {};
  }

 private:
  Config config_;
  Model model_;
  Fault fault_;
  Tick fault_tick_;
  Tick tick_ = 0;
  std::vector<uint32_t> last_read_;
};

Trace sample_trace() {
  const std::string text =
      "kvtrace 1\nconfig page_size=2 max_pages=2\n"
      "append 1 3\n"         // tick 0, line 3
      "alloc 2\n"            // tick 1: capacity_exceeded
      "read 1\n"             // tick 2
      "check\n"              // tick 3
      "stats\n";             // tick 4
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
  EXPECT_EQ(report.divergence->kind, "result");
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
  EXPECT_EQ(report.divergence->kind, "read");
  EXPECT_EQ(report.divergence->tick, 2u);
  EXPECT_NE(report.divergence->detail.find("token 0 layer 0 K word 0"), std::string::npos)
      << report.divergence->detail;
}

TEST(Runner, StatsDriftIsReportedAtTheFirstOpAfterIt) {
  const RunReport report = run_with(PlantedBackend::Fault::wrong_stats, 1);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, "stats");
  EXPECT_EQ(report.divergence->tick, 1u);
}

TEST(Runner, AuditRunsAtCheckOrEveryOp) {
  const RunReport at_check = run_with(PlantedBackend::Fault::audit_error, 0, AuditMode::check);
  ASSERT_FALSE(at_check.ok());
  EXPECT_EQ(at_check.divergence->kind, "audit");
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
  EXPECT_EQ(report.divergence->kind, "expectation");
  EXPECT_EQ(report.divergence->expected, "ok");
  EXPECT_EQ(report.divergence->model, "capacity_exceeded");
}

TEST(Runner, SignatureIgnoresNumbers) {
  Divergence a;
  a.kind = "result";
  a.op_text = "append 3 7";
  a.model = "ok evicted=1,2";
  a.backend = "capacity_exceeded";
  Divergence b = a;
  b.op_text = "append 1 2";
  b.model = "ok evicted=5";
  EXPECT_EQ(a.signature(), b.signature());
  b.backend = "ok";
  EXPECT_NE(a.signature(), b.signature());
}

}  // namespace
}  // namespace kv
