// The command line of tools/mutants: its options, their defaults, the usage text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "record.hpp"

namespace mutants {

struct Options {
  std::string repo;       // --repo (the launcher passes it); default: this build's source folder
  std::string json_path;  // default: REPO/build/mutants.json
  std::optional<int64_t> budget_s;
  std::vector<Killer> killers{Killer::corpus, Killer::property, Killer::campaign};
  int jobs = 2;
  bool baseline = true;
  bool keep = false;
  bool fresh = false;
  bool list_only = false;
  bool prepare = false;  // --prepare NAME: leave NAME applied and built in the scratch copy
  int fuzz_seconds = 60;
  std::string fuzz_corpus = "seeds";
  std::vector<std::string> names;

  bool killer_on(Killer k) const;
};

// What parse_options decided: run with the options, or exit now with `exit_status`.
struct Parsed {
  Options options;
  std::optional<int> exit_status;
};

// Parses argv (printing the usage, or a usage error to stderr, when that ends the run).
Parsed parse_options(int argc, char** argv);

// Prints "tools/mutants: MESSAGE" and the --help hint to stderr; returns 2.
int usage_error(const std::string& message);

}  // namespace mutants
