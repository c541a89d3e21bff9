// A run's shared state: the options, the locked scratch copy, its configured builds, the killers'
// setup, and the cleanup that every ending (success, failure, Ctrl-C, SIGTERM) goes through.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "killers.hpp"
#include "options.hpp"
#include "scratch.hpp"

namespace mutants {

class Session {
 public:
  Session(Options options, std::vector<std::string> names);
  // Locks and copies the scratch folder and configures its builds; an exit status on failure.
  std::optional<int> setup();
  // Builds the targets (and the fuzz target when the fuzzer killer is on) into `log`.
  bool build(const fs::path& log) const;
  // What the build message names: "kvtrace kv_properties [fuzz_differential]".
  std::string build_what() const;
  // The run's end: restores the patched files when `restore`, keeps or deletes logs and work.
  void finish(bool restore);
  int64_t elapsed_s() const;
  fs::path patch_of(const std::string& name) const;

  Options options;
  std::vector<std::string> names;
  Scratch scratch;
  KillerSetup killers;
  std::vector<Killer> active;  // the killers that run (property drops out when not built)
  std::string property_note;
  bool opened = false;  // the lock is held: finish() has work to do

 private:
  std::optional<int> configure_builds();
  void find_targets();
  std::vector<std::string> targets_{"kvtrace"};
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace mutants
