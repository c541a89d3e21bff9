// The scale regimes of the property suite: RapidCheck generators for big batches, wide fan-out,
// 32-bit ids, real data shapes, odd page sizes and memory pressure (one property each).
#pragma once

#include <rapidcheck.h>

#include "properties/generators.hpp"
#include "trace/gen.hpp"

namespace kv::props {

// Cases of `profile` (any but mixed and classic). Ops name sequences by index into a per-case id
// pool, so they shrink toward the pool's first ids, and the pool itself shrinks toward small ids;
// bursts (a fan-out, a big step, a free and reuse) shrink to fewer members.
rc::Gen<OpSequence> gen_regime_sequence(Profile profile);

// The regimes with a property of their own, and each one's share of RC_PARAMS' max_success (per
// mille): the big regimes run fewer cases so the suite stays fast.
struct RegimeProperty {
  Profile profile;
  int cases_per_mille;
};
std::vector<RegimeProperty> regime_properties();

}  // namespace kv::props
