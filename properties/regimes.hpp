// The scale regimes of the property suite: RapidCheck generators for big batches, wide fan-out,
// 32-bit ids, real data shapes, odd page sizes and memory pressure (one property each).
#pragma once

#include <rapidcheck.h>

#include <string>
#include <vector>

#include "properties/generators.hpp"
#include "trace/gen.hpp"

namespace kv::props {

// Cases of `profile` (any but mixed and classic). Ops name sequences by index into a per-case id
// pool, so they shrink toward the pool's first ids, and the pool itself shrinks toward small ids;
// bursts (a fan-out, a big step, a free and reuse) shrink to fewer members.
rc::Gen<OpSequence> gen_regime_sequence(Profile profile);

// The emulated device at real shapes (Regime.device): kv_heads 8 and head_dim 128 (2,048 or
// 4,096 words per token), page sizes 1..17, pools up to the generated-pool cap (256 tokens of one
// layer). Every write, copy and gather launch has more items than a block has threads; appends of
// up to 256 tokens (more than 65,535 words in one launch), decode steps of up to 16 members,
// forks then appends (copy-on-write launches), reads, and the classic ops in between.
rc::Gen<OpSequence> gen_device_sequence();

// Bounded counters past 256 (Regime.counters): a prompt forked 255..520 times, then an append
// that must evict every holder from a full pool (eviction planning counts more than 256 drops
// of one page), every holder freed, or a step over the crowd; hundreds of sequences created and
// freed (the sequence index through several growths); classic ops in between.
rc::Gen<OpSequence> gen_counters_sequence();

// Prefix caching with a key index that grows and shrinks (Regime.prefix): prefills of up to four
// segments of up to 399 tokens from four prompt streams (dozens to hundreds of blocks keyed),
// frees and reuse (keys dropped when their cached pages are taken), writes into a registered
// block a fork shares (truncate, then append: copy-on-write, or not once eviction took the fork),
// runs of short prompts from three streams (evicting several victims at once, then hitting what
// the cached queue kept), a prompt's first block rewritten and then a longer prefill of it (it
// meets registered keys after an unregistered one: the duplicate-key path),
// page sizes 1..16, pools of 2..399 pages, mostly lru.
rc::Gen<OpSequence> gen_prefix_sequence();

// The properties with a generator of their own (Regime.<name>), and each one's share of
// RC_PARAMS' max_success (per mille): the big regimes run fewer cases so the suite stays fast.
// Each runs on host and hip-emu (the emulated device); `device` is Regime.device's generator.
struct RegimeProperty {
  std::string name;
  rc::Gen<OpSequence> cases;
  int cases_per_mille;
};
std::vector<RegimeProperty> regime_properties();

}  // namespace kv::props
