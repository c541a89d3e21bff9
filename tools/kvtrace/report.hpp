// Machine-readable results of replay and campaign: one record per file or trace, as JSON or JUnit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runner/runner.hpp"

namespace kv::cli {

// What happened to one trace file (replay) or generated trace (campaign).
struct TraceRecord {
  std::string name;    // the file, or "seed N"
  std::string status;  // pass, fail or error
  uint64_t op_count = 0;
  uint64_t seed = 0;             // campaign only
  std::optional<Config> config;  // campaign: the generated trace's config (caching, variants)
  double elapsed_ms = 0;
  std::string message;                   // error: FILE:LINE: message
  std::optional<Divergence> divergence;  // fail
  std::string artifact;                  // fail: the written prefix (or minimal trace)
  std::string minimal_artifact;          // campaign: the shrunk trace
};

// One record as a JSON object (one line).
std::string record_json(const TraceRecord& record);

// {"command": ..., "files": [records], "summary": {...}}; nullopt or an error with the reason.
std::optional<std::string> write_replay_json(const std::string& path, const std::string& command,
                                             const std::vector<TraceRecord>& records);

// A JUnit XML report: one test case per file, failures and errors with their reports.
std::optional<std::string> write_junit(const std::string& path,
                                       const std::vector<TraceRecord>& records);

}  // namespace kv::cli
