// The differential runner: one op stream into the model and every backend, stopping at the first
// divergence.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runner/backend.hpp"
#include "trace/trace.hpp"

namespace kv {

enum class AuditMode : uint8_t {
  every,  // audit and compare page sharing after every op
  check,  // only at `check` ops and at the end of the trace
};

// What went wrong first. `kind` is one of: expectation, result, stats, info, read, audit, sharing,
// device (a backend's device call failed), prefix (registered keys or the cached queue differ,
// kvtrace 2), crash (runner/isolate.hpp: the backend's process died; `detail` says how).
struct Divergence {
  std::string kind;
  Tick tick = 0;
  uint32_t line_number = 0;
  std::string op_text;
  std::string expected;  // the file's expectation, if any
  std::string model;     // the model's result
  std::string backend_name;
  std::string backend;  // the backend's result
  std::string detail;   // what differs, in words
  std::string state;    // both sides' state for the sequences involved
  Trace prefix;         // the trace up to and including the failing op

  // Stable across shrinking: the kind, the op kind and the two results (or the audit rule).
  std::string signature() const;
};

struct RunReport {
  uint64_t op_count = 0;  // ops applied, including the failing one
  std::optional<Divergence> divergence;
  bool ok() const { return !divergence.has_value(); }
};

// Where a run is: the index of the op being applied or checked, stored before each one, so a
// parent process can tell how far a child got before it died (runner/isolate.hpp).
using RunProgress = std::atomic<uint64_t>;

RunReport run_trace(const Trace& trace, std::vector<std::unique_ptr<Backend>>& backends,
                    AuditMode audit_mode, RunProgress* progress = nullptr);

// Runs against freshly made backends (by name; "all" = every backend this build has).
RunReport run_trace(const Trace& trace, const std::vector<std::string>& backend_names_to_run,
                    AuditMode audit_mode);

// The multi-line human report for a divergence (without the prefix trace).
std::string format_divergence(const Divergence& divergence);

}  // namespace kv
