// kvtrace gen: the generator core (trace/gen_core.hpp) on a seed, a regime of trace/regimes.cpp
// per trace (`--profile NAME`; `mixed` draws one by share).
#pragma once

#include <cstdint>

#include "trace/regimes.hpp"
#include "trace/trace.hpp"

namespace kv {

// A whole trace without expectations; the same (seed, op_count, profile) always gives the same
// trace, and fewer ops of the same seed give a prefix of it.
Trace generate_trace(uint64_t seed, uint32_t op_count, Profile profile = Profile::mixed);

}  // namespace kv
