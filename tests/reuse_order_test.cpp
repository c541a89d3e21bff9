// Section 14.8, reuse_order: the model's physical pages under lifo and fifo, the runner's check
// that a backend reuses the same ones, and the config rules.
#include <gtest/gtest.h>

#include "model/model.hpp"
#include "runner/runner.hpp"
#include "tests/support/planted_backend.hpp"
#include "trace/trace.hpp"

namespace kv {
namespace {

// 14.8's worked example: alloc 1, alloc 2, free 1, alloc 3, free 2, alloc 4.
const char* const worked_example =
    "alloc 1 => ok\nalloc 2 => ok\nfree 1 => ok\nalloc 3 => ok\nfree 2 => ok\nalloc 4 => ok\n";

Trace example_trace(const char* order) {
  const std::string text = std::string("kvtrace 1\nconfig page_size=1 max_pages=3 reuse_order=") +
                           order + "\n" + worked_example;
  ParseResult parsed = parse_trace(text, memory_budget_default_bytes);
  EXPECT_TRUE(std::holds_alternative<Trace>(parsed)) << std::get<ParseError>(parsed).message;
  return std::get<Trace>(parsed);
}

// The physical page of each of the example's sequences 3 and 4 after the whole trace.
std::vector<uint64_t> pages_of_3_and_4(const Trace& trace) {
  Model model(trace.config);
  for (size_t tick = 0; tick < trace.lines.size(); tick++) {
    model.apply(trace.lines[tick].op, tick);
    EXPECT_EQ(model.audit(), std::vector<std::string>{}) << "tick " << tick;
  }
  std::vector<uint64_t> out = model.page_indices(model.block_table(3));
  const std::vector<uint64_t> four = model.page_indices(model.block_table(4));
  out.insert(out.end(), four.begin(), four.end());
  return out;
}

TEST(ReuseOrder, LifoReusesTheLastReleasedPage) {
  EXPECT_EQ(pages_of_3_and_4(example_trace("lifo")), (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(pages_of_3_and_4(example_trace("any")), (std::vector<uint64_t>{0, 1}));
}

TEST(ReuseOrder, FifoUsesEveryPageBeforeReusingOne) {
  EXPECT_EQ(pages_of_3_and_4(example_trace("fifo")), (std::vector<uint64_t>{2, 0}));
}

// P13 under caching: with no unregistered free page, the new page is the cached head's own.
TEST(ReuseOrder, ACachedPageIsReusedInPlace) {
  ParseResult parsed = parse_trace(
      "kvtrace 2\nconfig page_size=1 max_pages=2 prefix_caching=on reuse_order=fifo\n"
      "prefill 1 1:2 => ok hit=0\nfree 1 => ok\nalloc 2 => ok\nalloc 3 => ok\n",
      memory_budget_default_bytes);
  ASSERT_TRUE(std::holds_alternative<Trace>(parsed)) << std::get<ParseError>(parsed).message;
  const Trace& trace = std::get<Trace>(parsed);
  Model model(trace.config);
  for (size_t tick = 0; tick < trace.lines.size(); tick++) model.apply(trace.lines[tick].op, tick);
  // free 1 queues its last block first (P14): page 1, then page 0.
  EXPECT_EQ(model.page_indices(model.block_table(2)), std::vector<uint64_t>{1});
  EXPECT_EQ(model.page_indices(model.block_table(3)), std::vector<uint64_t>{0});
}

// A backend that reuses pages in the other order is reported at the first op where they part,
// naming the rule; one in the declared order is not.
TEST(ReuseOrder, TheRunnerCatchesABackendOfTheOtherOrder) {
  for (const auto& [declared, actual] : {std::pair{"fifo", "lifo"}, std::pair{"lifo", "fifo"}}) {
    const Trace trace = example_trace(declared);
    Config backend_config = trace.config;
    backend_config.reuse_order = *find_variant_key("reuse_order")->word_index(actual);
    std::vector<std::unique_ptr<Backend>> wrong;
    wrong.push_back(
        std::make_unique<PlantedBackend>(backend_config, PlantedBackend::Fault::none, 0));
    const RunReport report = run_trace(trace, wrong, AuditMode::every);
    ASSERT_FALSE(report.ok()) << declared;
    EXPECT_EQ(report.divergence->kind, FailureKind::sharing);
    EXPECT_EQ(report.divergence->tick, 3u) << declared;
    EXPECT_NE(report.divergence->detail.find(std::string("reuse_order=") + declared),
              std::string::npos)
        << report.divergence->detail;
    std::vector<std::unique_ptr<Backend>> right;
    right.push_back(std::make_unique<PlantedBackend>(trace.config, PlantedBackend::Fault::none, 0));
    EXPECT_TRUE(run_trace(trace, right, AuditMode::every).ok()) << declared;
  }
}

TEST(ReuseOrder, ConfigWordsAndConflicts) {
  const auto error = [](const std::string& config) {
    ParseResult parsed = parse_trace("kvtrace 2\nconfig page_size=1 max_pages=2 " + config + "\n",
                                     memory_budget_default_bytes);
    return std::holds_alternative<ParseError>(parsed) ? std::get<ParseError>(parsed).message
                                                      : std::string();
  };
  EXPECT_NE(error("reuse_order=stack").find("must be one of any|lifo|fifo"), std::string::npos);
  EXPECT_NE(error("prefix_caching=on free_queue=single reuse_order=lifo").find("V-O3"),
            std::string::npos);
  EXPECT_EQ(error("prefix_caching=on free_queue=single reuse_order=fifo"), "");
  EXPECT_EQ(error("free_queue=single reuse_order=lifo"), "");  // no caching: no single queue
}

}  // namespace
}  // namespace kv
