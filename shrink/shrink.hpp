// The kvtrace shrinker: delta debugging over ops, then simpler arguments, keeping the same failure.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runner/isolate.hpp"
#include "runner/runner.hpp"

namespace kv {

inline constexpr uint32_t shrink_run_count_max = 50000;

struct ShrinkOptions {
  BackendFactory make_backends;  // fresh backends for each replay (required)
  AuditMode audit = AuditMode::every;
  // Each replay in a child process (runner/isolate.hpp), so a candidate that crashes the backend
  // cannot end the shrink, and a crash can be shrunk keeping its signature.
  bool isolate = false;
  IsolateOptions isolate_options = {};
  // Replays per candidate: a flaky failure (a nondeterministic backend) is kept when any of them
  // fails the same way. 1 for a deterministic one.
  uint32_t tries = 1;
  // Past it no candidate is replayed: the smallest failing trace so far is the result.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct ShrinkResult {
  Trace trace;  // the smallest failing trace found, with the model's results as expectations
  std::string signature;  // the failure it keeps (Divergence::signature)
  uint64_t op_count_before = 0;
  uint64_t op_count_after = 0;
  uint32_t run_count = 0;  // traces replayed while shrinking
  bool cut_short = false;  // the deadline or shrink_run_count_max stopped it before a fixpoint
};

// One replay of `trace` as the shrinker does it (isolated when options.isolate).
RunReport shrink_replay(const Trace& trace, const ShrinkOptions& options);

// nullopt when `trace` does not fail (in any of options.tries replays). Deterministic for a
// deterministic backend and no deadline: the same input gives the same output.
std::optional<ShrinkResult> shrink_trace(const Trace& trace, const ShrinkOptions& options);

}  // namespace kv
