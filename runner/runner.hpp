// The differential runner: one op stream into the model and every backend, stopping at the first
// divergence.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runner/backend.hpp"
#include "runner/failure_kind.hpp"
#include "trace/trace.hpp"

namespace kv {

enum class AuditMode : uint8_t {
  every,  // audit and compare page sharing after every op
  check,  // only at `check` ops and at the end of the trace
  // After every op only what it touched (page sharing of the sequences it named or evicted, the
  // tokens it wrote or moved); the whole state at `check` ops and at the end. fuzz_differential:
  // for its small states the whole-state check's fixed cost made it run after every op.
  touched,
};

// What went wrong first: its kind (runner/failure_kinds.def), where, both sides' answers.
struct Divergence {
  FailureKind kind = FailureKind::result;
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
  // A streamed run that stopped at bad input before any divergence: "LINE: message". The ops
  // before that line ran and agreed (tools/kvtrace/replay.cpp reports it as bad input).
  std::string input_error;
  bool ok() const { return !divergence.has_value(); }
};

// Where a run is: the index of the op being applied or checked, stored before each one, so a
// parent process can tell how far a child got before it died (runner/isolate.hpp).
using RunProgress = std::atomic<uint64_t>;

RunReport run_trace(const Trace& trace, std::vector<std::unique_ptr<Backend>>& backends,
                    AuditMode audit_mode, RunProgress* progress = nullptr);

class DifferentialRun;

// A trace that arrives in pieces (streamed replay): the same checks as run_trace, with ticks
// counted across pieces. Only the pieces in hand are kept, so a divergence's prefix holds the
// config and header comments but no lines: whoever has the file rebuilds them up to `tick`.
// Backends are not asked to plan ahead.
class StreamRun {
 public:
  StreamRun(const Config& config, const std::vector<std::string>& header_comments,
            std::vector<std::unique_ptr<Backend>>& backends, AuditMode audit_mode,
            RunProgress* progress = nullptr);
  ~StreamRun();
  StreamRun(const StreamRun&) = delete;
  StreamRun& operator=(const StreamRun&) = delete;
  // Applies the next ops in order; false once a divergence was found (stop feeding then).
  bool feed(std::span<const TraceLine> lines);
  // The whole-state check after the last op (unless diverged) and the report.
  RunReport finish();
  uint64_t op_count() const;  // ops applied so far

 private:
  std::unique_ptr<DifferentialRun> run_;
};

// The multi-line human report for a divergence (without the prefix trace).
std::string format_divergence(const Divergence& divergence);
// "divergence (KIND) at tick T": how every report of a divergence starts.
std::string divergence_headline(const Divergence& divergence);

}  // namespace kv
