// RapidCheck generators for configs, ops and op sequences, biased toward where cache bugs hide.
#pragma once

#include <rapidcheck.h>

#include <cstdint>
#include <ostream>
#include <vector>

#include "trace/trace.hpp"

namespace kv::props {

// A token count relative to the page size: `pages * page_size + offset`, clamped to u32 and, when
// pages > 0, to at least 1. The config can then shrink without the ops changing shape.
struct TokenCount {
  uint32_t pages = 0;
  int32_t offset = 0;
  uint32_t resolve(uint32_t page_size) const;
};

struct StepEntryCount {
  SeqId seq = 0;
  TokenCount tokens;
};

// An op as generated; `resolve` turns it into an Op for a page size. Fields by shape: Seq uses
// seq, SeqCount seq and tokens, SeqSeq seq and dst (fork SRC DST), Step entries, Prefill seq and
// entries (StepEntryCount::seq is then the prompt stream).
struct GenOp {
  OpKind kind = OpKind::stats;
  SeqId seq = 0;
  SeqId dst = 0;
  TokenCount tokens;
  std::vector<StepEntryCount> entries;
};
Op resolve(const GenOp& op, uint32_t page_size);

// One generated test case: a config and the ops applied to it, tick = index.
struct OpSequence {
  Config config;
  std::vector<GenOp> ops;
  std::vector<Op> resolved_ops() const;
};

// The case as a kvtrace file without expectations; a RapidCheck counterexample prints this way.
Trace to_trace(const OpSequence& sequence);
void showValue(const OpSequence& sequence, std::ostream& os);

// page_size in {1,2,3,4,8,16}, max_pages 1..16 mostly and larger sometimes, both eviction
// policies, a non-default data-plane shape sometimes. Shrinks toward small, simple configs.
rc::Gen<Config> gen_config();

// Sequence ids 1..5 mostly, sometimes 0 or UINT32_MAX.
rc::Gen<SeqId> gen_seq();

// Token counts around page boundaries (page_size-1, page_size, page_size+1, and the same around
// two pages), small counts, and rarely the out-of-range 0 or 1048577.
rc::Gen<TokenCount> gen_token_count();

// One op; the kind is drawn from the op table (trace/ops.def) by its weight, so a new row is
// generated without touching this file (a new OpShape needs a case in gen_op_of_shape).
rc::Gen<GenOp> gen_op();
// The same over other sequence ids (the regimes pass indices into their id pools).
rc::Gen<GenOp> gen_op_over(const rc::Gen<SeqId>& gen_seq);

// A config and a list of ops; RapidCheck shrinks the list (chunks, then single ops), each op's
// arguments and the config, alternately.
rc::Gen<OpSequence> gen_classic_sequence();

// The default state-machine property's cases: classic ones mostly, and each scale regime
// (properties/regimes.hpp) in proportion.
rc::Gen<OpSequence> gen_op_sequence();

// Every op with its tick and the model's result as its expectation.
Trace with_model_expectations(const Config& config, const std::vector<Op>& ops);

}  // namespace kv::props
