// The killers: corpus replay, the property suite, a campaign and the libFuzzer target, each run
// as a child process with a generous time limit (a hang counts as a kill).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "record.hpp"

namespace mutants {

namespace fs = std::filesystem;

// Where the killers are and what they are given.
struct KillerSetup {
  fs::path src;  // they run here (corpus/ paths are relative to it)
  fs::path kvtrace;
  fs::path property_bin;
  fs::path fuzz_bin;
  fs::path fuzz_seeds;  // corpus/ encoded for the fuzzer
  std::vector<std::string> corpus_files;
  int fuzz_seconds = 60;
  std::string fuzz_corpus = "seeds";
};

struct KillerOutcome {
  int rc = 0;  // 0: passed
  int64_t ms = 0;
  std::optional<int64_t> execs;  // the fuzzer's
};

inline const std::vector<std::string> campaign_args{"--seed", "1",   "--traces",  "2000",
                                                    "--ops",  "200", "--profile", "classic"};
std::vector<std::string> fuzzer_args(int fuzz_seconds);
// The killers' arguments as one line each, for the report.
std::string joined(const std::vector<std::string>& args);

// corpus/**/*.trace under `src`, relative and sorted.
std::vector<std::string> find_corpus(const fs::path& src);
// Encodes the corpus into setup.fuzz_seeds (files the byte format cannot express are left out).
void encode_seeds(const KillerSetup& setup);
// Runs one killer; its artifacts go under `work`, its output to `log`. `baseline`: the unpatched
// code (the fuzzer then runs only its seeds). Throws Interrupted.
KillerOutcome run_killer(const KillerSetup& setup, Killer killer, const fs::path& work,
                         const fs::path& log, bool baseline);
// How a killer with exit status `rc` failed ("passed" for 0).
std::string describe_rc(int rc);

}  // namespace mutants
