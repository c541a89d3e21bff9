// Random kvtrace generation, biased toward the places bugs hide: full pools, forks, page
// boundaries.
#pragma once

#include <cstdint>

#include "trace/rng.hpp"
#include "trace/trace.hpp"

namespace kv {

// Small pools most of the time, both eviction policies, small shapes.
Config generate_config(Rng& rng);

// One op over a small pool of sequence ids, with counts around page boundaries.
Op generate_op(Rng& rng, const Config& config);

// A whole trace without expectations; the same (seed, op_count) always gives the same trace.
Trace generate_trace(uint64_t seed, uint32_t op_count);

}  // namespace kv
