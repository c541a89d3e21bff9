// The records of one tools/mutants run: each killer's result, each mutant's, the run's.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mutants {

// The killers, in the order they run ("killed by" is the first that fails).
enum class Killer { corpus, property, campaign, fuzzer };
inline constexpr std::array<Killer, 4> all_killers{Killer::corpus, Killer::property,
                                                   Killer::campaign, Killer::fuzzer};
inline constexpr std::array<std::string_view, 4> killer_names{"corpus", "property", "campaign",
                                                              "fuzzer"};
inline std::string_view name_of(Killer killer) {
  return killer_names[static_cast<size_t>(killer)];
}

enum class Status { killed, survived, patch_failed, build_failed, skipped };
std::string_view name_of(Status status);

// One killer on one mutant; result is not_run, passed or killed.
struct KillerRun {
  std::string result = "not_run";
  std::optional<int64_t> exit;
  std::optional<int64_t> ms;
  std::optional<int64_t> execs;  // the fuzzer's only
};

struct MutantRecord {
  std::string name;
  Status status = Status::skipped;
  std::string killed_by;  // empty: none
  std::optional<int64_t> time_to_kill_ms;
  std::optional<bool> property_kills;  // unset: the property killer did not run
  std::optional<int64_t> shrunk_ops;
  std::string shrunk_from;         // the killer whose counterexample was shrunk
  std::string header_minimal_ops;  // the digits of the patch's "# minimal_ops: N", or empty
  std::optional<int64_t> build_s;
  std::string note;
  std::array<KillerRun, 4> killers;  // indexed by Killer

  KillerRun& killer(Killer k) { return killers[static_cast<size_t>(k)]; }
  const KillerRun& killer(Killer k) const { return killers[static_cast<size_t>(k)]; }
};

struct RunRecord {
  std::string rc_params;
  std::string campaign_args;
  std::vector<Killer> killers;  // the active ones
  std::optional<int64_t> budget_s;
  int64_t elapsed_s = 0;
  std::optional<int64_t> median_time_to_kill_ms;
  std::optional<int64_t> property_median_time_to_kill_ms;
  std::vector<std::string> skipped;
  bool fuzzer_on = false;
  std::string fuzzer_args;  // with " (seeds corpus)" or " (empty corpus)"
  std::optional<int64_t> fuzzer_median_time_to_find_ms;
  std::vector<MutantRecord> mutants;
};

}  // namespace mutants
