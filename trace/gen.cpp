// Random kvtrace generation, biased toward the places bugs hide: full pools, forks, page
// boundaries.
#include "trace/gen.hpp"

#include <array>

#include "trace/regimes.hpp"

namespace kv {
namespace {

constexpr std::array<std::string_view, 8> profile_names_table = {
    "mixed", "classic", "batch", "fanout", "ids", "shapes", "pages", "pressure"};

// How often `mixed` draws each profile, in Profile order (mixed itself never).
constexpr std::array<uint32_t, 8> mixed_weights = {0, 40, 10, 10, 10, 10, 10, 10};

Profile pick_mixed(Rng& rng) {
  uint32_t total_weight = 0;
  for (const uint32_t weight : mixed_weights) total_weight += weight;
  uint64_t roll = rng.below(total_weight);
  for (size_t i = 0; i < mixed_weights.size(); i++) {
    if (roll < mixed_weights[i]) return static_cast<Profile>(i);
    roll -= mixed_weights[i];
  }
  return Profile::classic;
}

// By the op table's weights. Without prefix caching `prefill` is left out, so a version-1 config
// draws exactly the ops it drew before prefill existed.
OpKind pick_kind(Rng& rng, const Config& config) {
  const auto weight_of = [&config](uint32_t i) {
    const auto kind = static_cast<OpKind>(i);
    return kind == OpKind::prefill && !config.prefix_caching ? 0u : op_weight(kind);
  };
  uint32_t total_weight = 0;
  for (uint32_t i = 0; i < op_kind_count; i++) total_weight += weight_of(i);
  uint64_t roll = rng.below(total_weight);
  for (uint32_t i = 0; i < op_kind_count; i++) {
    const uint32_t weight = weight_of(i);
    if (roll < weight) return static_cast<OpKind>(i);
    roll -= weight;
  }
  return OpKind::stats;
}

// Mostly ids 1..5 so ops collide; sometimes 0 or a huge id.
SeqId pick_seq(Rng& rng) {
  if (rng.chance(2)) return rng.chance(50) ? 0 : UINT32_MAX;
  return static_cast<SeqId>(rng.between(1, 5));
}

// Token counts around page boundaries, rarely out of range.
uint32_t pick_token_count(Rng& rng, const Config& config) {
  const uint32_t page_size = config.page_size;
  switch (rng.below(8)) {
    case 0:
      return 1;
    case 1:
      return page_size > 1 ? page_size - 1 : 1;
    case 2:
      return page_size;
    case 3:
      return page_size + 1;
    case 4:
      return 2 * page_size;
    case 5:
      return rng.chance(50) ? 0 : append_token_count_max + 1;
    default:
      return static_cast<uint32_t>(rng.between(1, 3ull * page_size));
  }
}

// Prompt segments for a prefill (kvtrace 2): a few shared "system prompt" streams so prompts
// share prefixes, lengths around page boundaries, sometimes a private tail, rarely invalid.
std::vector<StepEntry> generate_prompt_segments(Rng& rng, const Config& config) {
  const uint32_t page_size = config.page_size;
  std::vector<StepEntry> segments;
  const uint32_t lengths[] = {
      page_size, page_size + 1, 2 * page_size - 1, 2 * page_size, 2 * page_size + 1, 3 * page_size,
      1,         page_size - 1};
  const uint32_t first = lengths[rng.below(std::size(lengths))];
  segments.push_back(StepEntry{static_cast<uint32_t>(rng.between(1, 3)), first > 0 ? first : 1});
  if (rng.chance(40)) {  // a private tail after the shared prefix
    segments.push_back(StepEntry{static_cast<uint32_t>(rng.between(4, 9)),
                                 static_cast<uint32_t>(rng.between(1, 2ull * page_size))});
  }
  if (rng.chance(3)) {
    segments.back() = rng.chance(50) ? StepEntry{1, 0} : StepEntry{prompt_stream_max + 1, 1};
  }
  return segments;
}

// ---- prefix-caching regimes (kvtrace 2) --------------------------------------------------------

Op make_op(OpKind kind, SeqId seq, uint32_t count = 0, std::vector<StepEntry> entries = {}) {
  return Op{kind, seq, count, std::move(entries)};
}

// A prompt of a small family: shared stream 1..2 for a page-boundary length, then maybe a tail.
std::vector<StepEntry> family_prompt(Rng& rng, uint32_t page_size) {
  const uint32_t base = static_cast<uint32_t>(rng.between(1, 3)) * page_size;
  const uint32_t offsets[] = {0, 1, page_size - 1};
  std::vector<StepEntry> segments{
      {static_cast<uint32_t>(rng.between(1, 2)), base + offsets[rng.below(3)]}};
  if (segments[0].token_count == 0) segments[0].token_count = 1;
  if (rng.chance(50)) segments.push_back({static_cast<uint32_t>(rng.between(3, 4)), 1});
  return segments;
}

// One burst of ops where prefix caching bugs hide: a family of prompts sharing a prefix; a wave
// of frees followed by prefills of the same prompts; truncate-then-append on cached blocks.
std::vector<Op> prefix_burst(Rng& rng, const Config& config) {
  const uint32_t page_size = config.page_size;
  std::vector<Op> ops;
  std::vector<std::vector<StepEntry>> prompts;
  for (SeqId seq = 1; seq <= 3; seq++) prompts.push_back(family_prompt(rng, page_size));
  switch (rng.below(3)) {
    case 0:  // a family
      for (SeqId seq = 1; seq <= 3; seq++)
        ops.push_back(make_op(OpKind::prefill, seq, 0, prompts[seq - 1]));
      ops.push_back(make_op(OpKind::read, static_cast<SeqId>(rng.between(1, 3))));
      break;
    case 1:  // a wave: free, then the same prompts again
      for (SeqId seq = 1; seq <= 3; seq++)
        ops.push_back(make_op(OpKind::prefill, seq, 0, prompts[seq - 1]));
      for (SeqId seq = 1; seq <= 3; seq++) ops.push_back(make_op(OpKind::free, seq));
      for (SeqId seq = 3; seq >= 1; seq--)
        ops.push_back(make_op(OpKind::prefill, seq, 0, prompts[seq - 1]));
      ops.push_back(make_op(OpKind::stats, 0));
      break;
    default: {  // truncate inside a cached block, append into it, then hit it again
      const uint32_t cut = static_cast<uint32_t>(rng.between(1, 2ull * page_size));
      ops.push_back(make_op(OpKind::prefill, 1, 0, prompts[0]));
      ops.push_back(make_op(OpKind::truncate, 1, cut));
      ops.push_back(make_op(OpKind::append, 1, static_cast<uint32_t>(rng.between(1, page_size))));
      ops.push_back(make_op(OpKind::prefill, 2, 0, prompts[0]));
      ops.push_back(make_op(OpKind::read, 1));
      break;
    }
  }
  return ops;
}

// With prefix_caching=on, overwrites a few windows of the generated ops with bursts (the op
// count stays the same), so shared prefixes, waves and truncated cached blocks are common.
void weave_prefix_bursts(Rng& rng, Trace& trace) {
  if (!trace.config.prefix_caching || trace.lines.empty()) return;
  const uint64_t bursts = 1 + trace.lines.size() / 40;
  for (uint64_t b = 0; b < bursts; b++) {
    const std::vector<Op> ops = prefix_burst(rng, trace.config);
    const uint64_t start = rng.below(trace.lines.size());
    for (uint64_t i = 0; i < ops.size() && start + i < trace.lines.size(); i++) {
      trace.lines[start + i].op = ops[i];
    }
  }
}

}  // namespace

Config generate_config(Rng& rng) {
  Config config;
  const uint32_t page_sizes[] = {1, 2, 3, 4, 4, 8, 16};
  config.page_size = page_sizes[rng.below(std::size(page_sizes))];
  config.max_pages =
      static_cast<uint32_t>(rng.chance(80) ? rng.between(1, 16) : rng.between(17, 128));
  config.eviction = rng.chance(50) ? Eviction::lru : Eviction::none;
  if (rng.chance(20)) {
    config.kv_heads = static_cast<uint32_t>(rng.between(1, 3));
    config.head_dim = static_cast<uint32_t>(rng.between(1, 4));
    config.layers = static_cast<uint32_t>(rng.between(1, 2));
  }
  // From a copy of the stream, so the draws above and every later one stay as in version 1.
  Rng prefix_rng = rng;
  config.prefix_caching = prefix_rng.chance(50);
  return config;
}

namespace regimes {

uint32_t classic_token_count(Rng& rng, const Config& config) {
  return pick_token_count(rng, config);
}

Op classic_op_over(Rng& rng, const Config& config, const std::function<SeqId()>& pick) {
  Op op;
  op.kind = pick_kind(rng, config);
  switch (op_shape(op.kind)) {
    case OpShape::None:
      break;
    case OpShape::Seq:
      op.seq = pick();
      break;
    case OpShape::SeqCount:
      op.seq = pick();
      op.count = op.kind == OpKind::truncate && rng.chance(60)
                     ? static_cast<uint32_t>(rng.below(3) * config.page_size)
                     : pick_token_count(rng, config);
      break;
    case OpShape::SeqSeq:
      op.seq = pick();
      op.count = rng.chance(70) ? static_cast<SeqId>(rng.between(1, 8)) : pick();
      break;
    case OpShape::Prefill:
      op.seq = pick();
      op.entries = generate_prompt_segments(rng, config);
      break;
    case OpShape::Step: {
      const uint64_t entry_count = rng.between(1, 4);
      for (uint64_t i = 0; i < entry_count; i++) {
        const uint32_t token_count = rng.chance(80) ? 1 : pick_token_count(rng, config);
        op.entries.push_back(StepEntry{pick(), token_count});
      }
      break;
    }
  }
  return op;
}

}  // namespace regimes

std::string_view profile_name(Profile profile) {
  return profile_names_table[static_cast<size_t>(profile)];
}

std::optional<Profile> profile_from_name(std::string_view name) {
  for (size_t i = 0; i < profile_names_table.size(); i++) {
    if (profile_names_table[i] == name) return static_cast<Profile>(i);
  }
  return std::nullopt;
}

std::string profile_names() {
  std::string names;
  for (const std::string_view name : profile_names_table) {
    names += (names.empty() ? "" : "|") + std::string(name);
  }
  return names;
}

Op generate_op(Rng& rng, const Config& config) {
  return regimes::classic_op_over(rng, config, [&rng] { return pick_seq(rng); });
}

Trace generate_trace(uint64_t seed, uint32_t op_count, Profile profile) {
  Rng rng(seed);
  Trace trace;
  std::string command = " generated: kvtrace gen --seed " + std::to_string(seed) + " --ops " +
                        std::to_string(op_count);
  if (profile != Profile::mixed) command += " --profile " + std::string(profile_name(profile));
  trace.header_comments.push_back(command);
  const Profile regime = profile == Profile::mixed ? pick_mixed(rng) : profile;
  if (profile == Profile::mixed) {
    trace.header_comments.push_back(" regime: " + std::string(profile_name(regime)));
  }
  if (regime != Profile::classic) {
    regimes::RegimeGenerator generator(regime, rng);
    trace.config = generator.config();
    for (uint32_t i = 0; i < op_count; i++) {
      trace.lines.push_back(TraceLine{generator.next(), std::nullopt, 0, {}, {}});
    }
    return trace;
  }
  trace.config = generate_config(rng);
  for (uint32_t i = 0; i < op_count; i++) {
    trace.lines.push_back(TraceLine{generate_op(rng, trace.config), std::nullopt, 0, {}, {}});
  }
  Rng burst_rng(seed ^ 0x5EEDu);  // its own stream: the ops above stay as they were
  weave_prefix_bursts(burst_rng, trace);
  return trace;
}

}  // namespace kv
