// The generator core: configs, id pools, ops and bursts drawn from a Source by a regime's row.
// kvtrace gen (trace/gen.cpp), the property suite (properties/generators.cpp) and the fuzzer's
// mutator (fuzz/mutator.cpp) run it on their own sources; biased toward where bugs hide: full
// pools, forks, page boundaries, shared prefixes.
#pragma once

#include <vector>

#include "trace/regimes.hpp"

namespace kv {

// A config of the row's columns, its pool cut to fit_max_pages.
Config draw_config(Source& source, const Regime& regime);
// The row's id pool: a run from 1, from anywhere or from near 2^32-1 (wrapping to 0), dense or a
// stride of a large power of two, or up to 64 ids from anywhere; empty for a row without one.
std::vector<SeqId> draw_pool(Source& source, const Regime& regime);
// The next burst of the row's op mix.
Burst draw_burst(Source& source, const Regime& regime);

// One op, its kind by ops.def's weights and its arguments by the kind's shape: a new op is one row
// in ops.def; a new shape one case here.
GenOp draw_op(Source& source, const Regime& regime);
// A sequence: a pool index with a pool, else 1..5 mostly, sometimes 0 or 2^32-1.
SeqId draw_seq(Source& source, const Regime& regime);
// Counts around page boundaries (a page or two, one less, one more), small counts, and rarely
// the out-of-range 0 or 1048577.
TokenCount draw_token_count(Source& source);
// Prompt segments (kvtrace 2): 1..3 segments of streams 1..5 (shared between prompts, so prefixes
// repeat), lengths around page boundaries; rarely N = 0 or a stream over 2047.
std::vector<StepEntryCount> draw_prompt(Source& source);

}  // namespace kv
