// The whole run (tools/mutants NAME...) and --prepare NAME, on a set-up session.
#pragma once

#include "session.hpp"

namespace mutants {

// Builds, runs the baseline, every selected mutant, prints the table and writes the JSON report;
// the exit status.
int run_all(Session& session);
// Leaves the one selected mutant applied and built; prints src:, bin: (and fuzz-bin:) lines.
int prepare(Session& session);

}  // namespace mutants
