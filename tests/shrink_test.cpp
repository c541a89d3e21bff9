// The shrinker: its output fails the same way, is never longer than its input, and is small.
#include "shrink/shrink.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "tests/support/planted_backend.hpp"
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

// The model with one planted misbehaviour: after an op for which `trigger(op, backend)` holds, the
// first result reads capacity_exceeded. Each shrink pass's test plants a trigger only that pass
// can reach the minimum of.
class TriggerBackend final : public Backend {
 public:
  using Trigger = std::function<bool(const Op&, const Backend&)>;
  TriggerBackend(const Config& config, Trigger trigger)
      : inner_(config, PlantedBackend::Fault::none, 0), trigger_(std::move(trigger)) {}
  std::string_view name() const override { return "trigger"; }
  OpResult apply(const Op& op, Tick tick) override {
    OpResult result = inner_.apply(op, tick);
    if (trigger_(op, inner_)) result.entries[0].status = Status::capacity_exceeded;
    return result;
  }
  const std::vector<uint32_t>& last_read_words() const override { return inner_.last_read_words(); }
  StatsView stats() const override { return inner_.stats(); }
  std::optional<InfoView> info(SeqId seq) const override { return inner_.info(seq); }
  std::vector<SeqId> sequence_ids() const override { return inner_.sequence_ids(); }
  std::vector<uint64_t> block_table(SeqId seq) const override { return inner_.block_table(seq); }
  std::vector<uint32_t> gather_words(SeqId seq) override { return inner_.gather_words(seq); }
  std::vector<std::string> audit() const override { return inner_.audit(); }

 private:
  PlantedBackend inner_;
  Trigger trigger_;
};

ShrinkResult shrink_with_trigger(const std::string& text, TriggerBackend::Trigger trigger) {
  ShrinkOptions options{[trigger](const Config& config) {
                          std::vector<std::unique_ptr<Backend>> backends;
                          backends.push_back(std::make_unique<TriggerBackend>(config, trigger));
                          return backends;
                        },
                        AuditMode::every};
  const auto result =
      shrink_trace(std::get<Trace>(parse_trace(text, memory_budget_default_bytes)), options);
  EXPECT_TRUE(result.has_value());
  return result.value_or(ShrinkResult{});
}

uint64_t tokens_of(const Backend& backend, SeqId seq) {
  const auto info = backend.info(seq);
  return info ? info->token_count : 0;
}

// Known minimum: one append of 6. Removing or lowering any of the three appends loses the failure.
TEST(ShrinkPass, MergeAppends) {
  const ShrinkResult result = shrink_with_trigger(
      "kvtrace 1\nconfig page_size=4 max_pages=8\nappend 1 1\nappend 1 2\nappend 1 3\n",
      [](const Op& op, const Backend& backend) {
        return op.kind == OpKind::append && tokens_of(backend, op.seq) >= 6;
      });
  EXPECT_EQ(result.op_count_after, 1u) << format_trace(result.trace);
}

// Known minimum: `prefill 1 2:6`, `truncate 1 1`, `append 1 1`, `prefill 2 2:8` (the second
// prompt hits nothing, finds two of its keys registered already, and registers two). The trace
// frees 1 and prefills 1 again: removing the free makes that prefill fail (1 exists), a rebuilt
// prefix loses the two keys the free left in the cached queue, and every other removal changes
// the keys; only retiring the freed id (drop the free, give the later 1 a fresh id) gets there.
TEST(ShrinkPass, RetiresAFreedIdThatComesBack) {
  const ShrinkResult result = shrink_with_trigger(
      "kvtrace 2\nconfig page_size=2 max_pages=8 prefix_caching=on\nprefill 1 2:6\n"
      "truncate 1 1\nappend 1 1\nfree 1\nprefill 1 2:8\n",
      [keys_before = uint64_t{0}](const Op& op, const Backend& backend) mutable {
        const uint64_t before = keys_before;
        keys_before = backend.stats().cached_keys.value_or(0);
        return op.kind == OpKind::prefill && tokens_of(backend, op.seq) == 8 && before == 2 &&
               keys_before == 4;
      });
  ASSERT_EQ(result.trace.lines.size(), 4u) << format_trace(result.trace);
  EXPECT_EQ(result.trace.lines[2].op.kind, OpKind::append) << format_trace(result.trace);
  EXPECT_EQ(result.trace.lines[3].op.kind, OpKind::prefill) << format_trace(result.trace);
  EXPECT_NE(result.trace.lines[3].op.seq, result.trace.lines[0].op.seq);
}

// Known minimum: two appends to one sequence under the smallest window, 2 (the second append
// releases entry 0 first, V-W4); a window of 0 never releases, so it stays.
TEST(ShrinkPass, NarrowsTheSlidingWindow) {
  const ShrinkResult result = shrink_with_trigger(
      "kvtrace 3\nconfig page_size=4 max_pages=64 sliding_window=16\nappend 1 40\nappend 2 3\n"
      "append 1 5\n",
      [](const Op& op, const Backend& backend) {
        const std::vector<uint64_t> table = backend.block_table(op.seq);
        return op.kind == OpKind::append && !table.empty() && table.front() == null_page;
      });
  EXPECT_EQ(result.trace.config.sliding_window, 2u) << format_trace(result.trace);
  EXPECT_EQ(result.trace.lines.size(), 2u) << format_trace(result.trace);
}

// Section 17: groups the failure does not need are dropped, windows it does not need made full
// attention; the one window it needs narrows, and the last group alone becomes sliding_window.
TEST(ShrinkPass, DropsKvGroupsAndNarrowsTheirWindows) {
  const ShrinkResult result = shrink_with_trigger(
      "kvtrace 3\nconfig page_size=4 max_pages=64 kv_groups=0,16,0,8\nappend 1 40\nappend 2 3\n"
      "append 1 5\n",
      [](const Op& op, const Backend& backend) {
        const std::vector<uint64_t> table = backend.block_table(op.seq);
        return op.kind == OpKind::append &&
               std::find(table.begin(), table.end(), null_page) != table.end();
      });
  EXPECT_EQ(result.trace.config.group_count, 0u) << format_trace(result.trace);
  EXPECT_EQ(result.trace.config.sliding_window, 2u) << format_trace(result.trace);
  EXPECT_EQ(result.trace.lines.size(), 2u) << format_trace(result.trace);
}

// A variant the failure does not need goes back to its default; one it needs stays (section 14).
TEST(ShrinkPass, DropsVariantsTheFailureDoesNotNeed) {
  const ShrinkResult result = shrink_with_trigger(
      "kvtrace 3\nconfig page_size=1 max_pages=4 reuse_order=fifo boundary_block=extra "
      "append_atomicity=token\nalloc 1\nalloc 2\n",
      [](const Op& op, const Backend& backend) {
        return op.kind == OpKind::alloc && backend.stats().sequence_count == 2;
      });
  EXPECT_EQ(result.trace.config.reuse_order, reuse_any) << format_trace(result.trace);
  EXPECT_EQ(result.trace.config.boundary_block, 0) << format_trace(result.trace);
  EXPECT_EQ(result.trace.config.append_atomicity, 0) << format_trace(result.trace);
  const ShrinkResult needed = shrink_with_trigger(
      "kvtrace 3\nconfig page_size=1 max_pages=4 reuse_order=fifo\nalloc 1\nfree 1\nalloc 2\n",
      [](const Op& op, const Backend& backend) {
        // Alone on page 1 with page 0 free: only fifo puts it there.
        return op.kind == OpKind::alloc && backend.stats().sequence_count == 1 &&
               backend.block_table(op.seq) == std::vector<uint64_t>{1};
      });
  EXPECT_EQ(needed.trace.config.reuse_order, reuse_fifo) << format_trace(needed.trace);
}

// Known minimum: a one-member step naming 150. One entry at a time would leave ~180 of 200.
TEST(ShrinkPass, FewerStepEntries) {
  std::string step = "step";
  for (uint32_t seq = 1; seq <= 200; seq++) step += " " + std::to_string(seq) + ":1";
  const ShrinkResult result =
      shrink_with_trigger("kvtrace 1\nconfig page_size=1 max_pages=256\n" + step + "\n",
                          [](const Op& op, const Backend&) {
                            if (op.kind != OpKind::step) return false;
                            for (const StepEntry& entry : op.entries)
                              if (entry.seq == 150) return true;
                            return false;
                          });
  ASSERT_EQ(result.trace.lines.size(), 1u);
  EXPECT_EQ(format_op(result.trace.lines[0].op), "step 150:1");
}

// Known minimum: both counts 1. Lowering either count alone loses the failure (they must match).
TEST(ShrinkPass, LowersCountsTogether) {
  const ShrinkResult result =
      shrink_with_trigger("kvtrace 1\nconfig page_size=4 max_pages=8\nappend 1 7\nappend 2 7\n",
                          [](const Op& op, const Backend& backend) {
                            return op.kind == OpKind::append && op.seq == 2 &&
                                   tokens_of(backend, 2) == tokens_of(backend, 1);
                          });
  ASSERT_EQ(result.trace.lines.size(), 2u) << format_trace(result.trace);
  EXPECT_EQ(result.trace.lines[0].op.count, 1u);
  EXPECT_EQ(result.trace.lines[1].op.count, 1u);
}

// Known minimum: `append 2 5`, `read 2`. The prefix built sequence 2 (5 tokens, alone) through a
// fork of 1 and a free; no removal, merge or count pass gets there (removing the fork or the free
// changes the state), only rebuilding the state the prefix left (prefix replacement).
TEST(ShrinkPass, ReplacesAPrefixByTheStateItBuilt) {
  const ShrinkResult result = shrink_with_trigger(
      "kvtrace 1\nconfig page_size=4 max_pages=16\nalloc 1\nappend 1 3\nfork 1 2\n"
      "append 2 2\nfree 1\nappend 3 1\ntruncate 3 0\nfree 3\nread 2\n",
      [](const Op& op, const Backend& backend) {
        return op.kind == OpKind::read && tokens_of(backend, op.seq) == 5 &&
               backend.sequence_ids().size() == 1;
      });
  ASSERT_EQ(result.trace.lines.size(), 2u) << format_trace(result.trace);
  EXPECT_EQ(format_op(result.trace.lines[0].op), "append 1 5");
  EXPECT_EQ(format_op(result.trace.lines[1].op), "read 1");
}

// Known minimum: `append 1 2`, `fork 1 2`, `read 2`. The prefix made 2 a fork of a fork of 1
// and freed the middle one; removing any op loses the shared pages, so only a rebuilt prefix that
// keeps the sharing (a fork, not two appends) gets there.
TEST(ShrinkPass, PrefixReplacementKeepsSharing) {
  const ShrinkResult result = shrink_with_trigger(
      "kvtrace 1\nconfig page_size=2 max_pages=16\nappend 1 2\nfork 1 3\nfork 3 2\nfree 3\n"
      "read 2\n",
      [](const Op& op, const Backend& backend) {
        const std::vector<SeqId> ids = backend.sequence_ids();
        return op.kind == OpKind::read && ids.size() == 2 &&
               backend.block_table(ids[0]) == backend.block_table(ids[1]) &&
               tokens_of(backend, op.seq) == 2;
      });
  ASSERT_EQ(result.trace.lines.size(), 3u) << format_trace(result.trace);
  EXPECT_EQ(format_op(result.trace.lines[1].op), "fork 1 2");
}

// Known minimum: `append 1 12`. The failure needs 12 tokens in the cache whichever sequences hold
// them; every append is needed and each sequence's own rebuild is one op, so only merging all of
// them into one sequence gets below 3 ops.
TEST(ShrinkPass, MergesThePrefixIntoOneSequence) {
  const ShrinkResult result = shrink_with_trigger(
      "kvtrace 1\nconfig page_size=4 max_pages=16\nappend 1 4\nappend 2 4\nappend 3 4\n",
      [](const Op& op, const Backend& backend) {
        return op.kind == OpKind::append && backend.stats().token_count >= 12;
      });
  ASSERT_EQ(result.trace.lines.size(), 1u) << format_trace(result.trace);
  EXPECT_EQ(format_op(result.trace.lines[0].op), "append 1 12");
}

// The same under prefix caching, where the failure needs registered blocks: only a merged
// prefill (not a merged append, whose generated tokens never register) keeps it.
TEST(ShrinkPass, MergesAPrefixCachingPrefixIntoOnePrefill) {
  const ShrinkResult result = shrink_with_trigger(
      "kvtrace 2\nconfig page_size=2 max_pages=16 prefix_caching=on\nprefill 1 1:4\n"
      "prefill 2 2:4\nprefill 3 3:2\nappend 3 1\n",
      [](const Op&, const Backend& backend) {
        const auto cache = backend.prefix_cache();
        return cache && cache->registered.size() >= 5;
      });
  ASSERT_EQ(result.trace.lines.size(), 1u) << format_trace(result.trace);
  const Op& op = result.trace.lines[0].op;  // renumbering may pick another stream
  EXPECT_EQ(op.kind, OpKind::prefill) << format_op(op);
  ASSERT_EQ(op.entries.size(), 1u) << format_op(op);
  EXPECT_EQ(op.entries[0].token_count, 10u) << format_op(op);
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
