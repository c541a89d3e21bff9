// Replays of one failing trace against fresh backends: a backend that answers the same trace
// differently is a finding of its own (kind `nondeterministic`), never a failure that vanishes.
#pragma once

#include <cstdint>
#include <optional>

#include "shrink/shrink.hpp"

namespace kv {

// The replays a campaign, `replay` and `shrink` make of a failing trace before reporting it.
inline constexpr uint32_t failure_replay_count_default = 5;

struct ReplayTally {
  uint32_t replay_count = 0;       // the first run included
  uint32_t same_count = 0;         // runs that failed with the first run's signature at its tick
  std::optional<RunReport> other;  // the first replay that did not (passed, or failed otherwise)
  bool deterministic() const { return !other.has_value(); }
};

// Replays `trace` (the failing run's prefix) until `replay_count` runs in all, counting those that
// fail as `first` did. Stops early at options.deadline.
ReplayTally tally_replays(const Trace& trace, const RunReport& first, const ShrinkOptions& options,
                          uint32_t replay_count);

// The `nondeterministic` divergence for a tally that found another answer: the first run's op,
// results and state, and in `detail` both answers and how often the first came. Its signature
// (`nondeterministic|grow|replays of the same trace disagree`) is one finding, whichever answers
// the replays happened to give, apart from any deterministic failure of the same op.
Divergence nondeterministic(const Divergence& first, const ReplayTally& tally);

}  // namespace kv
