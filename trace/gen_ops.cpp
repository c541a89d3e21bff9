// Generated ops before they meet a config: resolving counts and pool ids (see gen_ops.hpp).
#include "trace/gen_ops.hpp"

#include <algorithm>

namespace kv {

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

std::vector<Op> GenCase::resolved_ops() const {
  std::vector<Op> resolved;
  resolved.reserve(ops.size());
  for (const GenOp& op : ops) resolved.push_back(resolve(op, config.page_size));
  return resolved;
}

Trace GenCase::trace() const {
  Trace trace;
  trace.config = config;
  for (Op& op : resolved_ops()) {
    trace.lines.push_back(TraceLine{std::move(op), std::nullopt, 0, {}, {}});
  }
  return trace;
}

GenCase make_case(const Config& config, const std::vector<SeqId>& pool,
                  const std::vector<Burst>& bursts) {
  const auto id = [&pool](SeqId index) { return pool.empty() ? index : pool[index % pool.size()]; };
  GenCase generated{config, {}};
  for (const Burst& burst : bursts) {
    for (GenOp op : burst) {
      op.seq = id(op.seq);
      if (op_shape(op.kind) == OpShape::SeqSeq) op.dst = id(op.dst);
      if (op_shape(op.kind) == OpShape::Step) {
        for (StepEntryCount& entry : op.entries) entry.seq = id(entry.seq);
      }
      generated.ops.push_back(std::move(op));
    }
  }
  return generated;
}

}  // namespace kv
