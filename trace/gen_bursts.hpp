// The burst kinds a regime's op mix names (trace/regimes.cpp): each draws a few planned ops.
// Sequences are pool indices (0..index_count-1), resolved by make_case; a new kind is one
// function here and a weight in the rows that want it.
#pragma once

#include "trace/regimes.hpp"

namespace kv::bursts {

// One op, its kind by ops.def's weights (gen_core.hpp's draw_op).
Burst one_op(Source& source, const Regime& regime);
// A decode step over consecutive indices, 1..256 members of 1 token mostly.
Burst big_step(Source& source, const Regime& regime);
// The same with 1..16 members of one token.
Burst short_step(Source& source, const Regime& regime);
// A prompt forked 1..256 times (255 and 256 on their own too: a byte-wide counter wraps; a
// `check` at 256 holders), forks of forks, then a beam step over the forks (copy-on-write of the
// shared last page).
Burst fan_out(Source& source, const Regime& regime);
// free S, then S again at once: alloc, append, fork into it, or a step naming it.
Burst free_and_reuse(Source& source, const Regime& regime);
// An append of a count around page boundaries (memory pressure).
Burst append(Source& source, const Regime& regime);
// An append of 1..256 tokens in one op (a write launch of up to 1,048,576 words).
Burst long_append(Source& source, const Regime& regime);
// fork SRC DST, an append to one of them (copy-on-write of a partly filled page), a read.
Burst fork_then_append(Source& source, const Regime& regime);
// A prompt forked 255..520 times, then an append that must evict every holder, every holder
// freed, or a step over the crowd (bounded counters past 256).
Burst crowd(Source& source, const Regime& regime);
// 60..699 sequences created and freed (forward or in reverse), a few created again: the sequence
// index through several growths.
Burst crowd_of_ids(Source& source, const Regime& regime);
// A prefill of 1..4 segments of up to 399 tokens from streams 0..3 (dozens to hundreds of keys).
Burst long_prefill(Source& source, const Regime& regime);
// A prefill, a fork that grows a page of its own, then the prompt truncated into a registered
// block and appended to (a copy while shared, or none once eviction took the fork).
Burst write_into_shared_block(Source& source, const Regime& regime);
// 2..6 short prompts from three streams, one sequence each: evictions of several victims, hits
// on whatever the cached queue kept.
Burst prompt_churn(Source& source, const Regime& regime);
// A prompt's first block rewritten while its later blocks stay registered, then a longer prefill
// of the stream: registered keys met after an unregistered one (duplicate keys).
Burst rewrite_prompt_head(Source& source, const Regime& regime);
// Three prompts of one family (a shared prefix): prefilled; or prefilled, freed and prefilled
// again in reverse; or one truncated inside a cached block, appended to and hit again.
Burst prompt_family(Source& source, const Regime& regime);

// One block of token ids under two different prefixes and at the start of a third prompt (equal
// block contents must still be different keys: a key is the whole prefix), then reads.
Burst block_under_two_prefixes(Source& source, const Regime& regime);

// kvtrace 3 (docs/semantics.md section 15), one sequence each:
// A prompt admitted, then reserved and committed in 1..4 chunks (a commit sometimes short, or an
// abort between reserve and commit), then 0..3 one-token decodes by reserve and commit.
Burst chunked_prefill(Source& source, const Regime& regime);
// Speculative decoding: 1..4 rounds of reserve 1+K (K drafts, 1..4) and commit of the accepted
// 0..1+K; a read after.
Burst speculative_decode(Source& source, const Regime& regime);
// A prompt computed (and maybe a token), the sequence preempted, another prompt of the family
// prefilled, the first resumed (its lookup, then its tokens recomputed), a read.
Burst preempt_and_resume(Source& source, const Regime& regime);
// A reservation, then what can come before its commit: a fork, an append or truncate (refused),
// an eviction, a preempt, a free; then the commit.
Burst interrupt_in_flight(Source& source, const Regime& regime);
// A sequence computed, swapped out, the device used by another (a prefill or an append), maybe a
// refused read or a second swap_out, then swapped in and read.
Burst swap_cycle(Source& source, const Regime& regime);

// Section 16: a sequence computed, then 1..8 decodes (append, step, reserve and commit, alloc)
// that slide the window, maybe a swap out and in (null entries kept) and a decode, a truncate
// (refused once blocks left) or a fork that grows, maybe
// the sequence freed; then its prompt prefilled again elsewhere (a hit inside the window, or of
// the blocks the queue kept) and read.
Burst window_slide(Source& source, const Regime& regime);
// Section 17: a prompt computed and grown (the window groups queue their out-of-window blocks),
// freed, 1..3 sequences of a few pages each taken and freed (the queue's head loses its keys,
// one group's blocks before another's), then the prompt prefilled again, maybe a block longer:
// a hit that some groups allow and others do not, and a read.
Burst hit_after_churn(Source& source, const Regime& regime);

}  // namespace kv::bursts
