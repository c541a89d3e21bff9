// RapidCheck generators for configs, ops and op sequences, biased toward where cache bugs hide.
#include "properties/generators.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

#include "model/model.hpp"
#include "properties/regimes.hpp"
#include "properties/weighted.hpp"

namespace kv::props {
namespace {

rc::Gen<TokenCount> gen_truncate_count() {
  // Page boundaries most of the time: 0, one page, two pages.
  return weighted_gen<TokenCount>({{6, rc::gen::map(rc::gen::inRange<uint32_t>(0, 3),
                                                    [](uint32_t pages) {
                                                      return TokenCount{pages, 0};
                                                    })},
                                   {4, gen_token_count()}});
}

rc::Gen<std::vector<StepEntryCount>> gen_step_entries(const rc::Gen<SeqId>& gen_seq) {
  const auto entry_tokens = [] {
    return weighted_gen<TokenCount>({{4, rc::gen::just(TokenCount{0, 1})},
                                     {4, rc::gen::map(rc::gen::inRange<int32_t>(1, 5),
                                                      [](int32_t n) {
                                                        return TokenCount{0, n};
                                                      })},
                                     {1, gen_token_count()}});
  };
  // 1..4 entries; shrinking drops entries.
  const auto distinct_ids = rc::gen::resize(
      4,
      rc::gen::nonEmpty(rc::gen::container<std::vector<StepEntryCount>>(rc::gen::map(
          rc::gen::tuple(gen_seq, entry_tokens()), [](const std::tuple<SeqId, TokenCount>& entry) {
            return StepEntryCount{std::get<0>(entry), std::get<1>(entry)};
          }))));
  // The same sequence named several times: each entry sees what the earlier ones left.
  const auto repeated_id = rc::gen::exec([entry_tokens, gen_seq] {
    const SeqId seq = *gen_seq;
    const uint32_t count = *rc::gen::inRange<uint32_t>(2, 5);
    std::vector<StepEntryCount> entries;
    for (uint32_t i = 0; i < count; i++) {
      const bool other = *weighted_choice<bool>({{3, false}, {1, true}});
      entries.push_back({other ? *gen_seq : seq, *entry_tokens()});
    }
    return entries;
  });
  return weighted_gen<std::vector<StepEntryCount>>({{3, distinct_ids}, {1, repeated_id}});
}

// Prompt segments (kvtrace 2): 1..3 of them, streams 1..3 shared between prompts so prefixes
// repeat, lengths around page boundaries; rarely N = 0 or a stream over 2047.
rc::Gen<std::vector<StepEntryCount>> gen_prompt_segments() {
  const auto segment = rc::gen::map(
      rc::gen::tuple(
          weighted_choice<SeqId>({{6, 1}, {3, 2}, {2, 3}, {1, 4}, {1, 5}}),
          weighted_gen<TokenCount>(
              {{6, rc::gen::map(rc::gen::tuple(rc::gen::inRange<uint32_t>(1, 4),
                                               weighted_choice<int32_t>({{3, 0}, {1, 1}, {1, -1}})),
                                [](const std::tuple<uint32_t, int32_t>& parts) {
                                  return TokenCount{std::get<0>(parts), std::get<1>(parts)};
                                })},
               {2, rc::gen::map(rc::gen::inRange<int32_t>(1, 4),
                                [](int32_t n) {
                                  return TokenCount{0, n};
                                })}})),
      [](const std::tuple<SeqId, TokenCount>& parts) {
        return StepEntryCount{std::get<0>(parts), std::get<1>(parts)};
      });
  const auto invalid = rc::gen::element(StepEntryCount{1, TokenCount{0, 0}},
                                        StepEntryCount{prompt_stream_max + 1, TokenCount{0, 1}});
  return rc::gen::mapcat(rc::gen::inRange<size_t>(1, 4), [segment, invalid](size_t count) {
    return rc::gen::container<std::vector<StepEntryCount>>(
        count, weighted_gen<StepEntryCount>({{30, segment}, {1, invalid}}));
  });
}

rc::Gen<GenOp> gen_op_of_shape(OpKind kind, OpShape shape, const rc::Gen<SeqId>& gen_seq) {
  switch (shape) {
    case OpShape::None:
      return rc::gen::just(GenOp{kind, 0, 0, {}, {}});
    case OpShape::Seq:
      return rc::gen::map(gen_seq, [kind](SeqId seq) { return GenOp{kind, seq, 0, {}, {}}; });
    case OpShape::SeqCount:
      return rc::gen::map(rc::gen::tuple(gen_seq, kind == OpKind::truncate ? gen_truncate_count()
                                                                           : gen_token_count()),
                          [kind](const std::tuple<SeqId, TokenCount>& args) {
                            return GenOp{kind, std::get<0>(args), 0, std::get<1>(args), {}};
                          });
    case OpShape::SeqSeq:
      // Destinations a little beyond the usual pool, and SRC+1, so forks of forks build chains.
      return rc::gen::exec([kind, gen_seq] {
        const SeqId src = *gen_seq;
        const SeqId dst = *weighted_gen<SeqId>(
            {{4, rc::gen::just<SeqId>(src + 1)}, {3, rc::gen::inRange<SeqId>(1, 9)}, {3, gen_seq}});
        return GenOp{kind, src, dst, {}, {}};
      });
    case OpShape::Step:
      return rc::gen::map(gen_step_entries(gen_seq), [kind](std::vector<StepEntryCount> entries) {
        return GenOp{kind, 0, 0, {}, std::move(entries)};
      });
    case OpShape::Prefill:
      return rc::gen::map(
          rc::gen::tuple(gen_seq, gen_prompt_segments()),
          [kind](std::tuple<SeqId, std::vector<StepEntryCount>> args) {
            return GenOp{kind, std::get<0>(args), 0, {}, std::move(std::get<1>(args))};
          });
  }
  return rc::gen::just(GenOp{kind, 0, 0, {}, {}});
}

}  // namespace

uint32_t TokenCount::resolve(uint32_t page_size) const {
  const int64_t value = int64_t{pages} * page_size + offset;
  return static_cast<uint32_t>(std::clamp<int64_t>(value, pages > 0 ? 1 : 0, UINT32_MAX));
}

Op resolve(const GenOp& op, uint32_t page_size) {
  Op resolved{op.kind, 0, 0, {}};
  switch (op_shape(op.kind)) {
    case OpShape::None:
      break;
    case OpShape::Seq:
      resolved.seq = op.seq;
      break;
    case OpShape::SeqCount:
      resolved.seq = op.seq;
      resolved.count = op.tokens.resolve(page_size);
      break;
    case OpShape::SeqSeq:
      resolved.seq = op.seq;
      resolved.count = op.dst;
      break;
    case OpShape::Prefill:
      resolved.seq = op.seq;
      [[fallthrough]];
    case OpShape::Step:
      for (const StepEntryCount& entry : op.entries) {
        resolved.entries.push_back(StepEntry{entry.seq, entry.tokens.resolve(page_size)});
      }
      break;
  }
  return resolved;
}

std::vector<Op> OpSequence::resolved_ops() const {
  std::vector<Op> resolved;
  for (const GenOp& op : ops) resolved.push_back(resolve(op, config.page_size));
  return resolved;
}

Trace to_trace(const OpSequence& sequence) {
  Trace trace;
  trace.config = sequence.config;
  for (Op& op : sequence.resolved_ops()) {
    trace.lines.push_back(TraceLine{std::move(op), std::nullopt, 0, {}, {}});
  }
  return trace;
}

void showValue(const OpSequence& sequence, std::ostream& os) {
  os << "\n" << format_trace(to_trace(sequence));
}

rc::Gen<Config> gen_config() {
  using Shape = std::tuple<uint32_t, uint32_t, uint32_t>;  // kv_heads, head_dim, layers
  const Config defaults;
  const auto shape = weighted_gen<Shape>(
      {{4, rc::gen::just(Shape{defaults.kv_heads, defaults.head_dim, defaults.layers})},
       {1, rc::gen::tuple(rc::gen::inRange<uint32_t>(1, 4), rc::gen::inRange<uint32_t>(1, 5),
                          rc::gen::inRange<uint32_t>(1, 3))}});
  // A tuple, so every field shrinks on its own without redrawing the others.
  return rc::gen::map(
      rc::gen::tuple(weighted_choice<uint32_t>({{2, 1}, {2, 2}, {1, 3}, {4, 4}, {1, 8}, {1, 16}}),
                     weighted_gen<uint32_t>({{16, rc::gen::inRange<uint32_t>(1, 17)},
                                             {3, rc::gen::inRange<uint32_t>(17, 129)},
                                             {1, rc::gen::inRange<uint32_t>(129, 4097)}}),
                     weighted_choice<Eviction>({{1, Eviction::none}, {1, Eviction::lru}}), shape,
                     weighted_choice<bool>({{1, false}, {1, true}})),
      [](const std::tuple<uint32_t, uint32_t, Eviction, Shape, bool>& parts) {
        Config config;
        std::tie(config.page_size, config.max_pages, config.eviction, std::ignore, std::ignore) =
            parts;
        std::tie(config.kv_heads, config.head_dim, config.layers) = std::get<3>(parts);
        config.prefix_caching = std::get<4>(parts);
        return config;
      });
}

rc::Gen<SeqId> gen_seq() {
  return weighted_gen<SeqId>({{48, rc::gen::inRange<SeqId>(1, 6)},
                              {1, rc::gen::just<SeqId>(0)},
                              {1, rc::gen::just<SeqId>(UINT32_MAX)}});
}

rc::Gen<TokenCount> gen_token_count() {
  const auto make = [](const std::tuple<uint32_t, int32_t>& parts) {
    return TokenCount{std::get<0>(parts), std::get<1>(parts)};
  };
  const auto boundary =
      rc::gen::map(rc::gen::tuple(weighted_choice<uint32_t>({{3, 1}, {1, 2}}),
                                  weighted_choice<int32_t>({{1, 0}, {1, -1}, {1, 1}})),
                   make);
  const auto small = rc::gen::map(
      rc::gen::tuple(rc::gen::inRange<uint32_t>(0, 3), rc::gen::inRange<int32_t>(1, 5)), make);
  const auto out_of_range =
      rc::gen::element(TokenCount{0, 0}, TokenCount{0, int32_t{append_token_count_max} + 1});
  return weighted_gen<TokenCount>({{10, boundary}, {6, small}, {1, out_of_range}});
}

rc::Gen<GenOp> gen_op() {
  return gen_op_over(gen_seq());
}

rc::Gen<GenOp> gen_op_over(const rc::Gen<SeqId>& gen_seq) {
  std::vector<std::pair<uint32_t, rc::Gen<GenOp>>> by_kind;
#define KV_OP(name, shape, weight, help) \
  by_kind.emplace_back(weight, gen_op_of_shape(OpKind::name, OpShape::shape, gen_seq));
#include "trace/ops.def"
  // Op kinds do not shrink into one another; an op shrinks by removal and by its arguments.
  return rc::Gen<GenOp>([by_kind = std::move(by_kind)](const rc::Random& random, int size) {
    std::vector<uint32_t> weights;
    for (const auto& kind : by_kind) weights.push_back(kind.first);
    rc::Random rest(random);
    const size_t index = weighted_index(rest.split(), weights);
    return by_kind[index].second(rest, size);
  });
}

rc::Gen<OpSequence> gen_classic_sequence() {
  // A tuple, not gen::exec: the config and the ops shrink independently and alternately, since
  // the ops hold counts relative to the page size rather than values drawn from the config.
  return rc::gen::map(
      rc::gen::tuple(gen_config(),
                     rc::gen::scale(2.0, rc::gen::container<std::vector<GenOp>>(gen_op()))),
      [](std::tuple<Config, std::vector<GenOp>> parts) {
        return OpSequence{std::get<0>(parts), std::move(std::get<1>(parts))};
      });
}

rc::Gen<OpSequence> gen_op_sequence() {
  return weighted_gen<OpSequence>({{60, gen_classic_sequence()},
                                   {5, gen_regime_sequence(Profile::batch)},
                                   {5, gen_regime_sequence(Profile::fanout)},
                                   {10, gen_regime_sequence(Profile::ids)},
                                   {10, gen_regime_sequence(Profile::shapes)},
                                   {5, gen_regime_sequence(Profile::pages)},
                                   {5, gen_regime_sequence(Profile::pressure)}});
}

Trace with_model_expectations(const Config& config, const std::vector<Op>& ops) {
  Trace trace;
  trace.config = config;
  for (const Op& op : ops) trace.lines.push_back(TraceLine{op, std::nullopt, 0, {}, {}});
  set_model_expectations(trace);
  return trace;
}

}  // namespace kv::props
