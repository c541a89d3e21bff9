// Isolated runs: a trace runs in a child process, so a backend that aborts, segfaults, trips an
// internal check or hangs becomes a `crash` divergence instead of taking the harness down.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runner/backend.hpp"
#include "runner/runner.hpp"

namespace kv {

struct IsolateOptions {
  uint32_t timeout_ms = 0;  // 0: no limit; else a run still going after this long is a crash
};

// The same report run_trace gives, computed in a forked child. When the child dies, the report
// holds a divergence of kind `crash` at the op it was applying or checking: `detail` says how
// it died ("killed by signal SIGABRT (Aborted)") followed by the tail of what it wrote to
// stderr; the prefix runs up to and including that op. What a surviving child wrote to stderr is
// passed on to this process's stderr. With KVHARNESS_NO_ISOLATE=1 in the environment the run
// happens in this process (for a debugger, or for coverage counters of a long campaign).
RunReport run_trace_isolated(const Trace& trace, const BackendFactory& make_backends,
                             AuditMode audit_mode, const IsolateOptions& options = {});

// A run other than one in-memory trace (a streamed replay reads its file in the child): it makes
// its backends, passes them to NoteBackends (a crash report names them), stores the index of
// each op it applies in the RunProgress and returns the report.
using NoteBackends = std::function<void(const std::vector<std::unique_ptr<Backend>>&)>;
using IsolatedBody = std::function<RunReport(RunProgress&, const NoteBackends&)>;

// `body` in a forked child, as above. The divergence comes back without prefix lines; when the
// child dies, the crash divergence has `tick` = the op it was at but no op text or line number
// (op_text "config (making the backends)" before its first op), and op_count = tick + 1: the
// caller, who has the input, fills in the rest.
RunReport run_isolated(const IsolatedBody& body, const IsolateOptions& options = {});

// Whether running in a child process protects this process from `backend_names_to_run`: not for
// exec: backends, which run in processes of their own, in sessions this process pools (a child
// must not take over a pooled session).
bool isolation_helps(const std::vector<std::string>& backend_names_to_run);

}  // namespace kv
