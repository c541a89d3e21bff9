// The burst kinds of the regimes' op mixes (see gen_bursts.hpp), drawn from a Source.
#include "trace/gen_bursts.hpp"

#include <algorithm>

#include "trace/gen_core.hpp"

namespace kv::bursts {
namespace {

GenOp seq_op(OpKind kind, SeqId seq, TokenCount tokens = {}) {
  return GenOp{kind, seq, 0, tokens, {}};
}

GenOp fork_op(SeqId src, SeqId dst) {
  return GenOp{OpKind::fork, src, dst, {}, {}};
}

GenOp prefill_op(SeqId seq, std::vector<StepEntryCount> segments) {
  return GenOp{OpKind::prefill, seq, 0, {}, std::move(segments)};
}

GenOp admit_op(SeqId seq, std::vector<StepEntryCount> segments) {
  return GenOp{OpKind::admit, seq, 0, {}, std::move(segments)};
}

// 1..4 tokens, or a page and 1..4 more: a chunk, or the slots of a recompute.
TokenCount draw_chunk(Source& source) {
  return TokenCount{source.in<uint32_t>(0, source.pick({3, 1})), source.in<int32_t>(1, 4)};
}

// `free seq` most of the time, so the burst's admit or prefill creates it.
Burst fresh(Source& source, SeqId seq) {
  if (source.coin(200)) return {};
  return {seq_op(OpKind::free, seq)};
}

GenOp step_of(SeqId first, uint64_t member_count, TokenCount tokens) {
  GenOp op{OpKind::step, 0, 0, {}, {}};
  const uint64_t count = std::min<uint64_t>(member_count, step_entry_count_max);
  for (uint64_t i = 0; i < count; i++)
    op.entries.push_back({first + static_cast<SeqId>(i), tokens});
  return op;
}

}  // namespace

Burst one_op(Source& source, const Regime& regime) {
  return {draw_op(source, regime)};
}

Burst big_step(Source& source, const Regime& regime) {
  const SeqId first = draw_seq(source, regime);
  const uint64_t members = source.in_range(1, step_entry_count_max);
  return {step_of(first, members, TokenCount{0, static_cast<int32_t>(source.pick({9, 1})) + 1})};
}

Burst short_step(Source& source, const Regime& regime) {
  const SeqId first = draw_seq(source, regime);
  return {step_of(first, source.in_range(1, 16), TokenCount{0, 1})};
}

Burst fan_out(Source& source, const Regime& /*regime*/) {
  const auto root = source.in<SeqId>(0, 7);
  const TokenCount prompt = draw_token_count(source);
  const auto width =
      source.pick({2, 1}) == 0 ? source.in<uint32_t>(1, 256) : source.in<uint32_t>(255, 256);
  const auto grandchildren = source.in<uint32_t>(0, 64);
  const auto beam_tokens = source.in<int32_t>(1, 2);
  const SeqId first = 8;
  Burst burst{seq_op(OpKind::append, root, prompt)};
  for (uint32_t i = 0; i < width; i++) {
    burst.push_back(fork_op(root, first + i));
    // 256 holders: an audit here sees a byte-wide counter wrapped before a 257th share trips it.
    if (i == 254) burst.push_back(GenOp{OpKind::check, 0, 0, {}, {}});
  }
  for (uint32_t i = 0; i < std::min(grandchildren, width); i++) {
    burst.push_back(fork_op(first + i, first + width + i));
  }
  burst.push_back(step_of(first, width, TokenCount{0, beam_tokens}));
  return burst;
}

Burst free_and_reuse(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  Burst burst{seq_op(OpKind::free, seq)};
  switch (source.in_range(0, 3)) {
    case 0:
      burst.push_back(seq_op(OpKind::alloc, seq));
      break;
    case 1:
      burst.push_back(seq_op(OpKind::append, seq, draw_token_count(source)));
      break;
    case 2:
      burst.push_back(fork_op(draw_seq(source, regime), seq));
      break;
    default:
      burst.push_back(step_of(seq, 1, TokenCount{0, 1}));
      break;
  }
  return burst;
}

Burst append(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  return {seq_op(OpKind::append, seq, draw_token_count(source))};
}

Burst long_append(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  return {seq_op(OpKind::append, seq, TokenCount{0, source.in<int32_t>(1, 256)})};
}

Burst fork_then_append(Source& source, const Regime& regime) {
  const SeqId src = draw_seq(source, regime);
  const SeqId dst = draw_seq(source, regime);
  const SeqId target = source.coin(500) ? dst : src;
  return {fork_op(src, dst), seq_op(OpKind::append, target, draw_token_count(source)),
          seq_op(OpKind::read, target)};
}

Burst crowd(Source& source, const Regime& /*regime*/) {
  const TokenCount prompt = draw_token_count(source);
  const auto width =
      source.pick({2, 1}) == 0 ? source.in<uint32_t>(255, 261) : source.in<uint32_t>(262, 520);
  const uint64_t then = source.in_range(0, 2);
  const SeqId root = 0, outsider = 1, first = 2;
  Burst burst{seq_op(OpKind::append, root, prompt)};
  for (uint32_t i = 0; i < width; i++) burst.push_back(fork_op(root, first + i));
  if (then == 0) burst.push_back(seq_op(OpKind::append, outsider, TokenCount{1, 0}));
  if (then == 1) {
    for (uint32_t i = 0; i <= width; i++)
      burst.push_back(seq_op(OpKind::free, i == width ? root : first + i));
  }
  if (then == 2) burst.push_back(step_of(first, width, TokenCount{0, 1}));
  return burst;
}

Burst crowd_of_ids(Source& source, const Regime& /*regime*/) {
  const auto count = source.in<uint32_t>(60, 699);
  const bool reverse = source.coin(500);
  Burst burst;
  for (uint32_t i = 0; i < count; i++) burst.push_back(seq_op(OpKind::alloc, 2 + i));
  for (uint32_t i = 0; i < count; i++) {
    burst.push_back(seq_op(OpKind::free, 2 + (reverse ? count - 1 - i : i)));
  }
  for (uint32_t i = 0; i < 8; i++) {
    burst.push_back(seq_op(OpKind::append, 2 + i * 7, TokenCount{0, 1}));
  }
  return burst;
}

Burst long_prefill(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  std::vector<StepEntryCount> segments;
  const uint64_t count = source.in_range(1, 4);
  for (uint64_t i = 0; i < count; i++) {
    const auto stream = source.in<SeqId>(0, 3);
    const auto length =
        source.pick({1, 2}) == 0 ? source.in<int32_t>(1, 8) : source.in<int32_t>(9, 399);
    segments.push_back({stream, TokenCount{0, length}});
  }
  return {prefill_op(seq, std::move(segments))};
}

Burst write_into_shared_block(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  const SeqId fork = draw_seq(source, regime);
  const auto stream = source.element<SeqId>({0, 1, 2, 3});
  const auto blocks = source.element<uint32_t>({1, 2, 3, 4});
  const auto cut = source.element<int32_t>({1, 2, 3});
  const auto grow = source.element<int32_t>({1, 2, 5, 7});
  return {prefill_op(seq, {{stream, TokenCount{blocks, 0}}}), fork_op(seq, fork),
          seq_op(OpKind::append, fork, TokenCount{0, grow}),
          seq_op(OpKind::truncate, seq, TokenCount{blocks, -cut}),
          seq_op(OpKind::append, seq, TokenCount{0, 1})};
}

Burst prompt_churn(Source& source, const Regime& regime) {
  const SeqId first = draw_seq(source, regime);
  const auto count = source.element<uint64_t>({2, 3, 4, 5, 6});
  Burst burst;
  for (uint64_t i = 0; i < count; i++) {  // each prefill a sequence of its own
    const auto stream = source.element<SeqId>({0, 1, 2});
    const auto blocks = source.element<uint32_t>({1, 2, 3});
    const auto extra = source.element<int32_t>({0, 1});
    burst.push_back(
        prefill_op(first + static_cast<SeqId>(i), {{stream, TokenCount{blocks, extra}}}));
  }
  return burst;
}

Burst rewrite_prompt_head(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  const SeqId other = draw_seq(source, regime);
  const auto stream = source.element<SeqId>({0, 1, 2, 3});
  const auto blocks = source.element<uint32_t>({2, 3, 4});
  const auto more = source.element<uint32_t>({1, 2});
  Burst burst{prefill_op(seq, {{stream, TokenCount{blocks, 0}}}),
              seq_op(OpKind::truncate, seq, TokenCount{0, 1}),
              seq_op(OpKind::append, seq, TokenCount{0, 1})};
  if (source.coin(500)) burst.push_back(seq_op(OpKind::free, seq));
  burst.push_back(prefill_op(other, {{stream, TokenCount{blocks + more, 0}}}));
  return burst;
}

Burst prompt_family(Source& source, const Regime& /*regime*/) {
  std::vector<std::vector<StepEntryCount>> prompts;
  for (uint32_t i = 0; i < 3; i++) {  // streams 1..2 for a page-boundary length, maybe a tail
    const auto stream = source.in<SeqId>(1, 2);
    prompts.push_back(
        {{stream, TokenCount{source.in<uint32_t>(1, 3), source.element<int32_t>({0, 1, -1})}}});
    if (source.coin(500)) prompts.back().push_back({source.in<SeqId>(3, 4), {0, 1}});
  }
  Burst burst;
  for (SeqId seq = 1; seq <= 3; seq++) burst.push_back(prefill_op(seq, prompts[seq - 1]));
  switch (source.in_range(0, 2)) {
    case 0:  // a family
      burst.push_back(seq_op(OpKind::read, source.in<SeqId>(1, 3)));
      break;
    case 1:  // a wave: free, then the same prompts again, in reverse
      for (SeqId seq = 1; seq <= 3; seq++) burst.push_back(seq_op(OpKind::free, seq));
      for (SeqId seq = 3; seq >= 1; seq--) burst.push_back(prefill_op(seq, prompts[seq - 1]));
      burst.push_back(GenOp{OpKind::stats, 0, 0, {}, {}});
      break;
    default:  // truncate inside a cached block, append into it, then hit it again
      burst.resize(1);
      burst.push_back(seq_op(OpKind::truncate, 1, TokenCount{0, source.in<int32_t>(1, 8)}));
      burst.push_back(seq_op(OpKind::append, 1, TokenCount{0, source.in<int32_t>(1, 4)}));
      burst.push_back(prefill_op(2, prompts[0]));
      burst.push_back(seq_op(OpKind::read, 1));
      break;
  }
  return burst;
}

Burst block_under_two_prefixes(Source& source, const Regime& regime) {
  const SeqId first = draw_seq(source, regime);
  const auto shared = source.element<SeqId>({1, 2, 3});
  const std::vector<SeqId> heads = {source.element<SeqId>({4, 5}), source.element<SeqId>({6, 7})};
  const TokenCount block{1, 0};
  Burst burst;
  for (SeqId i = 0; i < 3; i++) {
    const Burst free_first = fresh(source, first + i);
    burst.insert(burst.end(), free_first.begin(), free_first.end());
  }
  for (SeqId i = 0; i < 2; i++) {
    burst.push_back(prefill_op(
        first + i, {{heads[i], block}, {shared, TokenCount{1, static_cast<int32_t>(i)}}}));
  }
  burst.push_back(prefill_op(first + 2, {{shared, TokenCount{source.in<uint32_t>(1, 2), 1}}}));
  burst.push_back(seq_op(OpKind::read, first + source.in<SeqId>(0, 2)));
  return burst;
}

Burst chunked_prefill(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  Burst burst = fresh(source, seq);  // request ids are new, mostly
  burst.push_back(admit_op(seq, draw_prompt(source)));
  const uint64_t chunks = source.in_range(1, 4);
  for (uint64_t chunk = 0; chunk < chunks; chunk++) {
    const TokenCount size = draw_chunk(source);
    burst.push_back(seq_op(OpKind::reserve, seq, size));
    switch (source.pick({8, 2, 1})) {
      case 0:
        burst.push_back(seq_op(OpKind::commit, seq, size));
        break;
      case 1:  // short: the rest rejected (or more than reserved: refused)
        burst.push_back(seq_op(OpKind::commit, seq, TokenCount{0, source.in<int32_t>(0, 3)}));
        break;
      default:  // aborted before compute
        burst.push_back(seq_op(source.coin(500) ? OpKind::free : OpKind::preempt, seq));
        return burst;
    }
  }
  for (uint64_t decode = source.in_range(0, 3); decode > 0; decode--) {
    burst.push_back(seq_op(OpKind::reserve, seq, TokenCount{0, 1}));
    burst.push_back(seq_op(OpKind::commit, seq, TokenCount{0, 1}));
  }
  if (source.coin(500)) burst.push_back(seq_op(OpKind::read, seq));
  if (source.coin(300)) burst.push_back(seq_op(OpKind::free, seq));  // finished
  return burst;
}

Burst speculative_decode(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  Burst burst;
  if (source.coin(500)) {
    burst = fresh(source, seq);
    burst.push_back(prefill_op(seq, draw_prompt(source)));
  }
  for (uint64_t round = source.in_range(1, 4); round > 0; round--) {
    const auto drafts = source.in<int32_t>(1, 4);
    burst.push_back(seq_op(OpKind::reserve, seq, TokenCount{0, 1 + drafts}));
    const int32_t accepted =
        source.element<int32_t>({0, 1, 1 + drafts, source.in<int32_t>(1, 1 + drafts)});
    burst.push_back(seq_op(OpKind::commit, seq, TokenCount{0, accepted}));
  }
  burst.push_back(seq_op(OpKind::read, seq));
  return burst;
}

Burst preempt_and_resume(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  const std::vector<StepEntryCount> prompt = draw_prompt(source);
  Burst burst = fresh(source, seq);
  burst.push_back(prefill_op(seq, prompt));
  if (source.coin(500)) {  // a generated token, recomputed too
    burst.push_back(seq_op(OpKind::reserve, seq, TokenCount{0, 1}));
    burst.push_back(seq_op(OpKind::commit, seq, TokenCount{0, 1}));
  }
  burst.push_back(seq_op(OpKind::preempt, seq));
  if (source.coin(500)) burst.push_back(prefill_op(draw_seq(source, regime), prompt));
  const TokenCount slots = draw_chunk(source);
  burst.push_back(seq_op(OpKind::reserve, seq, slots));
  burst.push_back(seq_op(OpKind::commit, seq, slots));
  burst.push_back(seq_op(OpKind::read, seq));
  return burst;
}

Burst swap_cycle(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  Burst burst = fresh(source, seq);
  burst.push_back(source.coin(500) ? prefill_op(seq, draw_prompt(source))
                                   : seq_op(OpKind::append, seq, draw_chunk(source)));
  burst.push_back(seq_op(OpKind::swap_out, seq));
  const SeqId other = draw_seq(source, regime);
  burst.push_back(source.coin(500) ? prefill_op(other, draw_prompt(source))
                                   : seq_op(OpKind::append, other, draw_chunk(source)));
  if (source.coin(300)) {
    burst.push_back(seq_op(source.element<OpKind>({OpKind::read, OpKind::swap_out, OpKind::append,
                                                   OpKind::fork, OpKind::evict}),
                           seq));
  }
  burst.push_back(seq_op(OpKind::swap_in, seq));
  burst.push_back(seq_op(OpKind::read, seq));
  return burst;
}

Burst interrupt_in_flight(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  const TokenCount slots = draw_chunk(source);
  Burst burst{seq_op(OpKind::reserve, seq, slots)};
  switch (source.in_range(0, 5)) {
    case 0:
      burst.push_back(fork_op(seq, draw_seq(source, regime)));
      break;
    case 1:
      burst.push_back(seq_op(OpKind::append, seq, TokenCount{0, 1}));
      break;
    case 2:
      burst.push_back(seq_op(OpKind::truncate, seq, TokenCount{0, 0}));
      break;
    case 3:
      burst.push_back(GenOp{OpKind::evict, 0, 0, {}, {}});
      break;
    case 4:
      burst.push_back(seq_op(OpKind::preempt, seq));
      break;
    default:
      burst.push_back(seq_op(OpKind::free, seq));
      break;
  }
  burst.push_back(seq_op(OpKind::commit, seq, slots));
  return burst;
}

Burst window_slide(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  const std::vector<StepEntryCount> prompt = draw_prompt(source);
  Burst burst = fresh(source, seq);
  burst.push_back(source.coin(700) ? prefill_op(seq, prompt)
                                   : seq_op(OpKind::append, seq, draw_chunk(source)));
  const uint32_t decodes = source.in<uint32_t>(1, 8);
  for (uint32_t i = 0; i < decodes; i++) {
    switch (source.in_range(0, 3)) {
      case 0:
        burst.push_back(seq_op(OpKind::append, seq, TokenCount{0, source.in<int32_t>(1, 3)}));
        break;
      case 1:
        burst.push_back(step_of(seq, 1, TokenCount{0, 1}));
        break;
      case 2:
        burst.push_back(seq_op(OpKind::reserve, seq, TokenCount{0, 1}));
        burst.push_back(seq_op(OpKind::commit, seq, TokenCount{0, 1}));
        break;
      default:
        burst.push_back(seq_op(OpKind::alloc, seq));
        break;
    }
  }
  if (source.coin(250)) {  // swapped with its null entries (V-W6), then grown again
    burst.push_back(seq_op(OpKind::swap_out, seq));
    burst.push_back(seq_op(OpKind::swap_in, seq));
    burst.push_back(seq_op(OpKind::append, seq, TokenCount{0, 1}));
  }
  if (source.coin(300)) burst.push_back(seq_op(OpKind::truncate, seq, draw_chunk(source)));
  if (source.coin(400)) {
    const SeqId fork = draw_seq(source, regime);
    burst.push_back(fork_op(seq, fork));
    burst.push_back(seq_op(OpKind::append, fork, TokenCount{0, 1}));
  }
  if (source.coin(500)) burst.push_back(seq_op(OpKind::free, seq));
  const SeqId other = draw_seq(source, regime);
  burst.push_back(prefill_op(other, prompt));
  burst.push_back(seq_op(OpKind::read, other));
  return burst;
}

Burst hit_after_churn(Source& source, const Regime& regime) {
  const SeqId seq = draw_seq(source, regime);
  const SeqId other = draw_seq(source, regime);
  const auto stream = source.element<SeqId>({0, 1, 2});
  const auto blocks = source.element<uint32_t>({2, 3, 4, 5});
  Burst burst = fresh(source, seq);
  burst.push_back(prefill_op(seq, {{stream, TokenCount{blocks, source.element<int32_t>({0, 1})}}}));
  burst.push_back(seq_op(OpKind::append, seq, TokenCount{0, source.in<int32_t>(1, 3)}));
  burst.push_back(seq_op(OpKind::free, seq));
  const auto takers = source.in<uint32_t>(1, 3);
  for (uint32_t i = 0; i < takers; i++) {  // each takes a few pages, from the queue's head too
    burst.push_back(seq_op(OpKind::append, other, TokenCount{0, source.in<int32_t>(1, 4)}));
    burst.push_back(seq_op(OpKind::free, other));
  }
  const TokenCount again{blocks + source.element<uint32_t>({0, 1}),
                         source.element<int32_t>({0, 1})};
  burst.push_back(prefill_op(seq, {{stream, again}}));
  burst.push_back(seq_op(OpKind::read, seq));
  return burst;
}

}  // namespace kv::bursts
