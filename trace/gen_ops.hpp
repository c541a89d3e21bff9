// Generated ops before they meet a config: token counts relative to the page size, ids as drawn.
#pragma once

#include <cstdint>
#include <vector>

#include "trace/trace.hpp"

namespace kv {

// `pages * page_size + offset`, clamped to u32 and, when pages > 0, to at least 1. A config can
// then change (or shrink) without the ops changing shape.
struct TokenCount {
  uint32_t pages = 0;
  int32_t offset = 0;
  uint32_t resolve(uint32_t page_size) const;
};

// A step entry, or a prefill's prompt segment (seq is then the prompt stream).
struct StepEntryCount {
  SeqId seq = 0;
  TokenCount tokens;
};

// An op as generated. Fields by shape: Seq uses seq, SeqCount seq and tokens, SeqSeq seq and dst
// (fork SRC DST), Step entries, Prefill seq and entries.
struct GenOp {
  OpKind kind = OpKind::stats;
  SeqId seq = 0;
  SeqId dst = 0;
  TokenCount tokens;
  std::vector<StepEntryCount> entries;
};
Op resolve(const GenOp& op, uint32_t page_size);

// A few ops planned together (a fan-out, a free and reuse), naming sequences by pool index.
using Burst = std::vector<GenOp>;

// One generated case: a config and its ops (ids resolved), tick = index.
struct GenCase {
  Config config;
  std::vector<GenOp> ops;
  std::vector<Op> resolved_ops() const;
  Trace trace() const;  // without expectations
};

// The bursts' ops with sequence ids looked up in `pool` (index modulo its size; an empty pool
// keeps the ids as drawn). A prefill's segments name prompt streams and stay.
GenCase make_case(const Config& config, const std::vector<SeqId>& pool,
                  const std::vector<Burst>& bursts);

}  // namespace kv
