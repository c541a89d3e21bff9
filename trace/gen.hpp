// Random kvtrace generation, biased toward the places bugs hide: full pools, forks, page
// boundaries; profiles (regimes) take it to engine scale: big batches, wide fan-out, 32-bit ids,
// real data shapes, odd page sizes, long traces under memory pressure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "trace/rng.hpp"
#include "trace/trace.hpp"

namespace kv {

// What a generated trace looks like (`kvtrace gen/campaign --profile NAME`). `mixed` draws one of
// the others per trace, by weight (classic most often); the others are described in gen.cpp and
// in docs/measurements/reach.md.
enum class Profile : uint8_t { mixed, classic, batch, fanout, ids, shapes, pages, pressure };

std::string_view profile_name(Profile profile);
std::optional<Profile> profile_from_name(std::string_view name);
// "mixed|classic|batch|...", for usage texts.
std::string profile_names();

// Small pools most of the time, both eviction policies, small shapes (the classic regime).
Config generate_config(Rng& rng);

// One op over a small pool of sequence ids, with counts around page boundaries (classic).
Op generate_op(Rng& rng, const Config& config);

// A whole trace without expectations; the same (seed, op_count, profile) always gives the same
// trace, and fewer ops of the same seed give a prefix of it.
Trace generate_trace(uint64_t seed, uint32_t op_count, Profile profile = Profile::mixed);

}  // namespace kv
