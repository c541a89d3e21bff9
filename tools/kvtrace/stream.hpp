// Streamed replay of one trace file: read a piece of ops, run it, repeat, so memory stays bounded
// by the cache's state and one piece, not by the file; with progress lines for long files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "runner/runner.hpp"
#include "trace/capabilities.hpp"
#include "trace/trace.hpp"

namespace kv::cli {

// Ops read and run at a time: up to this many, or this much text (wide steps parse large).
inline constexpr size_t stream_piece_op_count = 4096;
inline constexpr size_t stream_piece_text_bytes = 256 * 1024;

struct StreamOptions {
  std::string backend = "all";
  AuditMode audit = AuditMode::check;
  uint64_t budget_bytes = 0;
  // Progress lines on stdout (at most one per interval; 0: none), naming the file as `name`.
  uint32_t progress_interval_ms = 0;
  std::string name;
};

// Replays FILE (a regular file or anything that reads like one) in a child process. A line
// that does not parse, or an op outside the backend's profile, stops the run there: the report
// then has `input_error` ("LINE: message") and no divergence, unless an op before that line
// diverged (the divergence wins, being earlier). A divergence comes back with its prefix read
// again from FILE, as run_trace would give it.
RunReport replay_streamed(const std::string& file, const Capabilities& caps,
                          const StreamOptions& options);

// The config, header comments and first `op_count` ops of FILE, or "LINE: message".
std::variant<Trace, std::string> read_trace_prefix(const std::string& file, uint64_t op_count,
                                                   uint64_t budget_bytes);

// Copies PATH ("-": standard input; a pipe) to a new temporary file, so it can be streamed and
// read again for a finding's prefix: index 0 its path, index 1 a message with the system's reason.
std::variant<std::string, std::string> spool_input(const std::string& path);

// The progress interval for this process's stdout: 30 s when it is not a terminal; on a terminal
// 2 s, or KVTRACE_PROGRESS_MS (a whole number of ms; 0: none).
uint32_t progress_interval_ms();

}  // namespace kv::cli
