// The kvtrace shrinker: delta debugging over ops, then simpler arguments, keeping the same failure.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runner/runner.hpp"

namespace kv {

inline constexpr uint32_t shrink_run_count_max = 50000;

using BackendFactory = std::function<std::vector<std::unique_ptr<Backend>>(const Config&)>;

// Backends by name ("all" = every backend of this build), fresh for each replay.
BackendFactory backends_by_name(std::vector<std::string> names);

struct ShrinkOptions {
  BackendFactory make_backends = backends_by_name({"all"});
  AuditMode audit = AuditMode::every;
};

struct ShrinkResult {
  Trace trace;  // the smallest failing trace found, with the model's results as expectations
  std::string signature;  // the failure it keeps (Divergence::signature)
  uint64_t op_count_before = 0;
  uint64_t op_count_after = 0;
  uint32_t run_count = 0;  // traces replayed while shrinking
};

// nullopt when `trace` does not fail. Deterministic: the same input gives the same output.
std::optional<ShrinkResult> shrink_trace(const Trace& trace, const ShrinkOptions& options);

}  // namespace kv
