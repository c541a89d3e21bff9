// The JSON report (build/mutants.json) of a run, written with nlohmann-json.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "record.hpp"

namespace mutants {

// The report: the run's fields, then "mutants", each with its "killers" object. Empty strings and
// unset numbers are null.
nlohmann::ordered_json report_json(const RunRecord& run);
// Writes report_json(run) to `path` (creating its folder); false when it could not.
bool write_report(const RunRecord& run, const std::string& path);

}  // namespace mutants
