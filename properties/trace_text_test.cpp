// Text round trip: parse_trace(format_trace(t)) == t for generated traces (line numbers aside).
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <variant>

#include "properties/check.hpp"
#include "properties/generators.hpp"

namespace kv::props {
namespace {

// Comment text: printable ASCII ('#' included), sometimes a little UTF-8.
rc::Gen<std::string> gen_comment() {
  return rc::gen::oneOf(rc::gen::container<std::string>(rc::gen::inRange<char>(' ', '~' + 1)),
                        rc::gen::element<std::string>(" \xc3\xa9t\xc3\xa9", " => ok", "#", ""));
}

rc::Gen<std::vector<std::string>> gen_comments() {
  return rc::gen::oneOf(rc::gen::just(std::vector<std::string>{}),
                        rc::gen::just(std::vector<std::string>{}),
                        rc::gen::container<std::vector<std::string>>(gen_comment()));
}

// Any valid config, up to the memory budget: big pages, big pools, every shape key.
rc::Gen<Config> gen_wide_config() {
  return rc::gen::exec([] {
    Config config;
    config.kv_heads = *rc::gen::inRange<uint32_t>(1, 257);
    config.head_dim = *rc::gen::inRange<uint32_t>(1, 1025);
    config.layers = *rc::gen::inRange<uint32_t>(1, 257);
    config.eviction = *rc::gen::element(Eviction::none, Eviction::lru);
    if (config.words_per_token() * 4 > memory_budget_default_bytes) config.layers = 1;
    const uint64_t max_slots = memory_budget_default_bytes / (config.words_per_token() * 4);
    config.page_size = *rc::gen::inRange<uint32_t>(
        1, static_cast<uint32_t>(std::min<uint64_t>(65536, max_slots)) + 1);
    config.max_pages = *rc::gen::inRange<uint32_t>(
        1, static_cast<uint32_t>(std::min<uint64_t>(16777216, max_slots / config.page_size)) + 1);
    return config;
  });
}

TEST(TraceText, RoundTrip) {
  check_property("TraceText/RoundTrip", [] {
    const OpSequence sequence = *gen_op_sequence();
    // The model's results are realistic expectation text; some lines keep none.
    Trace trace = with_model_expectations(sequence.config, sequence.resolved_ops());
    for (TraceLine& line : trace.lines) {
      if (*rc::gen::inRange(0, 4) == 0) line.expected.reset();
      if (*rc::gen::inRange(0, 10) == 0) {
        // Any u32 is valid text, even where the op rejects it; only the fields the shape prints.
        const OpShape shape = op_shape(line.op.kind);
        if (shape != OpShape::None && shape != OpShape::Step) {
          line.op.seq = *rc::gen::arbitrary<uint32_t>();
        }
        if (shape == OpShape::SeqCount || shape == OpShape::SeqSeq) {
          line.op.count = *rc::gen::arbitrary<uint32_t>();
        }
        for (StepEntry& entry : line.op.entries) {
          entry.seq = *rc::gen::arbitrary<uint32_t>();
          entry.token_count = *rc::gen::arbitrary<uint32_t>();
        }
      }
      line.comments = *gen_comments();
      if (*rc::gen::inRange(0, 8) == 0) line.inline_comment = *gen_comment();
    }
    if (*rc::gen::inRange(0, 4) == 0) trace.config = *gen_wide_config();
    trace.header_comments = *gen_comments();
    trace.trailing_comments = *gen_comments();

    const std::string text = format_trace(trace);
    ParseResult parsed = parse_trace(text, memory_budget_default_bytes);
    if (const auto* error = std::get_if<ParseError>(&parsed)) {
      RC_FAIL("line " + std::to_string(error->line_number) + ": " + error->message + "\n" + text);
    }
    Trace& back = std::get<Trace>(parsed);
    for (TraceLine& line : back.lines) line.line_number = 0;
    if (back == trace) return;
    const std::string again = format_trace(back);
    record_failure("TraceText/RoundTrip", trace,
                   {"text round trip failed: parse_trace(format_trace(t)) != t",
                    "reprinted after parsing:", again});
    RC_FAIL("round trip changed the trace\nprinted:\n" + text + "reprinted:\n" + again);
  });
}

}  // namespace
}  // namespace kv::props
