// The scale regimes of the property suite: RapidCheck generators for big batches, wide fan-out,
// 32-bit ids, real data shapes, odd page sizes and memory pressure (one property each).
#include "properties/regimes.hpp"

#include <algorithm>
#include <tuple>

#include "properties/weighted.hpp"
#include "trace/regimes.hpp"

namespace kv::props {
namespace {

using Burst = std::vector<GenOp>;

// A case before its ids are resolved: ops hold indices into `pool`.
struct PooledCase {
  Config config;
  std::vector<SeqId> pool;
  std::vector<Burst> bursts;
};

SeqId pooled(const std::vector<SeqId>& pool, SeqId index) {
  return pool.empty() ? index : pool[index % pool.size()];
}

OpSequence resolve_pool(const PooledCase& pooled_case) {
  OpSequence sequence{pooled_case.config, {}};
  const std::vector<SeqId>& pool = pooled_case.pool;
  for (const Burst& burst : pooled_case.bursts) {
    for (GenOp op : burst) {
      op.seq = pooled(pool, op.seq);
      if (op_shape(op.kind) == OpShape::SeqSeq) op.dst = pooled(pool, op.dst);
      if (op.kind == OpKind::step) {  // a prefill's entries name prompt streams, not sequences
        for (StepEntryCount& entry : op.entries) entry.seq = pooled(pool, entry.seq);
      }
      sequence.ops.push_back(std::move(op));
    }
  }
  return sequence;
}

// Keeps the pool inside the generated-pool cap (trace/regimes.hpp), like kvtrace gen.
Config fitted(Config config) {
  config.max_pages = regimes::fit_max_pages(config, config.max_pages);
  return config;
}

rc::Gen<uint32_t> gen_small_page_size() {
  return weighted_choice<uint32_t>(
      {{2, 1}, {2, 2}, {1, 3}, {3, 4}, {1, 5}, {1, 8}, {1, 12}, {4, 16}, {1, 32}});
}

rc::Gen<Eviction> gen_eviction(uint32_t lru_weight) {
  return weighted_choice<Eviction>(
      {{lru_weight, Eviction::lru}, {10 - lru_weight, Eviction::none}});
}

rc::Gen<Config> gen_plain_config(rc::Gen<uint32_t> page_size, rc::Gen<uint32_t> max_pages,
                                 uint32_t lru_weight) {
  return rc::gen::map(
      rc::gen::tuple(std::move(page_size), std::move(max_pages), gen_eviction(lru_weight)),
      [](const std::tuple<uint32_t, uint32_t, Eviction>& parts) {
        Config config;
        std::tie(config.page_size, config.max_pages, config.eviction) = parts;
        return fitted(config);
      });
}

// A fitted config of these page sizes, pool sizes and (kv_heads, head_dim, layers) shapes, with
// either eviction policy.
rc::Gen<Config> gen_sized_config(rc::Gen<uint32_t> page_size, rc::Gen<uint32_t> max_pages,
                                 rc::Gen<std::tuple<uint32_t, uint32_t, uint32_t>> shape) {
  return rc::gen::map(
      rc::gen::tuple(std::move(page_size), std::move(max_pages), gen_eviction(5), std::move(shape)),
      [](const std::tuple<uint32_t, uint32_t, Eviction, std::tuple<uint32_t, uint32_t, uint32_t>>&
             parts) {
        Config config;
        std::tie(config.page_size, config.max_pages, config.eviction, std::ignore) = parts;
        std::tie(config.kv_heads, config.head_dim, config.layers) = std::get<3>(parts);
        return fitted(config);
      });
}

// kv_heads 1..8, head_dim 64 and 128 often and odd sizes, layers 1..4; shrinks toward small.
rc::Gen<Config> gen_shapes_config() {
  const auto shape =
      rc::gen::tuple(weighted_choice<uint32_t>({{2, 1}, {2, 2}, {1, 3}, {2, 4}, {2, 8}}),
                     weighted_gen<uint32_t>({{1, rc::gen::inRange<uint32_t>(1, 129)},
                                             {1, rc::gen::just<uint32_t>(17)},
                                             {3, rc::gen::just<uint32_t>(64)},
                                             {3, rc::gen::just<uint32_t>(128)}}),
                     rc::gen::inRange<uint32_t>(1, 5));
  return gen_sized_config(
      weighted_choice<uint32_t>({{1, 1}, {1, 2}, {1, 3}, {2, 4}, {1, 8}, {2, 16}, {1, 17}}),
      rc::gen::inRange<uint32_t>(1, 257), shape);
}

// Page sizes across 1..65536 (non-powers of two included), pools from 1 page to thousands.
rc::Gen<Config> gen_pages_config() {
  const auto page_size = weighted_gen<uint32_t>(
      {{3, rc::gen::element<uint32_t>(3, 7, 12, 17, 100, 255, 257, 1000, 4097, 65535, 65536)},
       {1, rc::gen::map(rc::gen::inRange<uint32_t>(0, 17), [](uint32_t k) { return 1u << k; })},
       {2, rc::gen::inRange<uint32_t>(1, 65537)}});
  const auto max_pages = weighted_gen<uint32_t>({{1, rc::gen::just<uint32_t>(1)},
                                                 {4, rc::gen::inRange<uint32_t>(1, 17)},
                                                 {3, rc::gen::inRange<uint32_t>(17, 1025)},
                                                 {2, rc::gen::inRange<uint32_t>(1025, 16385)}});
  return gen_plain_config(page_size, max_pages, 5);
}

// Ids base + (i << shift): a dense run (shift 0) or a stride of a large power of two, anywhere in
// the 32-bit range (wrapping past 2^32-1), or near 0 or 2^32-1.
rc::Gen<std::vector<SeqId>> gen_id_run(uint32_t max_count) {
  const auto base =
      weighted_gen<uint32_t>({{2, rc::gen::just<uint32_t>(1)},
                              {2, rc::gen::arbitrary<uint32_t>()},
                              {1, rc::gen::map(rc::gen::inRange<uint32_t>(0, 64),
                                               [](uint32_t d) { return UINT32_MAX - d; })}});
  const auto shift = weighted_gen<uint32_t>(
      {{3, rc::gen::just<uint32_t>(0)}, {1, rc::gen::inRange<uint32_t>(12, 32)}});
  return rc::gen::map(rc::gen::tuple(base, shift, rc::gen::inRange<uint32_t>(1, max_count + 1)),
                      [](const std::tuple<uint32_t, uint32_t, uint32_t>& parts) {
                        const auto [first, shift_bits, count] = parts;
                        std::vector<SeqId> ids;
                        for (uint32_t i = 0; i < count; i++)
                          ids.push_back(first + (i << shift_bits));
                        return ids;
                      });
}

// Independent ids from the whole range: small, near the ends, strides, random.
rc::Gen<SeqId> gen_wide_id() {
  return weighted_gen<SeqId>(
      {{2, rc::gen::inRange<SeqId>(1, 9)},
       {1, rc::gen::inRange<SeqId>(0, 4)},
       {1, rc::gen::map(rc::gen::inRange<SeqId>(0, 4), [](SeqId d) { return UINT32_MAX - d; })},
       {1, rc::gen::map(
               rc::gen::tuple(rc::gen::inRange<SeqId>(1, 8), rc::gen::inRange<SeqId>(16, 32)),
               [](const std::tuple<SeqId, SeqId>& p) { return std::get<0>(p) << std::get<1>(p); })},
       {3, rc::gen::arbitrary<SeqId>()}});
}

rc::Gen<Burst> one_op(const rc::Gen<SeqId>& index) {
  return rc::gen::map(gen_op_over(index), [](GenOp op) { return Burst{std::move(op)}; });
}

GenOp step_of(SeqId first, uint32_t member_count, TokenCount tokens) {
  GenOp op{OpKind::step, 0, 0, {}, {}};
  for (uint32_t i = 0; i < member_count; i++) op.entries.push_back({first + i, tokens});
  return op;
}

// A decode step over consecutive pool indices: dozens to hundreds of members, one token each.
rc::Gen<Burst> big_step(SeqId index_count) {
  return rc::gen::map(rc::gen::tuple(rc::gen::inRange<SeqId>(0, index_count),
                                     rc::gen::inRange<uint32_t>(1, step_entry_count_max + 1),
                                     weighted_choice<int32_t>({{9, 1}, {1, 2}})),
                      [](const std::tuple<SeqId, uint32_t, int32_t>& parts) {
                        const auto [first, count, tokens] = parts;
                        return Burst{step_of(first, count, TokenCount{0, tokens})};
                      });
}

// A prompt forked `width` times, some forks forked again, then a beam step over the forks
// (copy-on-write of the shared last page) and sometimes an append to one fork. RapidCheck scales
// inRange by the case's size, so the widest beams (255 and 256 forks: a page with 256 holders and
// more, where a byte-wide counter wraps) are drawn on their own too, at any size.
rc::Gen<Burst> fan_out() {
  const auto beam_width = weighted_gen<uint32_t>(
      {{2, rc::gen::inRange<uint32_t>(1, 257)}, {1, rc::gen::element<uint32_t>(255, 256)}});
  return rc::gen::map(
      rc::gen::tuple(rc::gen::inRange<SeqId>(0, 8), gen_token_count(), beam_width,
                     rc::gen::inRange<uint32_t>(0, 65), rc::gen::inRange<int32_t>(1, 3)),
      [](const std::tuple<SeqId, TokenCount, uint32_t, uint32_t, int32_t>& parts) {
        const auto [root, prompt, width, grandchildren, beam_tokens] = parts;
        Burst burst;
        burst.push_back(GenOp{OpKind::append, root, 0, prompt, {}});
        const SeqId first = 8;
        for (uint32_t i = 0; i < width; i++)
          burst.push_back(GenOp{OpKind::fork, root, first + i, {}, {}});
        for (uint32_t i = 0; i < std::min(grandchildren, width); i++) {
          burst.push_back(GenOp{OpKind::fork, first + i, first + width + i, {}, {}});
        }
        burst.push_back(step_of(first, std::min<uint32_t>(width, step_entry_count_max),
                                TokenCount{0, beam_tokens}));
        return burst;
      });
}

// free S, then S again at once: alloc, append, fork into it, or a step naming it.
rc::Gen<Burst> free_and_reuse(const rc::Gen<SeqId>& index) {
  return rc::gen::map(
      rc::gen::tuple(index, index, rc::gen::inRange<uint32_t>(0, 4), gen_token_count()),
      [](const std::tuple<SeqId, SeqId, uint32_t, TokenCount>& parts) {
        const auto [seq, other, how, tokens] = parts;
        Burst burst{GenOp{OpKind::free, seq, 0, {}, {}}};
        if (how == 0) burst.push_back(GenOp{OpKind::alloc, seq, 0, {}, {}});
        if (how == 1) burst.push_back(GenOp{OpKind::append, seq, 0, tokens, {}});
        if (how == 2) burst.push_back(GenOp{OpKind::fork, other, seq, {}, {}});
        if (how == 3) burst.push_back(step_of(seq, 1, TokenCount{0, 1}));
        return burst;
      });
}

rc::Gen<Burst> pressure_append(const rc::Gen<SeqId>& index) {
  return rc::gen::map(
      rc::gen::tuple(index, gen_token_count()), [](const std::tuple<SeqId, TokenCount>& parts) {
        return Burst{GenOp{OpKind::append, std::get<0>(parts), 0, std::get<1>(parts), {}}};
      });
}

rc::Gen<OpSequence> pooled_sequence(rc::Gen<Config> config, rc::Gen<std::vector<SeqId>> pool,
                                    rc::Gen<Burst> burst, double scale) {
  return rc::gen::map(
      rc::gen::tuple(
          std::move(config), std::move(pool),
          rc::gen::scale(scale, rc::gen::container<std::vector<Burst>>(std::move(burst)))),
      [](std::tuple<Config, std::vector<SeqId>, std::vector<Burst>> parts) {
        return resolve_pool(PooledCase{std::get<0>(parts), std::move(std::get<1>(parts)),
                                       std::move(std::get<2>(parts))});
      });
}

rc::Gen<OpSequence> classic_ops(rc::Gen<Config> config) {
  return rc::gen::map(
      rc::gen::tuple(std::move(config),
                     rc::gen::scale(2.0, rc::gen::container<std::vector<GenOp>>(gen_op()))),
      [](std::tuple<Config, std::vector<GenOp>> parts) {
        return OpSequence{std::get<0>(parts), std::move(std::get<1>(parts))};
      });
}

}  // namespace

rc::Gen<OpSequence> gen_regime_sequence(Profile profile) {
  const auto index = [](SeqId count) { return rc::gen::inRange<SeqId>(0, count); };
  switch (profile) {
    case Profile::batch:
      return pooled_sequence(
          gen_plain_config(gen_small_page_size(), rc::gen::inRange<uint32_t>(64, 4097), 6),
          gen_id_run(1024), weighted_gen<Burst>({{6, one_op(index(1024))}, {4, big_step(1024)}}),
          1.0);
    case Profile::fanout:
      return pooled_sequence(
          gen_plain_config(gen_small_page_size(), rc::gen::inRange<uint32_t>(16, 2049), 5),
          gen_id_run(600),
          weighted_gen<Burst>({{6, one_op(index(600))}, {1, fan_out()}, {2, big_step(600)}}), 0.5);
    case Profile::ids:
      return pooled_sequence(
          gen_config(),
          weighted_gen<std::vector<SeqId>>(
              {{1, gen_id_run(512)}, {1, rc::gen::container<std::vector<SeqId>>(gen_wide_id())}}),
          weighted_gen<Burst>(
              {{7, one_op(index(512))}, {2, free_and_reuse(index(512))}, {1, big_step(512)}}),
          2.0);
    case Profile::shapes:
      return classic_ops(gen_shapes_config());
    case Profile::pages:
      return classic_ops(gen_pages_config());
    case Profile::pressure:
    default:
      return pooled_sequence(
          gen_plain_config(
              weighted_choice<uint32_t>({{1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 8}, {1, 16}}),
              rc::gen::inRange<uint32_t>(4, 129), 9),
          gen_id_run(64),
          weighted_gen<Burst>(
              {{3, one_op(index(64))}, {5, pressure_append(index(64))}, {2, big_step(64)}}),
          6.0);
  }
}

namespace {

// Real shapes: 8 x 128 mostly (8 KiB per token and layer), sometimes 2 layers or 64-wide heads.
rc::Gen<Config> gen_device_config() {
  const auto shape = weighted_choice<std::tuple<uint32_t, uint32_t, uint32_t>>(
      {{6, {8, 128, 1}}, {2, {8, 128, 2}}, {1, {8, 64, 1}}, {1, {4, 128, 1}}});
  return gen_sized_config(
      weighted_choice<uint32_t>({{1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 8}, {3, 16}, {1, 17}}),
      rc::gen::inRange<uint32_t>(1, 65), shape);
}

// An append of 1..256 tokens in one op: one write launch of up to 1,048,576 words.
rc::Gen<Burst> long_append(const rc::Gen<SeqId>& index) {
  return rc::gen::map(
      rc::gen::tuple(index, rc::gen::inRange<int32_t>(1, 257)),
      [](const std::tuple<SeqId, int32_t>& parts) {
        return Burst{
            GenOp{OpKind::append, std::get<0>(parts), 0, TokenCount{0, std::get<1>(parts)}, {}}};
      });
}

// fork SRC DST then an append to one of them: a copy-on-write launch of a partly filled page.
rc::Gen<Burst> fork_then_append(const rc::Gen<SeqId>& index) {
  return rc::gen::map(rc::gen::tuple(index, index, rc::gen::arbitrary<bool>(), gen_token_count()),
                      [](const std::tuple<SeqId, SeqId, bool, TokenCount>& parts) {
                        const auto [src, dst, to_dst, tokens] = parts;
                        return Burst{GenOp{OpKind::fork, src, dst, {}, {}},
                                     GenOp{OpKind::append, to_dst ? dst : src, 0, tokens, {}},
                                     GenOp{OpKind::read, to_dst ? dst : src, 0, {}, {}}};
                      });
}

rc::Gen<Burst> small_step(const rc::Gen<SeqId>& index) {
  return rc::gen::map(
      rc::gen::tuple(index, rc::gen::inRange<uint32_t>(1, 17)),
      [](const std::tuple<SeqId, uint32_t>& parts) {
        return Burst{step_of(std::get<0>(parts), std::get<1>(parts), TokenCount{0, 1})};
      });
}

// A prompt forked into `width` sequences (255..520: a page with more than 256 holders), then a
// request that needs every holder evicted (an append to a sequence outside the crowd, into a
// full pool), or every holder freed one by one, or a step over the crowd (copy-on-write each).
rc::Gen<Burst> crowd() {
  const auto crowd_width = weighted_gen<uint32_t>(
      {{2, rc::gen::inRange<uint32_t>(255, 262)}, {1, rc::gen::inRange<uint32_t>(262, 521)}});
  return rc::gen::map(
      rc::gen::tuple(gen_token_count(), crowd_width, rc::gen::inRange<uint32_t>(0, 3)),
      [](const std::tuple<TokenCount, uint32_t, uint32_t>& parts) {
        const auto [prompt, width, then] = parts;
        const SeqId root = 0, outsider = 1, first = 2;
        Burst burst{GenOp{OpKind::append, root, 0, prompt, {}}};
        for (uint32_t i = 0; i < width; i++)
          burst.push_back(GenOp{OpKind::fork, root, first + i, {}, {}});
        if (then == 0) burst.push_back(GenOp{OpKind::append, outsider, 0, TokenCount{1, 0}, {}});
        if (then == 1) {
          for (uint32_t i = 0; i <= width; i++)
            burst.push_back(GenOp{OpKind::free, i == width ? root : first + i, 0, {}, {}});
        }
        if (then == 2) {
          burst.push_back(
              step_of(first, std::min<uint32_t>(width, step_entry_count_max), TokenCount{0, 1}));
        }
        return burst;
      });
}

// Creates `count` sequences (the sequence index grows through several rehashes), then frees
// them, some in reverse order, and creates a few again.
rc::Gen<Burst> crowd_of_ids() {
  return rc::gen::map(
      rc::gen::tuple(rc::gen::inRange<uint32_t>(60, 700), rc::gen::arbitrary<bool>()),
      [](const std::tuple<uint32_t, bool>& parts) {
        const auto [count, reverse] = parts;
        Burst burst;
        for (uint32_t i = 0; i < count; i++)
          burst.push_back(GenOp{OpKind::alloc, 2 + i, 0, {}, {}});
        for (uint32_t i = 0; i < count; i++) {
          burst.push_back(GenOp{OpKind::free, 2 + (reverse ? count - 1 - i : i), 0, {}, {}});
        }
        for (uint32_t i = 0; i < 8; i++)
          burst.push_back(GenOp{OpKind::append, 2 + i * 7, 0, TokenCount{0, 1}, {}});
        return burst;
      });
}

// A prefill of 1..4 segments from streams 0..3, long enough to register dozens to hundreds of
// blocks (the key index grows past 64, 128 and 256 nodes), or a short one that hits.
rc::Gen<Burst> long_prefill(const rc::Gen<SeqId>& index) {
  const auto segment =
      rc::gen::map(rc::gen::tuple(rc::gen::inRange<SeqId>(0, 4),
                                  weighted_gen<int32_t>({{1, rc::gen::inRange<int32_t>(1, 9)},
                                                         {2, rc::gen::inRange<int32_t>(9, 400)}})),
                   [](const std::tuple<SeqId, int32_t>& parts) {
                     return StepEntryCount{std::get<0>(parts), TokenCount{0, std::get<1>(parts)}};
                   });
  return rc::gen::map(
      rc::gen::tuple(index,
                     rc::gen::mapcat(rc::gen::inRange<size_t>(1, 5),
                                     [segment](size_t count) {
                                       return rc::gen::container<std::vector<StepEntryCount>>(
                                           count, segment);
                                     })),
      [](std::tuple<SeqId, std::vector<StepEntryCount>> parts) {
        return Burst{
            GenOp{OpKind::prefill, std::get<0>(parts), 0, {}, std::move(std::get<1>(parts))}};
      });
}

// A prefill, a fork of it that grows a page of its own, then the prompt truncated into one of its
// registered blocks and appended to: the write needs a copy while the block is shared, and
// eviction (of the fork, in a full pool) may leave it unshared after all.
rc::Gen<Burst> write_into_shared_block(const rc::Gen<SeqId>& index) {
  return rc::gen::map(
      rc::gen::tuple(index, index, rc::gen::element<SeqId>(0, 1, 2, 3),
                     rc::gen::element<uint32_t>(1, 2, 3, 4), rc::gen::element<int32_t>(1, 2, 3),
                     rc::gen::element<int32_t>(1, 2, 5, 7)),
      [](const std::tuple<SeqId, SeqId, SeqId, uint32_t, int32_t, int32_t>& parts) {
        const auto [seq, fork, stream, blocks, cut, grow] = parts;
        return Burst{GenOp{OpKind::prefill, seq, 0, {}, {{stream, TokenCount{blocks, 0}}}},
                     GenOp{OpKind::fork, seq, fork, {}, {}},
                     GenOp{OpKind::append, fork, 0, TokenCount{0, grow}, {}},
                     GenOp{OpKind::truncate, seq, 0, TokenCount{blocks, -cut}, {}},
                     GenOp{OpKind::append, seq, 0, TokenCount{0, 1}, {}}};
      });
}

// Short prompts from three streams, one after another: in a small pool each prefill evicts the
// oldest (several victims at once, their registered blocks queued in eviction order), and later
// prefills of the same streams hit whichever blocks the queue kept.
rc::Gen<Burst> prompt_churn(const rc::Gen<SeqId>& index) {
  const auto prompt = rc::gen::map(
      rc::gen::tuple(rc::gen::element<SeqId>(0, 1, 2), rc::gen::element<uint32_t>(1, 2, 3),
                     rc::gen::element<int32_t>(0, 1)),
      [](const std::tuple<SeqId, uint32_t, int32_t>& parts) {
        const auto [stream, blocks, extra] = parts;
        return StepEntryCount{stream, TokenCount{blocks, extra}};
      });
  return rc::gen::map(
      rc::gen::tuple(index,
                     rc::gen::mapcat(rc::gen::element<size_t>(2, 3, 4, 5, 6),
                                     [prompt](size_t count) {
                                       return rc::gen::container<std::vector<StepEntryCount>>(
                                           count, prompt);
                                     })),
      [](const std::tuple<SeqId, std::vector<StepEntryCount>>& parts) {
        const auto& [first, prompts] = parts;
        Burst burst;
        for (size_t i = 0; i < prompts.size(); i++) {  // each prefill a sequence of its own
          burst.push_back(
              GenOp{OpKind::prefill, first + static_cast<SeqId>(i), 0, {}, {prompts[i]}});
        }
        return burst;
      });
}

// A prompt's first block rewritten (truncate into it, append) while its later blocks stay
// registered, then a longer prefill of the same stream: it hits nothing, and its blocks meet keys
// that are registered already (duplicates) before new ones.
rc::Gen<Burst> rewrite_prompt_head(const rc::Gen<SeqId>& index) {
  return rc::gen::map(
      rc::gen::tuple(index, index, rc::gen::element<SeqId>(0, 1, 2, 3),
                     rc::gen::element<uint32_t>(2, 3, 4), rc::gen::element<uint32_t>(1, 2),
                     rc::gen::arbitrary<bool>()),
      [](const std::tuple<SeqId, SeqId, SeqId, uint32_t, uint32_t, bool>& parts) {
        const auto [seq, other, stream, blocks, more, free_first] = parts;
        Burst burst{GenOp{OpKind::prefill, seq, 0, {}, {{stream, TokenCount{blocks, 0}}}},
                    GenOp{OpKind::truncate, seq, 0, TokenCount{0, 1}, {}},
                    GenOp{OpKind::append, seq, 0, TokenCount{0, 1}, {}}};
        if (free_first) burst.push_back(GenOp{OpKind::free, seq, 0, {}, {}});
        burst.push_back(
            GenOp{OpKind::prefill, other, 0, {}, {{stream, TokenCount{blocks + more, 0}}}});
        return burst;
      });
}

}  // namespace

rc::Gen<OpSequence> gen_counters_sequence() {
  const auto config =
      rc::gen::map(rc::gen::tuple(weighted_choice<uint32_t>({{1, 1}, {1, 2}, {1, 4}, {1, 16}}),
                                  rc::gen::inRange<uint32_t>(1, 9), gen_eviction(8)),
                   [](const std::tuple<uint32_t, uint32_t, Eviction>& parts) {
                     Config c;
                     std::tie(c.page_size, c.max_pages, c.eviction) = parts;
                     return fitted(c);
                   });
  return pooled_sequence(
      config, gen_id_run(1024),
      weighted_gen<Burst>(
          {{4, one_op(rc::gen::inRange<SeqId>(0, 8))}, {2, crowd()}, {1, crowd_of_ids()}}),
      0.1);
}

rc::Gen<OpSequence> gen_prefix_sequence() {
  const auto config = rc::gen::map(
      rc::gen::tuple(weighted_choice<uint32_t>({{2, 1}, {2, 2}, {1, 3}, {2, 4}, {1, 16}}),
                     weighted_gen<uint32_t>({{2, rc::gen::inRange<uint32_t>(2, 9)},
                                             {1, rc::gen::inRange<uint32_t>(9, 64)},
                                             {3, rc::gen::inRange<uint32_t>(64, 400)}}),
                     gen_eviction(7)),
      [](const std::tuple<uint32_t, uint32_t, Eviction>& parts) {
        Config c;
        std::tie(c.page_size, c.max_pages, c.eviction) = parts;
        c.prefix_caching = true;
        return fitted(c);
      });
  const auto index = rc::gen::inRange<SeqId>(0, 24);
  return pooled_sequence(config, gen_id_run(24),
                         weighted_gen<Burst>({{3, one_op(index)},
                                              {4, long_prefill(index)},
                                              {2, free_and_reuse(index)},
                                              {2, write_into_shared_block(index)},
                                              {2, prompt_churn(index)},
                                              {2, rewrite_prompt_head(index)}}),
                         0.3);
}

rc::Gen<OpSequence> gen_device_sequence() {
  const auto index = rc::gen::inRange<SeqId>(0, 16);
  return pooled_sequence(gen_device_config(), gen_id_run(16),
                         weighted_gen<Burst>({{5, one_op(index)},
                                              {2, long_append(index)},
                                              {2, fork_then_append(index)},
                                              {1, small_step(index)}}),
                         0.5);
}

std::vector<RegimeProperty> regime_properties() {
  // Cheapest first: a mutant only one regime kills dies sooner (the suite stops at a failure).
  std::vector<RegimeProperty> properties{{"counters", gen_counters_sequence(), 40},
                                         {"prefix", gen_prefix_sequence(), 400}};
  for (const auto& [profile, cases_per_mille] :
       std::vector<std::pair<Profile, int>>{{Profile::batch, 30},
                                            {Profile::pressure, 30},
                                            {Profile::fanout, 50},
                                            {Profile::ids, 300},
                                            {Profile::shapes, 100},
                                            {Profile::pages, 50}}) {
    properties.push_back(RegimeProperty{std::string(profile_name(profile)),
                                        gen_regime_sequence(profile), cases_per_mille});
  }
  properties.insert(properties.end() - 2, RegimeProperty{"device", gen_device_sequence(), 100});
  return properties;
}

}  // namespace kv::props
