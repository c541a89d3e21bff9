// The generator core: configs, id pools and single ops drawn from a Source (see gen_core.hpp).
#include "trace/gen_core.hpp"

#include <algorithm>
#include <array>

namespace kv {
namespace {

constexpr std::array<uint32_t, op_kind_count> op_weights() {
  std::array<uint32_t, op_kind_count> weights{};
  uint32_t i = 0;
#define KV_OP(name, shape, version, weight, help) weights[i++] = weight;
#include "trace/ops.def"
  return weights;
}

// An id from anywhere in the 32-bit range: small, near either end, a stride, or any.
SeqId wide_id(Source& source) {
  switch (source.pick({2, 1, 1, 1, 3})) {
    case 0:
      return source.in<SeqId>(1, 8);
    case 1:
      return source.in<SeqId>(0, 3);
    case 2:
      return UINT32_MAX - source.in<SeqId>(0, 3);
    case 3:
      return static_cast<SeqId>(source.in_range(1, 7) << source.in_range(16, 31));
    default:
      return source.in<SeqId>(0, UINT32_MAX);
  }
}

// 1 token mostly, 1..4, or a count around page boundaries.
TokenCount draw_entry_tokens(Source& source) {
  switch (source.pick({4, 4, 1})) {
    case 0:
      return TokenCount{0, 1};
    case 1:
      return TokenCount{0, source.in<int32_t>(1, 4)};
    default:
      return draw_token_count(source);
  }
}

// Step entries: 1..4 members, or one sequence named 2..4 times (each entry sees what the earlier
// ones left).
std::vector<StepEntryCount> draw_step_entries(Source& source, const Regime& regime) {
  std::vector<StepEntryCount> entries;
  if (source.pick({3, 1}) == 0) {
    const uint64_t count = source.in_range(1, 4);
    for (uint64_t i = 0; i < count; i++) {
      entries.push_back({draw_seq(source, regime), draw_entry_tokens(source)});
    }
    return entries;
  }
  const SeqId seq = draw_seq(source, regime);
  const uint64_t count = source.in_range(2, 4);
  for (uint64_t i = 0; i < count; i++) {
    entries.push_back(
        {source.coin(250) ? draw_seq(source, regime) : seq, draw_entry_tokens(source)});
  }
  return entries;
}

}  // namespace

std::vector<StepEntryCount> draw_prompt(Source& source) {
  std::vector<StepEntryCount> segments;
  const uint64_t count = source.in_range(1, 3);
  for (uint64_t i = 0; i < count; i++) {
    if (source.coin(33)) {
      segments.push_back(
          source.element<StepEntryCount>({{1, {0, 0}}, {prompt_stream_max + 1, {0, 1}}}));
      continue;
    }
    const auto stream = static_cast<SeqId>(source.pick({6, 3, 2, 1, 1}) + 1);
    const std::array<int32_t, 3> offsets = {0, 1, -1};
    const TokenCount tokens = source.pick({6, 2}) == 0 ? TokenCount{source.in<uint32_t>(1, 3),
                                                                    offsets[source.pick({3, 1, 1})]}
                                                       : TokenCount{0, source.in<int32_t>(1, 3)};
    segments.push_back({stream, tokens});
  }
  return segments;
}

// Section 17's groups: each full attention 40% of the time, else the trace's window (50%) or a
// window of its own, so hits meet groups that agree and groups that do not.
void draw_groups(Source& source, const ConfigRanges& ranges, Config& config) {
  config.group_count = source.draw(ranges.kv_groups);
  const uint32_t shared_window = source.draw(ranges.group_windows);
  for (uint32_t g = 0; g < config.group_count; g++) {
    const bool full = source.coin(400);
    config.group_windows[g] = full               ? 0
                              : source.coin(500) ? shared_window
                                                 : source.draw(ranges.group_windows);
  }
}

Config draw_config(Source& source, const Regime& regime) {
  const ConfigRanges& ranges = regime.config;
  Config config;
  config.page_size = source.draw(ranges.page_size);
  config.max_pages = source.draw(ranges.max_pages);
  config.eviction = source.coin(ranges.lru_per_mille) ? Eviction::lru : Eviction::none;
  if (source.coin(ranges.shape_per_mille)) {
    config.kv_heads = source.draw(ranges.kv_heads);
    config.head_dim = source.draw(ranges.head_dim);
    config.layers = source.draw(ranges.layers);
  }
  config.prefix_caching = source.coin(ranges.caching_per_mille);
  // Drawn only where a row asks, so the other rows' draws stay as they were.
  for (const VariantKey& variant : variant_keys) {
    if (ranges.variant_per_mille == 0 || variant.field == &Config::reserved_slots) continue;
    if (!source.coin(ranges.variant_per_mille)) continue;
    config.*variant.field = static_cast<uint8_t>(
        variant.word_count() == 2 ? 1 : source.in_range(1, variant.word_count() - 1));
  }
  // V-O3: the single queue is first in, first out.
  if (config.free_queue && config.prefix_caching && config.reuse_order == reuse_lifo) {
    config.reuse_order = reuse_fifo;
  }
  if (!ranges.cpu_pages.empty()) config.cpu_pages = source.draw(ranges.cpu_pages);
  if (!ranges.sliding_window.empty()) config.sliding_window = source.draw(ranges.sliding_window);
  if (!ranges.kv_groups.empty()) draw_groups(source, ranges, config);
  config.max_pages = fit_max_pages(config, config.max_pages);
  return config;
}

std::vector<SeqId> draw_pool(Source& source, const Regime& regime) {
  std::vector<SeqId> ids;
  if (regime.pool_size.empty()) return ids;
  const uint32_t count = source.draw(regime.pool_size);
  const size_t scheme = source.pick({4, 2, 1, 2});
  if (scheme == 3) {
    for (uint32_t i = 0; i < std::min<uint32_t>(count, 64); i++) ids.push_back(wide_id(source));
    return ids;
  }
  const uint32_t base = scheme == 0   ? 1
                        : scheme == 1 ? source.in<uint32_t>(0, UINT32_MAX)
                                      : UINT32_MAX - source.in<uint32_t>(0, 63);
  const auto shift = source.coin(250) ? source.in<uint32_t>(12, 31) : 0;
  for (uint32_t i = 0; i < count; i++) ids.push_back(base + (i << shift));  // wraps past 2^32-1
  return ids;
}

Burst draw_burst(Source& source, const Regime& regime) {
  std::vector<uint32_t> weights;
  for (const BurstWeight& burst : regime.bursts) weights.push_back(burst.weight);
  return regime.bursts[source.pick(weights)].burst(source, regime);
}

SeqId draw_seq(Source& source, const Regime& regime) {
  if (!regime.pool_size.empty()) return source.in<SeqId>(0, regime.index_count - 1);
  const size_t which = source.pick({48, 1, 1});
  return which == 0 ? source.in<SeqId>(1, 5) : which == 1 ? 0 : UINT32_MAX;
}

TokenCount draw_token_count(Source& source) {
  switch (source.pick({10, 6, 1})) {
    case 0: {
      const auto pages = static_cast<uint32_t>(source.pick({3, 1}) + 1);
      return TokenCount{pages, source.element<int32_t>({0, -1, 1})};
    }
    case 1:
      return TokenCount{source.in<uint32_t>(0, 2), source.in<int32_t>(1, 4)};
    default:
      return source.element<TokenCount>({{0, 0}, {0, int32_t{append_token_count_max} + 1}});
  }
}

GenOp draw_op(Source& source, const Regime& regime) {
  static constexpr std::array<uint32_t, op_kind_count> weights = op_weights();
  GenOp op;
  op.kind = static_cast<OpKind>(source.pick(weights));
  switch (op_shape(op.kind)) {
    case OpShape::None:
      break;
    case OpShape::Seq:
      op.seq = draw_seq(source, regime);
      break;
    case OpShape::SeqCount:  // truncate: page boundaries (0, one page, two) most of the time
      op.seq = draw_seq(source, regime);
      op.tokens = op.kind == OpKind::truncate && source.coin(600)
                      ? TokenCount{source.in<uint32_t>(0, 2), 0}
                      : draw_token_count(source);
      break;
    case OpShape::SeqSeq: {  // SRC+1 often, so forks of forks build chains
      op.seq = draw_seq(source, regime);
      const size_t dst = source.pick({4, 3, 3});
      op.dst = dst == 0 ? op.seq + 1 : dst == 1 ? source.in<SeqId>(1, 8) : draw_seq(source, regime);
      break;
    }
    case OpShape::Step:
      op.entries = draw_step_entries(source, regime);
      break;
    case OpShape::Prefill:
      op.seq = draw_seq(source, regime);
      op.entries = draw_prompt(source);
      break;
  }
  return op;
}

}  // namespace kv
