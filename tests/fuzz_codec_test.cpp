// The fuzzer byte format: total decoding, round trips, bounds, the ops.def-driven op choice; and
// the generator core on fuzzer bytes (ByteSource).
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "fuzz/byte_source.hpp"
#include "fuzz/codec.hpp"
#include "fuzz/sha1.hpp"
#include "trace/gen.hpp"

namespace kv {
namespace {

std::vector<TraceLine> ops_only(const Trace& trace) {
  std::vector<TraceLine> lines;
  for (const TraceLine& line : trace.lines) lines.push_back(TraceLine{line.op, {}, 0, {}, {}});
  return lines;
}

TEST(FuzzCodec, GeneratedTracesRoundTrip) {
  for (uint64_t seed = 1; seed <= 50; seed++) {
    // Classic: the byte format holds the classic generator's shapes (1..4), not the regimes'.
    const Trace trace = generate_trace(seed, 200, Profile::classic);
    auto encoded = fuzz::encode_trace(trace);
    ASSERT_TRUE(std::holds_alternative<std::vector<uint8_t>>(encoded))
        << std::get<std::string>(encoded);
    const Trace decoded = fuzz::decode_bytes(std::get<std::vector<uint8_t>>(encoded));
    EXPECT_EQ(decoded.config, trace.config) << "seed " << seed;
    EXPECT_EQ(decoded.lines, ops_only(trace)) << "seed " << seed;
  }
}

// Any bytes give a trace the parser accepts, within the fuzz bounds, that encodes back exactly.
TEST(FuzzCodec, RandomBytesDecodeToValidTraces) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 2000; round++) {
    std::vector<uint8_t> bytes(rng() % 200);
    for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(rng());
    const Trace trace = fuzz::decode_bytes(bytes);
    ASSERT_LE(trace.config.pool_bytes().value_or(UINT64_MAX), fuzz::fuzz_pool_bytes_max);
    const ParseResult parsed = parse_trace(format_trace(trace), memory_budget_default_bytes);
    ASSERT_TRUE(std::holds_alternative<Trace>(parsed)) << format_trace(trace);
    auto encoded = fuzz::encode_trace(trace);
    ASSERT_TRUE(std::holds_alternative<std::vector<uint8_t>>(encoded));
    EXPECT_EQ(fuzz::decode_bytes(std::get<std::vector<uint8_t>>(encoded)), trace);
  }
}

TEST(FuzzCodec, EmptyInputIsTheSmallestConfig) {
  const Trace trace = fuzz::decode_bytes({});
  EXPECT_EQ(trace.config.page_size, 1u);
  EXPECT_EQ(trace.config.max_pages, 1u);
  EXPECT_TRUE(trace.lines.empty());
}

TEST(FuzzCodec, EveryOpKindIsReachable) {
  std::vector<bool> seen(op_kind_count);
  for (uint32_t byte = 0; byte < 256; byte++) {
    const std::vector<uint8_t> bytes = {0, 0, 0, 0, static_cast<uint8_t>(byte)};
    const Trace trace = fuzz::decode_bytes(bytes);
    ASSERT_EQ(trace.lines.size(), 1u);
    seen[static_cast<size_t>(trace.lines[0].op.kind)] = true;
  }
  for (uint32_t i = 0; i < op_kind_count; i++) {
    EXPECT_TRUE(seen[i]) << op_name(static_cast<OpKind>(i));
  }
}

// Kind bytes follow the ops.def weights: `append` (24) takes more bytes than `check` (2).
TEST(FuzzCodec, KindBytesFollowTheWeights) {
  std::vector<uint32_t> bytes_of(op_kind_count);
  for (uint32_t byte = 0; byte < 256; byte++) {
    const OpKind kind = fuzz::decode_kind(static_cast<uint8_t>(byte));
    bytes_of[static_cast<size_t>(kind)]++;
    EXPECT_EQ(fuzz::decode_kind(fuzz::encode_kind(kind)), kind);
  }
  for (uint32_t k = 0; k < op_kind_count; k++) EXPECT_GE(bytes_of[k], 2u) << k;
  EXPECT_GT(bytes_of[static_cast<size_t>(OpKind::append)],
            8 * bytes_of[static_cast<size_t>(OpKind::check)]);
}

// Bit 7 of the extras byte: kv_groups=0,W (section 17) round-trips; other groups are refused.
TEST(FuzzCodec, TwoKvGroupsInTheExtrasByte) {
  // extras 0x8B: window code 11 (17) for group 1 beside a full-attention group 0, no CPU pool.
  const Trace trace = fuzz::decode_bytes(std::vector<uint8_t>{1, 0, 7, 0x8B});
  EXPECT_EQ(format_config(trace.config),
            "config page_size=2 max_pages=8 eviction=none kv_groups=0,17");
  auto encoded = fuzz::encode_trace(trace);
  ASSERT_TRUE(std::holds_alternative<std::vector<uint8_t>>(encoded));
  EXPECT_EQ(std::get<std::vector<uint8_t>>(encoded), (std::vector<uint8_t>{1, 0, 7, 0x8B}));
  EXPECT_EQ(fuzz::decode_bytes(std::vector<uint8_t>{1, 0, 7, 0x80}).config.group_windows[1], 0u);
  Trace odd = trace;
  odd.config.group_count = 3;
  encoded = fuzz::encode_trace(odd);
  ASSERT_TRUE(std::holds_alternative<std::string>(encoded));
  EXPECT_NE(std::get<std::string>(encoded).find("kv_groups=0,W only"), std::string::npos);
}

// The extras byte: a sliding window and a CPU pool (kvtrace 3) round-trip; others are refused.
TEST(FuzzCodec, WindowAndCpuPoolInTheExtrasByte) {
  // page_size=2 (code 1), max_pages=8 (code 7), extras 0x3B: window code 11 (17), cpu code 3 (4).
  const Trace trace = fuzz::decode_bytes(std::vector<uint8_t>{1, 0, 7, 0x3B});
  EXPECT_EQ(trace.config.sliding_window, 17u);
  EXPECT_EQ(trace.config.cpu_pages, 4u);
  auto encoded = fuzz::encode_trace(trace);
  ASSERT_TRUE(std::holds_alternative<std::vector<uint8_t>>(encoded));
  EXPECT_EQ(std::get<std::vector<uint8_t>>(encoded), (std::vector<uint8_t>{1, 0, 7, 0x3B}));
  Trace odd = trace;
  odd.config.sliding_window = 10;
  encoded = fuzz::encode_trace(odd);
  ASSERT_TRUE(std::holds_alternative<std::string>(encoded));
  EXPECT_NE(std::get<std::string>(encoded).find("sliding windows"), std::string::npos);
  odd = trace;
  odd.config.cpu_pages = 3;
  encoded = fuzz::encode_trace(odd);
  ASSERT_TRUE(std::holds_alternative<std::string>(encoded));
  EXPECT_NE(std::get<std::string>(encoded).find("cpu_pages"), std::string::npos);
}

// One semantic variant per input, named by the high nibbles of the page_size and max_pages bytes:
// it round-trips, random bytes reach every word of every variant, and two variants are refused.
TEST(FuzzCodec, OneVariantInTheSizeBytesHighNibbles) {
  Trace trace;
  trace.config.page_size = 2;
  trace.config.max_pages = 4;
  trace.config.prefix_caching = true;
  trace.config.reuse_order = reuse_fifo;
  auto encoded = fuzz::encode_trace(trace);
  ASSERT_TRUE(std::holds_alternative<std::vector<uint8_t>>(encoded))
      << std::get<std::string>(encoded);
  EXPECT_EQ(fuzz::decode_bytes(std::get<std::vector<uint8_t>>(encoded)).config, trace.config);

  trace.config.append_atomicity = 1;
  encoded = fuzz::encode_trace(trace);
  ASSERT_TRUE(std::holds_alternative<std::string>(encoded));
  EXPECT_EQ(std::get<std::string>(encoded), "the byte format holds one variant per trace");

  std::set<std::pair<std::string, uint8_t>> seen;
  std::mt19937_64 rng(11);
  for (int round = 0; round < 20000; round++) {
    const std::vector<uint8_t> bytes = {static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()),
                                        static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())};
    const Config config = fuzz::decode_bytes(bytes).config;
    for (const VariantKey& variant : variant_keys) {
      if (config.*variant.field) seen.insert({variant.key, config.*variant.field});
    }
  }
  for (const VariantKey& variant : variant_keys) {
    for (uint8_t word = 1; word < variant.word_count(); word++) {
      EXPECT_TRUE(seen.count({variant.key, word})) << variant.key << "=" << variant.words[word];
    }
  }
}

TEST(FuzzCodec, PageBoundaryCountsFollowTheConfig) {
  // page_size=5 (code 4), max_pages=16 (code 15), no extras, then append 0 with count code 0xE1:
  // 2 pages - 1.
  const std::vector<uint8_t> bytes = {4, 0, 15, 0, fuzz::encode_kind(OpKind::append), 0, 0xE1};
  const Trace trace = fuzz::decode_bytes(bytes);
  ASSERT_EQ(trace.lines.size(), 1u);
  EXPECT_EQ(trace.lines[0].op.count, 9u);
}

// Token counts stay within capacity + 1 per op (summed over a step's or prefill's entries); the
// rule limits above 1,048,576 stay; encoding refuses what decoding would change.
TEST(FuzzCodec, TokenCountsAreBoundedByTheCapacity) {
  // page_size=4 (code 3), max_pages=8 (code 7): capacity 32 tokens; flags 0x7E: kv_heads 4,
  // head_dim 4, layers 4: 128 words per token, so 65536 words are 512 tokens.
  const uint8_t append = fuzz::encode_kind(OpKind::append);
  const uint8_t step = fuzz::encode_kind(OpKind::step);
  const std::vector<uint8_t> bytes = {
      3,      0x7E, 7,    0,   append, 0,    0xFF, 0, 2, 0, 0,         // no extras; raw 512 stays
      append, 0,    0xF0,                                              // 1048577 stays
      append, 0,    0xFF, 0,   0,      0x10, 0,                        // raw 1048576 -> 512
      step,   2,    0,    200, 1,      0xFF, 0,    2, 0, 0, 2, 0xF0};  // 200, 312, 1048577
  const Trace trace = fuzz::decode_bytes(bytes);
  ASSERT_EQ(trace.lines.size(), 4u);
  EXPECT_EQ(trace.lines[0].op.count, 512u);
  EXPECT_EQ(trace.lines[1].op.count, 1048577u);
  EXPECT_EQ(trace.lines[2].op.count, 512u);
  ASSERT_EQ(trace.lines[3].op.entries.size(), 3u);
  EXPECT_EQ(trace.lines[3].op.entries[0].token_count, 200u);
  EXPECT_EQ(trace.lines[3].op.entries[1].token_count, 312u);
  EXPECT_EQ(trace.lines[3].op.entries[2].token_count, 1048577u);
  // A prefill over 1,048,576 tokens in all is refused before it costs anything: kept as it is.
  Op prompt;
  prompt.kind = OpKind::prefill;
  prompt.seq = 1;
  prompt.entries = {StepEntry{1, 1048576}, StepEntry{2, 1}};
  Op bounded = prompt;
  fuzz::bound_counts(bounded, trace.config);
  EXPECT_EQ(bounded, prompt);
  Trace over = trace;
  over.lines[0].op.count = 513;
  auto encoded = fuzz::encode_trace(over);
  ASSERT_TRUE(std::holds_alternative<std::string>(encoded));
  EXPECT_NE(std::get<std::string>(encoded).find("512 tokens per op"), std::string::npos);
}

TEST(FuzzCodec, LargePoolsAreBoundedOrRefused) {
  Trace trace;
  trace.config = Config{65536, 16, Eviction::none, 1, 2, 1};
  auto encoded = fuzz::encode_trace(trace);
  ASSERT_TRUE(std::holds_alternative<std::string>(encoded));
  EXPECT_NE(std::get<std::string>(encoded).find("pools up to"), std::string::npos);
  // Escaped page_size 65536 and max_pages 65536 decode to a pool within the bound.
  const Trace big =
      fuzz::decode_bytes(std::vector<uint8_t>{0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0xFF, 0});
  EXPECT_LE(*big.config.pool_bytes(), fuzz::fuzz_pool_bytes_max);
}

TEST(FuzzCodec, Sha1MatchesKnownDigests) {
  EXPECT_EQ(fuzz::sha1_hex({}), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  const std::string abc = "abc";
  EXPECT_EQ(fuzz::sha1_hex({reinterpret_cast<const uint8_t*>(abc.data()), abc.size()}),
            "a9993e364706816aba3e25717850c26c9cd0d89d");
}

// The generator core on fuzzer bytes (fuzz/byte_source.hpp): every op kind of ops.def is drawn.
TEST(ByteSource, EveryOpKindIsGenerated) {
  std::set<OpKind> bytes;
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200; i++) {
    std::vector<uint8_t> input(rng() % 400);
    for (uint8_t& byte : input) byte = static_cast<uint8_t>(rng());
    if (!input.empty()) input[0] = 0;  // the classic row
    for (const TraceLine& line : fuzz::generate_from_bytes(input).lines) bytes.insert(line.op.kind);
  }
  EXPECT_EQ(bytes.size(), op_kind_count);
}

// Every byte string generates a trace the parser accepts, within the fuzz bounds, from every
// regime; no bytes generate the first row's simplest config and no ops.
TEST(ByteSource, AnyBytesGenerateAValidBoundedTrace) {
  EXPECT_TRUE(fuzz::generate_from_bytes({}).lines.empty());
  std::mt19937_64 rng(2);
  std::set<uint32_t> page_sizes;
  for (int i = 0; i < 500; i++) {
    std::vector<uint8_t> input(rng() % 300);
    for (uint8_t& byte : input) byte = static_cast<uint8_t>(rng());
    const Trace trace = fuzz::generate_from_bytes(input);
    ASSERT_LE(trace.config.pool_bytes().value_or(UINT64_MAX), fuzz::fuzz_pool_bytes_max);
    ASSERT_LE(trace.lines.size(), fuzz::fuzz_op_count_max);
    ASSERT_TRUE(std::holds_alternative<Trace>(
        parse_trace(format_trace(trace), memory_budget_default_bytes)))
        << format_trace(trace);
    page_sizes.insert(trace.config.page_size);
  }
  EXPECT_GT(page_sizes.size(), 10u);
}

}  // namespace
}  // namespace kv
