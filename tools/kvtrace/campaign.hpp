// `kvtrace campaign` internals shared by the coordinating process and its worker processes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "runner/runner.hpp"
#include "trace/capabilities.hpp"
#include "trace/gen.hpp"

namespace kv::cli {

struct CampaignOptions {
  uint64_t seed = 0;
  uint64_t trace_count = 1000;
  uint64_t time_limit_s = 0;  // 0: no limit; else start no trace (nor shrink step) after this long
  uint64_t replays = 5;       // runs of a new failure in all, to tell a nondeterministic backend
  uint64_t op_count = 200;
  uint64_t job_count = 1;  // worker processes
  std::string backend = "all";
  AuditMode audit = AuditMode::every;
  std::string artifacts = "failures";
  std::string json_path;
  Profile profile = Profile::mixed;         // what the generated traces look like
  Capabilities caps = Capabilities::all();  // the backend's profile: traces stay within it
  // --keep-going: run the whole budget; each distinct signature is reported (and shrunk) once.
  bool keep_going = false;
  std::string baseline_path;        // --baseline: signatures reported as known
  std::string write_baseline_path;  // --write-baseline: this run's signatures
  std::set<std::string> baseline;   // read from baseline_path
};

// Reads a baseline file: one signature per line; blank lines, lines starting with `#` and
// comments after two blanks and `#` ignored (a signature holds `#` for its numbers). A message
// (`FILE:LINE: ...`) when it cannot be read or a line is not a signature.
std::optional<std::string> read_baseline(const std::string& path, std::set<std::string>& out);

// The `kvtrace gen` command that regenerates trace `trace_seed` of this campaign.
std::string regenerate_command(const CampaignOptions& options, uint64_t trace_seed);

// The signal (SIGINT or SIGTERM) that asked this process to stop after its current trace; 0: none.
extern std::atomic<int> campaign_stop_signal;
void install_campaign_signal_handlers();

std::string audit_name(AuditMode audit);

// Where a worker starts on its stride: trace index `first_index`. `died_of_signal` is not 0 when
// the worker before it on this stride died of that signal running trace `first_index`: that
// trace then runs again in a fresh child, so its crash is reported as an isolated run reports it.
struct WorkerStart {
  uint64_t first_index = 0;
  int died_of_signal = 0;
};

// A worker of `worker_count` runs trace indexes from.first_index, + worker_count, ... in its own
// process (a persistent worker: no process per trace), and writes one JSON record per finished
// trace (TraceRecord) as a line to `record_fd`. It stops at its first finding (reported on stdout
// in one piece), on a stop signal, or at the time limit.
int run_campaign_worker(const CampaignOptions& options, uint64_t worker_count, WorkerStart from,
                        int record_fd, std::chrono::steady_clock::time_point start);

// Writes all of `text` to `fd`, retrying short writes; false on error.
bool write_all(int fd, const std::string& text);

}  // namespace kv::cli
