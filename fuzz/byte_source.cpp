// The fuzzer-bytes source and the trace a byte string generates (see byte_source.hpp).
#include "fuzz/byte_source.hpp"

#include "trace/gen_core.hpp"

namespace kv::fuzz {

uint64_t ByteSource::in_range(uint64_t lo, uint64_t hi) {
  const uint64_t width = hi - lo;
  const uint32_t byte_count = width < 0x100 ? 1 : width < 0x10000 ? 2 : 4;
  return lo + in_.raw(byte_count) % (width + 1);
}

size_t ByteSource::pick(std::span<const uint32_t> weights) {
  uint64_t total = 0;
  for (const uint32_t weight : weights) total += weight;
  uint64_t roll = in_.byte() * total / 256;  // below total; byte 0 is the first choice
  size_t index = 0;
  while (index + 1 < weights.size() && roll >= weights[index]) roll -= weights[index++];
  return index;
}

Trace generate_from_bytes(std::span<const uint8_t> bytes) {
  ByteSource source(bytes);
  const std::vector<Regime>& table = regime_table();
  const Regime& regime = table[source.in_range(0, table.size() - 1)];
  Config config = draw_config(source, regime);
  bound_pool(config);
  const std::vector<SeqId> pool = draw_pool(source, regime);
  std::vector<Burst> bursts;
  for (size_t ops = 0; !source.done() && ops < fuzz_op_count_max;) {
    bursts.push_back(draw_burst(source, regime));
    ops += bursts.back().size();
  }
  GenCase generated = make_case(config, pool, bursts);
  if (generated.ops.size() > fuzz_op_count_max) generated.ops.resize(fuzz_op_count_max);
  Trace trace = generated.trace();
  for (TraceLine& line : trace.lines) bound_counts(line.op, trace.config);
  return trace;
}

}  // namespace kv::fuzz
