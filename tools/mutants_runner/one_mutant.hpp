// One mutant's turn: restore, check and apply its patch, rebuild, run every killer, shrink the
// counterexample, print its line.
#pragma once

#include <string>

#include "record.hpp"
#include "session.hpp"

namespace mutants {

// Restores the pristine files and applies NAME's patch (printing the FAILURE lines and filling
// `record` when it cannot); true when applied.
bool apply_mutant(const Session& session, const std::string& tag, MutantRecord& record);
// Rebuilds after the patch (printing the FAILURE lines when it does not build); true when built.
bool build_mutant(const Session& session, const std::string& tag, MutantRecord& record);
// Runs one mutant from start to its console line; `record` holds its name and header.
void run_mutant(const Session& session, const std::string& tag, MutantRecord& record);

}  // namespace mutants
