// The console report after the mutants ran: the table, the summary lines, the medians.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "record.hpp"

namespace mutants {

// The median of `values` (the mean of the middle two, rounded down, for an even count).
std::optional<int64_t> median_of(std::vector<int64_t> values);

// What the summary prints besides the records.
struct SummaryContext {
  std::string property_note;  // why the property killer was skipped, or empty
  int fuzz_seconds = 60;
  std::string fuzz_corpus = "seeds";
  std::string budget_s;  // as given, for the SKIPPED line
};

// Fills the run's medians from its mutants, prints the table and the summary lines to `out`,
// and returns how many mutants failed (survived, patch or build failed).
int print_summary(RunRecord& run, const SummaryContext& context, std::ostream& out);

}  // namespace mutants
