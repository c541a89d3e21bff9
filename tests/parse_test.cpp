// The kvtrace parser and printer: exact round trips, and every kind of malformed input names its
// line.
#include <gtest/gtest.h>

#include "trace/gen.hpp"
#include "trace/trace.hpp"

namespace kv {
namespace {

Trace parse_ok(const std::string& text) {
  ParseResult parsed = parse_trace(text, memory_budget_default_bytes);
  if (auto* error = std::get_if<ParseError>(&parsed)) {
    ADD_FAILURE() << "line " << error->line_number << ": " << error->message;
    return {};
  }
  return std::get<Trace>(parsed);
}

void clear_line_numbers(Trace& trace) {
  for (TraceLine& line : trace.lines) line.line_number = 0;
}

TEST(Parse, RoundTripIsExact) {
  const std::string text =
      "kvtrace 1\n# header\nconfig page_size=4 max_pages=3 eviction=lru kv_heads=2 head_dim=8 "
      "layers=3\n"
      "alloc 1 => ok\n# before append\nappend 4294967295 1048576 => ok evicted=1,2 # trailing\n"
      "fork 1 2 => sequence_exists\nstep 1:1 2:3 => ok ; capacity_exceeded\ninfo 1 => ok tokens=3 "
      "pages=1 pinned=1\n"
      "stats => ok used=3 free=0 sequences=2 tokens=7\nevict\ncheck => ok\n# the end\n";
  const Trace trace = parse_ok(text);
  EXPECT_EQ(format_trace(trace), text);
}

TEST(Parse, Version2RoundTripIsExact) {
  const std::string text =
      "kvtrace 2\nconfig page_size=4 max_pages=3 eviction=lru prefix_caching=on\n"
      "prefill 1 5:8 0:1 2047:3 => ok hit=0\nprefill 2 5:8 => ok hit=4 evicted=1\n"
      "prefill 3 1:0 => invalid_argument\nstats => ok used=3 free=0 sequences=2 tokens=7 "
      "cached=2\n";
  const Trace trace = parse_ok(text);
  EXPECT_TRUE(trace.config.prefix_caching);
  ASSERT_EQ(trace.lines.size(), 4u);
  EXPECT_EQ(trace.lines[0].op.entries.size(), 3u);
  EXPECT_EQ(trace.lines[1].expected->entries[0].hit_tokens, 4u);
  EXPECT_EQ(trace.lines[3].expected->entries[0].stats->cached_keys, 2u);
  EXPECT_EQ(format_trace(trace), text);
}

TEST(Parse, Version2WithoutItsFeaturesPrintsAsVersion1) {
  const Trace trace =
      parse_ok("kvtrace 2\nconfig page_size=4 max_pages=3 prefix_caching=off\nalloc 1\n");
  EXPECT_FALSE(trace.config.prefix_caching);
  EXPECT_EQ(format_trace(trace),
            "kvtrace 1\nconfig page_size=4 max_pages=3 eviction=none\nalloc 1\n");
}

TEST(Parse, WhitespaceAndCrLfAreNormalised) {
  const Trace trace =
      parse_ok("kvtrace 1\r\nconfig   max_pages=3\tpage_size=4\r\n  alloc   1   =>   ok  \r\n");
  EXPECT_EQ(format_trace(trace),
            "kvtrace 1\nconfig page_size=4 max_pages=3 eviction=none\nalloc 1 => ok\n");
}

TEST(Parse, GeneratedTracesRoundTrip) {
  for (uint64_t seed = 1; seed <= 200; seed++) {
    Trace trace = generate_trace(seed, 50);
    Trace reparsed = parse_ok(format_trace(trace));
    clear_line_numbers(reparsed);
    ASSERT_EQ(reparsed, trace) << "seed " << seed;
  }
}

struct Malformed {
  const char* name;
  const char* text;
  uint32_t line_number;
  const char* message_part;
};

const Malformed malformed[] = {
    {"empty_file", "", 0, "empty file"},
    {"wrong_header", "kvtrace\n", 1, "header line"},
    {"wrong_version", "kvtrace 4\n", 1,
     "unsupported kvtrace version '4' (this tool reads 1, 2 and 3)"},
    {"lifecycle_needs_version_3", "kvtrace 2\nconfig page_size=1 max_pages=1\nreserve 1 1\n", 3,
     "op reserve needs the header 'kvtrace 3'"},
    {"sliding_window_needs_version_3",
     "kvtrace 2\nconfig page_size=1 max_pages=1 sliding_window=4\n", 2,
     "sliding_window needs the header 'kvtrace 3'"},
    {"sliding_window_of_one", "kvtrace 3\nconfig page_size=1 max_pages=1 sliding_window=1\n", 2,
     "sliding_window=1 is out of range"},
    {"sliding_window_too_large",
     "kvtrace 3\nconfig page_size=1 max_pages=1 sliding_window=1048577\n", 2,
     "sliding_window=1048577 is out of range 0..1048576"},
    {"sliding_window_with_skipped_slots",
     "kvtrace 3\nconfig page_size=1 max_pages=1 sliding_window=2 reserved_slots=skipped\n", 2,
     "reserved_slots=skipped cannot be combined with sliding_window"},
    {"prefill_needs_version_2", "kvtrace 1\nconfig page_size=1 max_pages=1\nprefill 1 1:1\n", 3,
     "need the header 'kvtrace 2'"},
    {"prefix_caching_needs_version_2",
     "kvtrace 1\nconfig page_size=1 max_pages=1 prefix_caching=on\n", 2,
     "prefix_caching needs the header"},
    {"cached_needs_version_2",
     "kvtrace 1\nconfig page_size=1 max_pages=1\nstats => ok used=0 free=1 sequences=0 tokens=0 "
     "cached=0\n",
     3, "need the header"},
    {"prefill_without_segments", "kvtrace 2\nconfig page_size=1 max_pages=1\nprefill 1\n", 3,
     "at least one P:N segment"},
    {"bad_prefix_caching", "kvtrace 2\nconfig page_size=1 max_pages=1 prefix_caching=yes\n", 2,
     "must be on or off"},
    {"hit_with_stats_fields",
     "kvtrace 2\nconfig page_size=1 max_pages=1\nprefill 1 1:1 => ok hit=0 used=1\n", 3,
     "only hit= and evicted="},
    {"op_before_config", "kvtrace 1\nalloc 1\n", 2, "before the config line"},
    {"missing_config", "kvtrace 1\n# nothing\n", 2, "missing the config line"},
    {"second_config", "kvtrace 1\nconfig page_size=1 max_pages=1\nconfig page_size=1 max_pages=1\n",
     3, "second config"},
    {"unknown_config_key", "kvtrace 1\nconfig page_size=1 max_pages=1 colour=red\n", 2,
     "unknown config key 'colour'"},
    {"missing_config_key", "kvtrace 1\nconfig page_size=1\n", 2, "missing required key max_pages"},
    {"repeated_config_key", "kvtrace 1\nconfig page_size=1 page_size=2 max_pages=1\n", 2,
     "given twice"},
    {"zero_page_size", "kvtrace 1\nconfig page_size=0 max_pages=1\n", 2,
     "page_size=0 is out of range"},
    {"page_size_too_big", "kvtrace 1\nconfig page_size=65537 max_pages=1\n", 2,
     "out of range 1..65536"},
    {"max_pages_too_big", "kvtrace 1\nconfig page_size=1 max_pages=16777217\n", 2,
     "max_pages=16777217"},
    {"bad_eviction", "kvtrace 1\nconfig page_size=1 max_pages=1 eviction=fifo\n", 2,
     "must be none or lru"},
    {"pool_over_budget", "kvtrace 1\nconfig page_size=65536 max_pages=257\n", 2,
     "over the memory budget"},
    // Every field at its maximum: 2^69 bytes, which wrapped to a small number and was accepted.
    {"pool_overflows_64_bits",
     "kvtrace 1\nconfig page_size=65536 max_pages=16777216 eviction=lru kv_heads=256 head_dim=1024 "
     "layers=256\n",
     2, "page pool size over 18446744073709551615 bytes"},
    // Exactly 2^64 bytes: wrapped to 0.
    {"pool_wraps_to_zero",
     "kvtrace 1\nconfig page_size=65536 max_pages=16777216 kv_heads=256 head_dim=1024 layers=8\n",
     2, "overflows 64 bits"},
    {"unknown_op", "kvtrace 1\nconfig page_size=1 max_pages=1\nallocate 1\n", 3,
     "unknown op 'allocate'"},
    {"missing_argument", "kvtrace 1\nconfig page_size=1 max_pages=1\nappend 1\n", 3,
     "missing an argument"},
    {"extra_argument", "kvtrace 1\nconfig page_size=1 max_pages=1\nfree 1 2\n", 3,
     "extra argument '2'"},
    {"not_a_number", "kvtrace 1\nconfig page_size=1 max_pages=1\nfree x1\n", 3,
     "'x1' is not a decimal number"},
    {"negative_number", "kvtrace 1\nconfig page_size=1 max_pages=1\nfree -1\n", 3,
     "not a decimal number"},
    {"id_over_32_bits", "kvtrace 1\nconfig page_size=1 max_pages=1\nfree 4294967296\n", 3,
     "does not fit in 32 bits"},
    {"count_over_32_bits", "kvtrace 1\nconfig page_size=1 max_pages=1\nappend 1 99999999999\n", 3,
     "does not fit in 32 bits"},
    {"empty_step", "kvtrace 1\nconfig page_size=1 max_pages=1\nstep\n", 3, "at least one S:N"},
    {"bad_step_entry", "kvtrace 1\nconfig page_size=1 max_pages=1\nstep 1-2\n", 3, "is not A:B"},
    {"unknown_result_word", "kvtrace 1\nconfig page_size=1 max_pages=1\nalloc 1 => fine\n", 3,
     "unknown result word 'fine'"},
    {"empty_expectation", "kvtrace 1\nconfig page_size=1 max_pages=1\nalloc 1 =>\n", 3,
     "empty expected result"},
    {"error_with_fields",
     "kvtrace 1\nconfig page_size=1 max_pages=1\nalloc 1 => capacity_exceeded evicted=1\n", 3,
     "takes no fields"},
    {"unknown_result_field", "kvtrace 1\nconfig page_size=1 max_pages=1\nalloc 1 => ok colour=1\n",
     3, "result field 'colour'"},
    {"incomplete_stats", "kvtrace 1\nconfig page_size=1 max_pages=1\nstats => ok used=1 free=0\n",
     3, "stats result needs"},
    {"binary_garbage", "kvtrace 1\nconfig page_size=1 max_pages=1\n\x01\x02\xff\xfe\n", 3,
     "not UTF-8"},
};

class ParseMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(ParseMalformed, NamesLineAndProblem) {
  ParseResult parsed = parse_trace(GetParam().text, memory_budget_default_bytes);
  ASSERT_TRUE(std::holds_alternative<ParseError>(parsed));
  const ParseError& error = std::get<ParseError>(parsed);
  EXPECT_EQ(error.line_number, GetParam().line_number);
  EXPECT_NE(error.message.find(GetParam().message_part), std::string::npos) << error.message;
}

INSTANTIATE_TEST_SUITE_P(Inputs, ParseMalformed, ::testing::ValuesIn(malformed),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Parse, NulByteIsRejected) {
  const std::string text("kvtrace 1\nconfig page_size=1 max_pages=1\nalloc\0 1\n", 44);
  ParseResult parsed = parse_trace(text, memory_budget_default_bytes);
  ASSERT_TRUE(std::holds_alternative<ParseError>(parsed));
  EXPECT_EQ(std::get<ParseError>(parsed).line_number, 3u);
}

TEST(Parse, BudgetFlagRaisesTheLimit) {
  const std::string text = "kvtrace 1\nconfig page_size=65536 max_pages=257\n";
  EXPECT_TRUE(std::holds_alternative<ParseError>(parse_trace(text, 256ull << 20)));
  EXPECT_TRUE(std::holds_alternative<Trace>(parse_trace(text, 512ull << 20)));
}

TEST(Parse, PoolOverflowIsRefusedUnderTheLargestBudget) {
  const std::string text =
      "kvtrace 1\nconfig page_size=65536 max_pages=16777216 kv_heads=256 head_dim=1024 "
      "layers=256\nappend 1 1\n";
  ParseResult parsed = parse_trace(text, uint64_t{1048576} << 20);
  ASSERT_TRUE(std::holds_alternative<ParseError>(parsed));
  EXPECT_EQ(std::get<ParseError>(parsed).line_number, 2u);
  EXPECT_NE(std::get<ParseError>(parsed).message.find("page pool size"), std::string::npos);
}

TEST(Parse, ValueBreakingAnOpRuleIsNotAParseError) {
  const Trace trace = parse_ok(
      "kvtrace 1\nconfig page_size=1 max_pages=1\nappend 1 0\nappend 1 1048577\ntruncate 1 5\n");
  ASSERT_EQ(trace.lines.size(), 3u);
  EXPECT_EQ(trace.lines[1].op.count, 1048577u);
}

}  // namespace
}  // namespace kv
